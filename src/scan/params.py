"""Every parameter of every analysis, declared once: type, allowed values, default, help.

The table :data:`PARAMS` is the single source of truth for

* validation in the public functions (:func:`check`, :func:`check_all`): one message shape,
  naming the keyword and its command-line flag, what is allowed, what was given and the fix;
* the command line: :func:`add_option` builds each argparse option (flag, ``choices``,
  default, help) from the same entry, so a CLI default always equals the Python default;
* batch files: a ``[[analysis]]`` key is the flag without its dashes (``max_temporal_length``);
* the tests, which generate invalid values from each entry (:attr:`Param.invalid`).

(After scikit-learn's declared parameter constraints.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .errors import ScanParameterError
from .models import MODELS

MAX_REPLICATIONS = 1_000_000
"""Most Monte Carlo replications one run may ask for (SaTScan's own limit is 999,999 + 1)."""

MAX_COUNT = 2**31 - 1
"""Largest count the kernels hold (int32 case counts per window and replicate)."""

MAX_SEED = 2**63 - 1


def _fmt(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


def _whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _number(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and math.isfinite(float(value)))


@dataclass(frozen=True)
class Param:
    """One parameter.

    name : the Python keyword.  flag : the command-line option (also the batch key, without its
    dashes).  kind : "choice", "int", "float", "str", "bool", "list" (strings), "floats" or
    "ints" (a tuple of numbers: ``low``/``high`` bound each entry, ``max_items`` their count; on
    the command line comma-separated, "1.5,2,3").  default : the Python
    and CLI default.  choices : for "choice".  low/high : inclusive bounds for numbers, with
    ``low_open`` / ``high_open`` making them exclusive.  optional : None allowed.  fix : how to
    put a bad value right.
    """

    name: str
    kind: str
    default: Any
    help: str
    flag: str = ""
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    fix: str | None = None
    metavar: str | None = None
    max_items: int | None = None
    extra_invalid: tuple = field(default=(), compare=False)

    @property
    def cli(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        """The batch-file key: the flag without its dashes, with underscores."""
        return self.cli.lstrip("-").replace("-", "_")

    def allowed(self) -> str:
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind in ("int", "float"):
            what = "a whole number" if self.kind == "int" else "a finite number"
            parts = []
            if self.low is not None:
                parts.append(f"{'>' if self.low_open else '>='} {_fmt(self.low)}")
            if self.high is not None:
                parts.append(f"{'<' if self.high_open else '<='} {_fmt(self.high)}")
            if self.low is not None and self.high is not None:
                lo = "(" if self.low_open else "["
                hi = ")" if self.high_open else "]"
                text = f"{what} in {lo}{_fmt(self.low)}, {_fmt(self.high)}{hi}"
            else:
                text = what + (" " + " and ".join(parts) if parts else "")
        elif self.kind == "bool":
            text = "True or False"
        elif self.kind == "list":
            text = "a list of strings"
        elif self.kind in ("floats", "ints"):
            what = "numbers" if self.kind == "floats" else "whole numbers"
            text = f"1 to {self.max_items} {what}" if self.max_items else f"a list of {what}"
            if self.low is not None:
                text += f", each {'>' if self.low_open else '>='} {_fmt(self.low)}"
        else:
            text = "a string"
        return text + (" or None" if self.optional else "")

    def check(self, value, *, name: str | None = None):
        """``value`` if allowed (ints as int, floats as float), else ScanParameterError."""
        if value is None and self.optional:
            return None
        ok = False
        if self.kind == "choice":
            ok = isinstance(value, str) and value in self.choices
        elif self.kind == "int":
            ok = _whole(value) and self._in_range(value)
            value = int(value) if ok else value
        elif self.kind == "float":
            ok = _number(value) and self._in_range(float(value))
            value = float(value) if ok else value
        elif self.kind == "bool":
            ok = isinstance(value, (bool, np.bool_))
        elif self.kind == "list":
            ok = (isinstance(value, (list, tuple))
                  and all(isinstance(v, str) for v in value))
            value = tuple(value) if ok else value
        elif self.kind in ("floats", "ints"):
            ok, value = self._check_numbers(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ScanParameterError(name or self.name, self.allowed(), value, self.fix,
                                     flag=self.cli)
        return value

    def _check_numbers(self, value) -> tuple[bool, Any]:
        """A tuple of numbers (a list, tuple or comma-separated string) within the bounds."""
        items = value
        if isinstance(value, str):
            try:
                items = [float(v) for v in value.replace(" ", ",").split(",") if v.strip()]
            except ValueError:
                return False, value
            if self.kind == "ints":
                if not all(v.is_integer() for v in items):
                    return False, value
                items = [int(v) for v in items]
        if not isinstance(items, (list, tuple, np.ndarray)) or len(items) == 0 or \
                (self.max_items is not None and len(items) > self.max_items):
            return False, value
        good = _whole if self.kind == "ints" else _number
        if not all(good(v) and self._in_range(v) for v in items):
            return False, value
        cast = int if self.kind == "ints" else float
        return True, tuple(cast(v) for v in items)

    def _in_range(self, v) -> bool:
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        if self.high is not None and (v >= self.high if self.high_open else v > self.high):
            return False
        return True

    @property
    def invalid(self) -> tuple:
        """Values this parameter must refuse (generated for the tests)."""
        bad: list = ["nonsense"] if self.kind not in ("str", "choice") else [3.5]
        if self.kind in ("floats", "ints"):
            bad += [(), (self.low - 1,) if self.low is not None else ("x",)]
            if self.kind == "ints":
                bad.append((2.5,))
            if self.max_items is not None:
                bad.append((self.default[0],) * (self.max_items + 1))
            return tuple(bad) + ((None,) if not self.optional else ()) + self.extra_invalid
        if self.kind == "choice":
            bad.append("no-such-" + self.name)
        if self.kind in ("int", "float"):
            if self.low is not None:
                bad.append(self.low - 1 if self.kind == "int" else
                           (self.low if self.low_open else self.low - 0.5))
            if self.high is not None:
                bad.append(int(self.high) + 1 if self.kind == "int" else
                           (self.high if self.high_open else self.high * 2 + 1))
            bad += [math.nan, math.inf] if self.kind == "float" else [2.5, True]
        if not self.optional and self.kind != "bool":
            bad.append(None)
        return tuple(bad) + self.extra_invalid


def _p(*args, **kwargs) -> Param:
    return Param(*args, **kwargs)


_MODELS = tuple(MODELS)
_FRACTION_FIX = "SaTScan allows circles of up to 50% of the population at risk (0.5)"

PARAMS: dict[str, Param] = {p.name: p for p in [
    # --- the analysis ---------------------------------------------------------------------------
    _p("model", "choice", "poisson", "probability model", choices=_MODELS),
    _p("direction", "choice", "high", "scan for high rates, low rates or both",
       choices=("high", "low", "both")),
    _p("analysis", "choice", "retrospective",
       "retrospective (every time window), prospective (windows ending at the last interval) or "
       "temporal (purely temporal: the whole area)",
       choices=("retrospective", "prospective", "temporal")),
    _p("max_population_fraction", "float", 0.5,
       "largest share of the population at risk in a window, in (0, 0.5] (SaTScan's 50%%)",
       low=0.0, high=0.5, low_open=True, fix=_FRACTION_FIX, metavar="F"),
    _p("max_radius", "float", None,
       "largest window radius: coordinate units, km for latlong (default: none)",
       low=0.0, low_open=True, optional=True, metavar="R",
       fix="give a positive distance in the coordinates' units (km for latlong)"),
    _p("shape", "choice", "circle",
       "window shape: circle, or ellipse (the circle and SaTScan's ellipses around every "
       "centre; Cartesian coordinates only)", choices=("circle", "ellipse")),
    _p("ellipse_shapes", "floats", (1.5, 2, 3, 4, 5),
       "ellipse shapes (major axis / minor axis, each >= 1), with --shape ellipse", low=1.0,
       max_items=10, metavar="S,S,...",
       fix="SaTScan's default is 1.5,2,3,4,5 (at most 10 shapes)"),
    _p("ellipse_angles", "ints", (4, 6, 9, 12, 15),
       "number of angles of each ellipse shape (pi k / n, k = 0..n-1), with --shape ellipse",
       low=1, high=360, max_items=10, metavar="N,N,...",
       fix="SaTScan's default is 4,6,9,12,15 (one entry per shape)"),
    _p("non_compactness_penalty", "choice", "medium",
       "ellipses: SaTScan's non-compactness penalty (4s/(1+s)^2)^a on the test statistic, "
       "a = 0 (none), 1/2 (medium) or 1 (strong)", choices=("none", "medium", "strong")),
    _p("min_cases", "int", 2, "fewest cases in a high-rate cluster (SaTScan's default 2)",
       low=1, high=MAX_COUNT, metavar="N"),
    _p("max_temporal_fraction", "float", 0.5,
       "longest time window as a share of the study period, in (0, 0.9]",
       low=0.0, high=0.9, low_open=True, metavar="F",
       fix="SaTScan's default is 0.5 (50% of the study period)"),
    _p("max_temporal_length", "float", None,
       "longest time window in aggregation units (overrides the fraction)",
       low=1.0, optional=True, metavar="N"),
    _p("min_temporal_length", "int", 1, "shortest time window in intervals", low=1,
       high=1_000_000, metavar="N"),
    _p("prospective_start", "str", None,
       "prospective: the date of the first analysis of the surveillance (SaTScan's "
       "ProspectiveStartDate), with --adjust-earlier-analyses", optional=True, metavar="DATE",
       fix="give a date such as 2001/11/20"),
    _p("adjust_earlier_analyses", "bool", False,
       "prospective: p-values and recurrence intervals adjusted for every analysis since "
       "--prospective-start (SaTScan's AdjustForEarlierAnalyses; needs --max-radius)"),
    _p("secondary_time", "choice", "satscan",
       "retrospective space-time and purely temporal: secondary clusters as SaTScan >= 10.2 "
       "(satscan: extra cylinders before and after each centre's best one; a cluster sharing "
       "locations with a more likely one is kept when they do not overlap in time), the same "
       "without its two quirks (corrected), or as before 10.2 (ignore: overlap by location only)",
       choices=("satscan", "corrected", "ignore")),
    _p("n_earlier_analyses", "int", 0,
       "prospective: earlier analyses in the surveillance, for the recurrence interval",
       flag="--earlier-analyses", low=0, high=1_000_000, metavar="N"),
    # --- inference ------------------------------------------------------------------------------
    _p("n_replications", "int", 999,
       f"Monte Carlo replications, at most {MAX_REPLICATIONS:,}", flag="--replications",
       low=0, high=MAX_REPLICATIONS, metavar="R",
       fix="SaTScan's default is 999; 9999 resolves p-values below 0.001"),
    _p("rng", "int", None,
       "root seed; the same seed gives the same result on any number of threads or workers "
       "(default: fresh entropy, recorded in result.json)", flag="--seed", low=0, high=MAX_SEED,
       optional=True, metavar="S"),
    _p("backend", "choice", "threads", "where replications run", choices=("threads", "dask")),
    _p("threads", "int", None, "Numba threads per process (default: every core)", low=1,
       high=1024, optional=True, metavar="N"),
    _p("scheduler", "str", None,
       "Dask scheduler address (tcp://host:8786); without it --backend dask starts a "
       "LocalCluster", optional=True, metavar="ADDRESS"),
    _p("n_workers", "int", 2, "LocalCluster worker processes for --backend dask",
       flag="--workers", low=1, high=256, metavar="N"),
    _p("block_size", "int", None, "Dask: replications per task, a multiple of 64", low=64,
       high=MAX_REPLICATIONS, optional=True, metavar="N"),
    _p("dask_mode", "choice", "replications",
       "with --backend dask: 'replications' sends every worker all the windows and splits the "
       "replications; 'centres' has each worker build and keep the windows of its share of "
       "the centres (memory per worker ~1/workers: national data such as England's LSOAs at "
       "a 50%% window), with the same results", choices=("replications", "centres"),
       fix="'centres' needs backend='dask' (CLI --backend dask)"),
    _p("early_termination", "bool", False,
       "SaTScan's sequential Monte Carlo: stop the replications once the threshold number of "
       "replicate statistics exceed the most likely cluster's; its p-value is then "
       "threshold / replications run (default: off, every replication runs)"),
    _p("early_termination_threshold", "int", None,
       "replicate statistics above the observed one that stop the replications (default: "
       "(R + 1) // 20, SaTScan's rule: 50 for 999 replications)", low=1,
       high=MAX_REPLICATIONS, optional=True, metavar="N"),
    # --- secondary clusters and their reporting -------------------------------------------------
    _p("secondary", "choice", "no-overlap",
       "which clusters are reported after the most likely one (SaTScan's criteria for "
       "secondary clusters)", flag="--secondary-criterion",
       choices=("no-overlap", "no-centres-in-others", "no-centres-in-more-likely",
                "no-centres-in-less-likely", "no-pairs-of-centres", "none")),
    _p("drop_p_one", "bool", False,
       "SaTScan's reporting rule: leave out secondary clusters with p = 1 (every replicate "
       "statistic reaches theirs) or a test statistic below 0.001 (default: report every "
       "cluster the criterion keeps)"),
    _p("gini", "bool", False,
       "also report SaTScan's Gini-optimised collection of non-overlapping clusters (purely "
       "spatial scans)"),
    _p("gini_collections", "choice", "optimal",
       "with --gini: the collection with the largest Gini coefficient, or every maximum "
       "size's collection", choices=("optimal", "all")),
    _p("gini_cutoff", "float", 0.05,
       "with --gini: clusters with p below this count in the Gini coefficient", low=0.0,
       high=1.0, low_open=True, metavar="P"),
    _p("iterative", "bool", False,
       "iterative scan: remove the most likely cluster's data and scan again, reporting one "
       "cluster per iteration"),
    _p("iterative_max", "int", 10,
       "with --iterative: most iterations, the first included", low=1, high=32_000,
       metavar="N"),
    _p("iterative_cutoff", "float", 0.05,
       "with --iterative: stop after an iteration whose cluster has p above this", low=0.0,
       high=1.0, metavar="P"),
    # --- input ----------------------------------------------------------------------------------
    _p("coordinates", "choice", "cartesian",
       "cartesian: Euclidean on x, y; latlong: x is longitude, y latitude, great-circle "
       "distances", choices=("cartesian", "latlong")),
    _p("time_aggregation", "choice", None,
       "interval unit (default: the precision of the times; SaTScan files: day)",
       choices=("day", "week", "month", "year"), optional=True),
    _p("aggregation_length", "int", 1, "units per interval", low=1, high=10_000, metavar="N"),
    # --- long-form input and the inquiry (scan inquiry; strata/years also spatial, spacetime) --
    _p("strata", "list", (), "stratum columns of the long-form cases, comma-separated, e.g. "
       "sex,age: expected counts are then standardised for them (default: none)",
       metavar="COLUMNS"),
    _p("years", "float", None, "years the cases cover, with --reference-rates (expected = "
       "population x rate x years); omit when the cases have a year column", low=0.0,
       low_open=True, optional=True, metavar="N"),
    _p("rate_per", "float", 1.0, "person-years the reference rates are per (100000 for rates "
       "per 100,000)", low=0.0, low_open=True, metavar="N"),
    _p("condition", "str", "cases", "what was counted, as a plural noun, for the question "
       "and the verdict (e.g. \"cancer registrations\")", metavar="TEXT"),
    _p("radius", "float", None, "with --near: every area within this distance of the point, "
       "in the coordinates' units (metres for British National Grid)", low=0.0, low_open=True,
       optional=True, metavar="M"),
    _p("alpha", "float", 0.05, "significance level of the verdict", low=0.0, high=0.5,
       low_open=True, metavar="A"),
    _p("suppress_below", "int", None, "small-number disclosure control: in the public outputs "
       "(report, inquiry-public.json) counts from 1 to K-1 are shown as <K", low=2,
       high=1000, optional=True, metavar="K"),
]}


def check(name: str, value, *, label: str | None = None):
    """Validate one value against :data:`PARAMS`; returns it normalised (int, float, tuple)."""
    return PARAMS[name].check(value, name=label)


def check_all(values: Mapping[str, Any], *, choices: Mapping[str, Iterable] | None = None
              ) -> dict[str, Any]:
    """Validate several values at once; ``choices`` narrows a choice parameter for one analysis
    (``{"model": ("poisson", "bernoulli")}``)."""
    out = {}
    for name, value in values.items():
        p = PARAMS[name]
        if choices and name in choices:
            p = Param(**{**p.__dict__, "choices": tuple(choices[name])})
        out[name] = p.check(value)
    return out


def defaults(names: Iterable[str]) -> dict[str, Any]:
    return {n: PARAMS[n].default for n in names}


# --- the command line ------------------------------------------------------------------------

def _cli_type(p: Param) -> Callable[[str], Any]:
    import argparse

    def convert(text: str):
        if p.optional and text.lower() in ("none", ""):
            return None
        if p.kind in ("floats", "ints"):
            try:
                return p.check(text)
            except ScanParameterError as exc:
                raise argparse.ArgumentTypeError(
                    "must be " + str(exc).split(" must be ", 1)[-1]) from None
        try:
            if p.kind == "int":
                value = float(text) if any(ch in text.lower() for ch in ".e") else int(text)
                if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
                    value = int(value)
            else:
                value = float(text)
            if "_" in text:
                raise ValueError
        except ValueError:
            kind = "a whole number" if p.kind == "int" else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        try:
            return p.check(value)
        except ScanParameterError as exc:
            raise argparse.ArgumentTypeError("must be " + str(exc).split(" must be ", 1)[-1]) \
                from None

    convert.__name__ = p.kind
    return convert


def add_option(group, name: str, *, choices: Iterable[str] | None = None, default=None,
               help: str | None = None, **kwargs) -> None:
    """Add the command-line option of parameter ``name`` to an argparse group, from the table
    (``choices`` narrows a choice for one sub-command; ``default`` overrides only where a
    sub-command's Python entry point has a different default)."""
    p = PARAMS[name]
    d = p.default if default is None else default
    text = help or p.help
    if "(default" not in text:
        text += (" (default: " + ",".join(f"{v:g}" for v in d) + ")"
                 if p.kind in ("floats", "ints") else " (default: %(default)s)")
    if p.kind == "choice":
        group.add_argument(p.cli, dest=name, choices=tuple(choices or p.choices), default=d,
                           help=text, **kwargs)
    elif p.kind == "bool":
        group.add_argument(p.cli, dest=name, action="store_true", help=help or p.help, **kwargs)
    elif p.kind == "str":
        group.add_argument(p.cli, dest=name, default=d, metavar=p.metavar, help=text, **kwargs)
    else:
        group.add_argument(p.cli, dest=name, type=_cli_type(p), default=d,
                           metavar=p.metavar, help=text, **kwargs)
