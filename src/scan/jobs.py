"""A job: one analysis from input files to an output folder, described by keywords only.

``scan spatial`` and ``scan spacetime`` build a :class:`Job` from their options, and every
analysis of a batch file builds one from its keys; :func:`run_job` then reads the data, scans,
adds the exposure context and writes the outputs, through the same public functions a Python
user calls.  Every keyword is the Python keyword of the function it goes to (the reader, the
scan, the exposure step or the writer); :data:`KEYS` says which.  A job's :func:`fingerprint`
is its keywords plus the bytes of every file it reads, so a batch resumes by content.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from .errors import ScanInputError, ScanParameterError

log = logging.getLogger(__name__)

Command = Literal["spatial", "spacetime"]

_SCAN_COMMON = ("model", "direction", "max_population_fraction", "max_radius", "min_cases",
                "n_replications", "rng", "backend", "threads", "scheduler", "n_workers",
                "block_size", "secondary", "drop_p_one", "iterative", "iterative_max",
                "iterative_cutoff", "early_termination", "early_termination_threshold",
                "shape", "ellipse_shapes", "ellipse_angles", "non_compactness_penalty")
_LONG_FILES = ("locations", "reference_rates")
_LONG_READ = ("strata", "years", "rate_per")
"""The long form (:func:`scan.io.long.read_long_csv`): DATA is id,<strata>,cases,population
[,year] and the coordinates come from ``locations``."""
KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "spatial": {
        "files": ("data", "cas", "geo", "pop", "ctl", "prm") + _LONG_FILES,
        "read": ("coordinates", "crs", "project_to", "start", "end") + _LONG_READ,
        "scan": _SCAN_COMMON + ("gini", "gini_collections", "gini_cutoff", "dask_mode"),
    },
    "spacetime": {
        "files": ("data", "cas", "geo", "pop", "prm") + _LONG_FILES,
        "read": ("coordinates", "crs", "start", "end", "time_aggregation",
                 "aggregation_length") + _LONG_READ,
        "scan": _SCAN_COMMON + ("analysis", "max_temporal_fraction", "max_temporal_length",
                                "min_temporal_length", "n_earlier_analyses",
                                "prospective_start", "adjust_earlier_analyses",
                                "secondary_time"),
    },
}
EXPOSURE_KEYS = ("exposure", "boundaries", "exposure_year", "adjust_for")
OUTPUT_KEYS = ("formats",)
FILE_LISTS = ("exposure",)


@dataclass(frozen=True)
class Job:
    """One analysis: ``command`` and its keyword options (see :data:`KEYS`)."""

    command: Command
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.command not in KEYS:
            raise ScanParameterError("command", "one of " + ", ".join(map(repr, KEYS)),
                                     self.command)
        allowed = set(self.allowed())
        unknown = sorted(set(self.options) - allowed)
        if unknown:
            raise ScanParameterError(
                "options", f"keywords of `scan {self.command}`", ", ".join(unknown),
                "allowed: " + ", ".join(sorted(allowed)))

    def allowed(self) -> tuple[str, ...]:
        k = KEYS[self.command]
        return k["files"] + k["read"] + k["scan"] + EXPOSURE_KEYS + OUTPUT_KEYS

    def part(self, group: str) -> dict:
        names = {"exposure": EXPOSURE_KEYS, "output": OUTPUT_KEYS}.get(group) \
            or KEYS[self.command][group]
        return {k: self.options[k] for k in names if k in self.options}

    def input_files(self) -> list[tuple[str, Path]]:
        """(option, path) of every file the job reads, files named inside a .prm included
        (their option reads ``prm:KEY``)."""
        out = [(k, Path(v)) for k, v in self.part("files").items() if v is not None]
        for spec in self.options.get("exposure") or ():
            out.append(("exposure", exposure_path(spec)))
        if self.options.get("boundaries"):
            out.append(("boundaries", Path(self.options["boundaries"])))
        prm = self.options.get("prm")
        if prm and Path(prm).is_file():
            from .io.prm import prm_input_files

            out += [(f"prm:{key}", p) for key, p, _, _ in prm_input_files(prm)]
        return out


def exposure_path(spec: str) -> Path:
    """The file of an ``--exposure`` value ``FILE`` or ``POLLUTANT=FILE``."""
    spec = str(spec)
    if "=" in spec and not Path(spec).exists():
        return Path(spec.split("=", 1)[1])
    return Path(spec)


WHAT = {"data": "CSV file", "cas": "case file", "geo": "coordinates file",
        "pop": "population file", "ctl": "control file", "prm": "parameter file",
        "exposure": "exposure file", "boundaries": "boundaries file",
        "locations": "locations file", "reference_rates": "reference-rates file"}
"""How each input file is named in messages."""


def check_inputs(job: Job) -> None:
    """Every input file exists, is a file and is readable: checked before any work, with the
    readers' own wording (:mod:`scan.io.text`); a file a .prm names is reported against the
    .prm's line."""
    from .io.text import check_readable, unreadable_reason

    for option, path in job.input_files():
        if not option.startswith("prm:"):
            check_readable(path, what=WHAT.get(option, "input file"))
    prm = job.options.get("prm")
    if prm:
        from .io.prm import prm_input_files

        for key, path, line, name in prm_input_files(prm):
            reason = unreadable_reason(path)
            if reason is not None:
                raise ScanInputError(f"the file it names, {name!r}, {reason}; paths are "
                                     "relative to the .prm's folder", file=str(prm), line=line,
                                     field=key)
    if job.options.get("exposure"):
        from .exposure.join import check_exposure_file

        for spec in job.options["exposure"]:
            check_exposure_file(spec)       # headers and metadata, with the readers' messages


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(job: Job, *, relative_to: Path | None = None) -> dict:
    """What decides a job's result: its command, its options and the SHA-256 of every input
    file's bytes (paths inside ``relative_to`` written relative to it)."""
    def norm(value):
        if isinstance(value, (list, tuple)):
            return [norm(v) for v in value]
        if isinstance(value, str) and relative_to is not None:
            try:
                return Path(value).resolve().relative_to(relative_to.resolve()).as_posix()
            except ValueError:
                return value
        return value

    options = {k: norm(v) for k, v in sorted(job.options.items())}
    files = {f"{option}:{norm(str(path))}": _sha256(path) for option, path in job.input_files()}
    text = json.dumps({"command": job.command, "options": options, "inputs": files},
                      sort_keys=True, default=str)
    return {"digest": hashlib.sha256(text.encode()).hexdigest(), "command": job.command,
            "options": options, "inputs": files}


# --- running ------------------------------------------------------------------------------------

def read_data(job: Job):
    """(data, scan keywords from the files) for the job: a StudyArea for ``spatial``, a
    SpaceTimeData for ``spacetime``."""
    files, read = job.part("files"), job.part("read")
    model = job.options.get("model", "poisson")
    if files.get("locations"):
        return _read_long(job, files, read, model), {}
    strata = read.get("strata")            # space-time CSV: covariate columns
    _no_long_options(files, read, strata_allowed=job.command == "spacetime")
    read = _without(read, *_LONG_READ)
    if job.command == "spatial":
        if files.get("prm"):
            from .io.prm import satscan_prm_spatial

            return _read_prm(files, satscan_prm_spatial)
        if files.get("cas"):
            from .io.satscan import read_satscan

            _no_csv_with_satscan(files, "--pop or --ctl")
            return read_satscan(files["cas"], geo=files["geo"], pop=files.get("pop"),
                                ctl=files.get("ctl"), model=model,
                                **_without(read, "project_to")), {}
        if not files.get("data"):
            raise ScanParameterError("DATA", "a CSV file with columns id,x,y,cases,population",
                                     None, "or pass SaTScan files with --cas and --geo")
        from .io.csv import read_csv

        return read_csv(files["data"], model=model, **_without(read, "start", "end")), {}
    if strata and (files.get("cas") or files.get("prm")):
        raise ScanParameterError("--strata", "given with a CSV only", ",".join(strata),
                                 "SaTScan case files carry their covariates as extra columns "
                                 "after the date")
    if files.get("prm"):
        from .io.prm import satscan_prm_spacetime

        return _read_prm(files, satscan_prm_spacetime)
    if files.get("cas"):
        _no_csv_with_satscan(files, "--pop")
        read["time_aggregation"] = read.get("time_aggregation") or "day"
        from .io.satscan import read_satscan_spacetime

        return read_satscan_spacetime(files["cas"], geo=files["geo"], pop=files.get("pop"),
                                      **read), {}
    if not files.get("data"):
        raise ScanParameterError("DATA", "a CSV file with columns id,x,y,time,cases"
                                 "[,population]", None,
                                 "or pass SaTScan files with --cas and --geo, or --prm")
    from .io.spacetime_csv import read_spacetime_csv

    return read_spacetime_csv(files["data"], strata=tuple(strata or ()), **read), {}


def _no_long_options(files: dict, read: dict, *, strata_allowed: bool = False) -> None:
    given = [k for k in ("reference_rates",) if files.get(k)]
    given += [k for k in ("strata", "years") if read.get(k)
              and not (k == "strata" and strata_allowed)]
    if read.get("rate_per") not in (None, 1, 1.0):
        given.append("rate_per")
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ScanParameterError("locations", "a locations CSV (id,x,y[,name]) when " + flags
                                 + " is given", None, "these options read the long form: "
                                 "DATA.csv id,<strata>,cases,population and --locations FILE",
                                 flag="--locations")



def _read_prm(files, reader):
    """Data and keywords from a SaTScan .prm (``reader``: the spatial or space-time one); the
    replications come from --replications, not from the file's MonteCarloReps."""
    if files.get("data") or files.get("cas"):
        raise ScanParameterError("--prm", "given alone (the files come from it)",
                                 files["prm"], "drop DATA.csv/--cas, or drop --prm")
    data, kwargs = reader(files["prm"])
    kwargs.pop("n_replications", None)
    return data, kwargs

def _read_long(job: Job, files: dict, read: dict, model: str):
    """The long form: a StudyArea (spatial), or yearly SpaceTimeData (spacetime)."""
    from .io.long import read_long_csv

    if not files.get("data"):
        raise ScanParameterError("DATA", "the long-form cases CSV id,<strata>,cases,population"
                                 "[,year] with --locations", None)
    others = [k for k in ("cas", "geo", "pop", "ctl", "prm") if files.get(k)]
    if others:
        raise ScanParameterError("--locations", "given without SaTScan files", files["locations"],
                                 "pass either the long form (DATA.csv --locations) or --"
                                 + others[0])
    timing = [k for k in ("start", "end") if read.get(k)]
    if timing:
        raise ScanParameterError(timing[0], "omitted with --locations", read[timing[0]],
                                 "the long form's period is the years of its rows")
    kwargs = dict(locations=files["locations"], strata=tuple(read.get("strata") or ()),
                  reference_rates=files.get("reference_rates"), years=read.get("years"),
                  rate_per=read.get("rate_per") if read.get("rate_per") is not None else 1.0,
                  coordinates=read.get("coordinates", "cartesian"))
    if "crs" in read:
        kwargs["crs"] = read["crs"]
    if job.command == "spatial":
        return read_long_csv(files["data"], model=model, project_to=read.get("project_to"),
                             **kwargs)
    if model == "permutation" and files.get("reference_rates"):
        raise ScanParameterError("--reference-rates", "used with --model poisson",
                                 files["reference_rates"], "the space-time permutation model "
                                 "uses the cases only")
    if read.get("time_aggregation") not in (None, "year") or read.get("aggregation_length",
                                                                          1) != 1:
        raise ScanParameterError("time_aggregation", "'year' (the long form has a year "
                                 "column)", read.get("time_aggregation"),
                                 flag="--time-aggregation")
    return spacetime_from_long(read_long_csv(files["data"], **kwargs))


def spacetime_from_long(area):
    """Yearly :class:`~scan.spacetime.SpaceTimeData` from a long-form StudyArea whose cases carry
    a year (:attr:`scan.data.StudyArea.yearly`): one interval per calendar year from the first
    to the last year of the rows (a year without rows counts zero), expected counts by year on
    the same stratum rates (internal, pooled over the years, or the reference rates), scaled to
    sum to the total cases as every scan does."""
    import numpy as np

    from .data import SpaceTimeData
    from .timeline import time_intervals

    y = area.yearly
    if y is None:
        raise ScanInputError("scan spacetime needs a year column in the long-form cases "
                             "(id,<strata>,year,cases,population)", file=area.source,
                             field="year")
    first, last = int(y.years.min()), int(y.years.max())
    starts, ends = time_intervals(f"{first}-01-01", f"{last}-12-31", "year", 1)
    col = (y.years - first).astype(np.int64)
    n, T = area.n_locations, last - first + 1
    cases = np.zeros((n, T), dtype=np.int64)
    expected = np.zeros((n, T))
    person_years = np.zeros((n, T))
    cases[:, col] = y.cases
    expected[:, col] = y.expected
    person_years[:, col] = y.population
    expected *= area.total_cases / expected.sum()
    for arr in (cases, expected):
        arr.setflags(write=False)
    return SpaceTimeData(ids=area.ids, coords=area.coords, cases=cases, expected=expected,
                         population=person_years.sum(axis=1) / T, interval_starts=starts,
                         interval_ends=ends, time_unit="year", aggregation_length=1,
                         coordinates=area.coordinates, crs=area.crs, source=area.source,
                         extra={"strata_names": tuple(area.strata_names)})


def _without(d: dict, *keys) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


def _no_csv_with_satscan(files: dict, others: str) -> None:
    if files.get("data"):
        raise ScanParameterError("DATA", "omitted when SaTScan files are given", files["data"],
                                 f"pass either DATA.csv or --cas/--geo (with {others})")
    if not files.get("geo"):
        raise ScanParameterError("--geo", "a SaTScan coordinates file", None,
                                 "pass --geo FILE.geo with --cas")


def run_job(job: Job, out, *, progress: Callable[[int, int], None] | None = None,
            extra_files: dict[str, str] | None = None, check: bool = True,
            notice: Callable[[str], None] | None = None) -> Any:
    """Read, scan, add exposure context and write ``out``; returns the ScanResult.

    Everything that can be checked before the scan is checked first: the output folder, every
    input file, the options.  ``notice(line)``, when given, is told before a pause worth
    explaining: the kernels compiling on the first run (:mod:`scan.kernel_cache`)."""
    from .io.atomic import check_out
    from .io.writers import check_formats, write_result

    if check:
        check_out(out)
        check_inputs(job)
    formats = check_formats(job.options.get("formats"))
    exposure = job.part("exposure")
    data, file_kwargs = read_data(job)
    scan_kwargs = {**job.part("scan"), **file_kwargs}   # a .prm's analysis settings win
    if notice is not None:
        from .kernel_cache import NOTICE, cold

        if cold(job.command):
            notice(NOTICE)
    polygons = outline = None
    if exposure.get("boundaries"):     # read (and matched to every location) before the scan
        from .io.boundaries import boundaries_for

        bounds = boundaries_for(data, exposure["boundaries"])
        polygons, outline = bounds.polygons, bounds.outline()
    if job.command == "spatial":
        from .spatial import circular_scan

        result = circular_scan(data, progress=progress, **scan_kwargs)
    else:
        from .spacetime import spacetime_scan

        result = spacetime_scan(data, progress=progress, **scan_kwargs)
    map_grid, pollutant = None, "NO2"
    if exposure.get("exposure") or exposure.get("adjust_for"):
        from .exposure.adjust import exposure_context

        result, map_grid, pollutant = exposure_context(
            result, tuple(exposure.get("exposure") or ()),
            adjust_for=tuple(exposure.get("adjust_for") or ()),
            boundaries=exposure.get("boundaries"), exposure_year=exposure.get("exposure_year"))
    result = result.with_section(sources_section(job, data))
    write_result(result, out, formats=formats, map_grid=map_grid, pollutant=pollutant,
                 extra_files=extra_files, polygons=polygons, outline=outline)
    return result


def sources_section(job: Job, data):
    """The inputs of a run, for summary.txt and result.json: every file read (with its role),
    the strata, reference rates and years, the exposure year, the boundaries."""
    from .result import Section

    roles = {"data": "cases" if job.options.get("locations") else "data",
             "cas": "SaTScan cases", "geo": "SaTScan coordinates", "pop": "SaTScan population",
             "ctl": "SaTScan controls", "prm": "SaTScan parameters",
             "locations": "locations" + (" and names" if getattr(data, "names", None)
                                         is not None else ""),
             "reference_rates": "reference rates", "exposure": "exposure",
             "boundaries": "boundaries (polygons)"}
    lines, files = [], []
    for option, path in job.input_files():
        role = roles.get(option, option)
        if option == "exposure" and job.options.get("exposure_year"):
            role += f", LAEI {job.options['exposure_year']}"
        lines.append(f"{role}: {path}")
        files.append({"role": option, "path": str(path)})
    o = job.options
    if o.get("strata"):
        lines.append("strata: " + ", ".join(o["strata"]))
    if o.get("reference_rates"):
        per = o.get("rate_per") or 1.0
        lines.append(f"reference rates per {per:,.0f} person-year(s)"
                     + (f" x {o['years']:g} years" if o.get("years") else
                        " x each row's year of person-time"))
    return Section(key="sources", title="Inputs:", lines=tuple(lines),
                   data={"files": files, "strata": list(o.get("strata") or ()),
                         "years": o.get("years"), "rate_per": o.get("rate_per"),
                         "exposure_year": o.get("exposure_year")})
