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
                "block_size", "secondary")
KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "spatial": {
        "files": ("data", "cas", "geo", "pop", "ctl"),
        "read": ("coordinates", "crs", "project_to", "start", "end"),
        "scan": _SCAN_COMMON + ("dask_mode",),
    },
    "spacetime": {
        "files": ("data", "cas", "geo", "pop", "prm"),
        "read": ("coordinates", "crs", "start", "end", "time_aggregation",
                 "aggregation_length"),
        "scan": _SCAN_COMMON + ("analysis", "max_temporal_fraction", "max_temporal_length",
                                "min_temporal_length", "n_earlier_analyses"),
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
    if job.command == "spatial":
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
    if files.get("prm"):
        from .io.prm import satscan_prm_spacetime

        if files.get("data") or files.get("cas"):
            raise ScanParameterError("--prm", "given alone (the files come from it)",
                                     files["prm"], "drop DATA.csv/--cas, or drop --prm")
        data, kwargs = satscan_prm_spacetime(files["prm"])
        kwargs.pop("n_replications", None)
        return data, kwargs
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

    return read_spacetime_csv(files["data"], **read), {}


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
    write_result(result, out, formats=formats, map_grid=map_grid, pollutant=pollutant,
                 extra_files=extra_files)
    return result
