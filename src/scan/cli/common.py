"""What every sub-command shares: options from the parameter table, progress, errors."""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from contextlib import contextmanager

from ..errors import ScanInputError, ScanParameterError, ScanRunError
from ..params import add_option

log = logging.getLogger("scan")


class ScanArgumentParser(argparse.ArgumentParser):
    """argparse with scan's one-line error shape (exit code 2)."""

    def error(self, message):
        self.exit(2, f"scan: error: {message}\n  (see '{self.prog} --help')\n")


def add_options(group, names, **narrow) -> None:
    """Options from :data:`scan.params.PARAMS`; ``narrow`` maps a name to its choices here."""
    for name in names:
        add_option(group, name, choices=narrow.get(name))


def add_inference_options(p) -> None:
    g = p.add_argument_group("inference")
    add_options(g, ("n_replications", "rng", "min_cases", "threads", "backend", "scheduler",
                    "n_workers"))


def add_window_options(p) -> None:
    g = p.add_argument_group("windows")
    add_options(g, ("max_population_fraction", "max_radius"))


def add_exposure_options(p) -> None:
    g = p.add_argument_group("exposure")
    g.add_argument("--exposure", action="append", default=None, metavar="[POLLUTANT=]FILE",
                   help="pollutant grid (LAEI CSV, ESRI .asc, NetCDF written by scan) or "
                        "per-location CSV id,<pollutant>,...; repeatable")
    g.add_argument("--boundaries", default=None, metavar="FILE",
                   help="polygons of the locations (CSV id,geometry as WKT in EPSG:27700, or "
                        "GeoJSON in WGS84 with an 'id' property): grid exposure becomes the mean "
                        "over each polygon (default: the value at each point)")
    g.add_argument("--exposure-year", type=int, default=None, metavar="YEAR",
                   help="LAEI year to take from a per-area summary table holding several years")
    g.add_argument("--adjust-for", action="append", default=None, metavar="POLLUTANT",
                   help="also run the scan with expected counts adjusted for this pollutant "
                        "(log-linear Poisson regression) and report both")


def add_output_options(p) -> None:
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: a new or empty folder, or one scan wrote before (it is "
                        "then replaced atomically); scan never deletes files it did not write")
    p.add_argument("--formats", default=None, metavar="LIST",
                   help="comma-separated outputs besides result.json: csv, geojson, summary, "
                        "map (default: all of them)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no summary (a one-line notice on stderr still says "
                        "when kernels are compiling, on the first run only)")


def crs_option(value: str):
    """``--crs none`` means plain Cartesian numbers (no CRS)."""
    return "none" if value.lower() in ("none", "") else value


def job_options(args, keys) -> dict:
    """The keyword options of a job from parsed arguments: every key the parser defines, with
    ``--crs`` left to the reader's default when not given."""
    options = {}
    for key in keys:
        if not hasattr(args, key):
            continue
        value = getattr(args, key)
        if key == "crs":
            if value is None:
                continue
            value = None if value == "none" else value
        if key in ("exposure", "adjust_for") and value is None:
            continue
        options[key] = value
    return options


def say(message: str, bar=None) -> None:
    """One line on stderr, above the progress bar when one is shown."""
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)


class Progress:
    """What a sub-command hands to :func:`scan.jobs.run_job`: ``update`` (the progress callback,
    None without a bar) and ``notice`` (one line on stderr, shown even with --quiet: it explains
    a pause, such as kernels compiling on the first run)."""

    def __init__(self, bar=None):
        self.bar = bar
        self.update = None
        if bar is not None:
            def update(done, _total):
                bar.update(done - bar.n)

            self.update = update

    def notice(self, message: str) -> None:
        say(message, self.bar)


@contextmanager
def progress_bar(total: int, enabled: bool, desc: str = "Monte Carlo"):
    """A :class:`Progress` with a tqdm bar on stderr, or without one (quiet, or no
    replications).  The terminal bar (``tqdm.std``): the command line runs in a terminal or a
    subprocess, never in a notebook kernel, and skipping ``tqdm.auto`` saves its imports."""
    if not enabled or total <= 0:
        yield Progress()
        return
    from tqdm.std import tqdm

    with tqdm(total=total, desc=desc, unit="rep", file=sys.stderr, leave=False) as bar:
        yield Progress(bar)


def compile_notice(kinds, progress: Progress | None = None) -> None:
    """Say on stderr, in one line, that kernels are about to compile (Numba's cache is cold for
    these kinds of analysis); nothing when they are cached."""
    from ..kernel_cache import NOTICE, cold

    if cold(kinds):
        (progress.notice if progress is not None else say)(NOTICE)


def run_command(args) -> int:
    """Run a parsed sub-command; every failure becomes one line on stderr and an exit code."""
    try:
        return int(args.run(args) or 0)
    except (ScanInputError, ScanParameterError) as exc:
        print(f"scan: error: {exc}", file=sys.stderr)
        return 2
    except ScanRunError as exc:
        print(f"scan: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scan: interrupted; no output was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("scan: error: out of memory; use a smaller window (--max-population-fraction, "
              "--max-radius) or fewer replications per block", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"scan: error: could not read or write{where}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback with -v
        log.debug("internal error", exc_info=True)
        if log.isEnabledFor(logging.DEBUG) or getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"scan: internal error: {type(exc).__name__}: {exc} (please report it; run "
              "with -v to see where it happened)", file=sys.stderr)
        return 1


def finish(result, args) -> None:
    """The summary on stdout unless --quiet."""
    if not args.quiet:
        print(result.summary())
        print(f"\noutputs in {args.out}/")
