"""``scan batch CONFIG.toml --out DIR``: a set of analyses, run or resumed by content.

The config names analyses two ways (paths relative to the config file; ``builtin:borough``,
``builtin:borough_weekly`` and ``builtin:laei`` name the embedded synthetic borough's data):

```toml
[batch]
seed = 2026            # root seed; each analysis gets its own seed derived from it and its name
replications = 999
backend = "threads"    # one analysis at a time on every core; "dask": analyses spread as tasks
                       # over a cluster (scheduler = "tcp://...", or a LocalCluster of workers = 2)
alpha = 0.05           # clusters with p <= alpha go into summary.csv

[[analysis]]           # one analysis: every other key is a `scan spatial|spacetime` option
name = "cancer"        # letters, digits, '.', '_' and '-': the folder analyses/cancer/
command = "spatial"
data = "builtin:borough"          # or a CSV path
outcome = "cancer"                # builtin data only
max_population_fraction = 0.5
exposure = ["builtin:laei"]       # the synthetic LAEI-like grids

[[surveillance]]       # every outcome column x every period ending in the last N weeks
name = "weekly"
command = "spacetime"
data = "builtin:borough_weekly"   # or a CSV id,x,y,time,population,<outcome>,...
outcomes = "all"                  # or a list of columns
last_weeks = 4
analysis = "prospective"
time_aggregation = "week"
```

Keys are the command-line options without their dashes (``replications``, ``seed``,
``max_temporal_length``...); each analysis becomes a :class:`scan.jobs.Job` and runs through the
same Python functions as ``scan spatial|spacetime``.

Safety (the README's "Your files are safe"): ``DIR`` must be new, empty or a batch folder scan
wrote (marked by :data:`BATCH_MARKER`); names from the config or the data are checked or made
safe (:func:`safe_name`) and every path is proven to stay inside ``DIR``; a lock
(:data:`LOCK`) refuses a second concurrent run on the same ``DIR``.

Resume by content: each analysis writes ``DIR/analyses/<name>/`` atomically with
``analysis.json``, its fingerprint (options plus the SHA-256 of every input file).  An
analysis is finished when its folder holds a result whose fingerprint equals the one computed
now, so a run killed at any point (even ``kill -9``) and started again does only what is
missing or what changed, inputs included.  ``DIR/run-log.jsonl`` records each analysis's
parameters, seed, timings and outcome; ``DIR/summary.csv`` lists every cluster with
p <= alpha across analyses, rebuilt at the end of every run.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ScanInputError, ScanParameterError
from .io.atomic import atomic_file
from .jobs import Job, fingerprint

BATCH_KEYS = {"seed", "replications", "backend", "scheduler", "workers", "alpha", "threads"}
RESERVED = {"name", "command", "data", "outcome", "outcomes", "last_weeks"}
COMMANDS = ("spatial", "spacetime")
BATCH_MARKER = ".scan-batch"
"""Marks a folder as a scan batch's own."""
LOCK = ".scan-batch.lock"
"""Held (flock) by the run using the folder."""
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                   *(f"lpt{i}" for i in range(10)), "inputs", "analyses"}

Report = Callable[[str], None]


@dataclass(frozen=True)
class Analysis:
    """One analysis to run: its name, its job, its seed and the config entry it came from."""

    name: str
    job: Job
    seed: int
    spec: dict = field(compare=False)

    @property
    def command(self) -> str:
        return self.job.command


# --- names ----------------------------------------------------------------------------------------

def check_name(name, *, where: str) -> str:
    """A name the user chose (an analysis name): a plain folder name, or an error."""
    if not isinstance(name, str) or not _SAFE.match(name) or name.lower() in _RESERVED_NAMES \
            or name.lower().split(".")[0] in _RESERVED_NAMES:
        raise ScanInputError(
            f"name {name!r} is not a plain folder name: use 1-100 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit (not a reserved name such as 'con', "
            "'inputs')", file=where, field="name")
    return name


def safe_name(text: str) -> str:
    """A folder-safe name made from data (a column header): disallowed characters become '_'
    and, when anything changed, a short hash keeps distinct inputs distinct."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", str(text)).strip("._-")[:60] or "x"
    if clean.lower() in _RESERVED_NAMES:
        clean = "_" + clean
    if clean != text:
        clean += "-" + hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return clean


def inside(folder: Path, *parts: str) -> Path:
    """``folder / parts``, proven to stay inside ``folder``."""
    path = folder.joinpath(*parts)
    if not path.resolve().is_relative_to(folder.resolve()) or path.resolve() == folder.resolve():
        raise ScanParameterError("name", "a name that stays inside the output folder",
                                 "/".join(parts))
    return path


# --- configuration ------------------------------------------------------------------------------

def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def load_config(path) -> dict:
    tomllib = _toml()
    path = Path(path)
    if not path.is_file():
        raise ScanInputError("config file not found" if not path.exists()
                             else "is a folder, not a config file", file=str(path))
    try:
        with open(path, "rb") as fh:
            config = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScanInputError(f"not valid TOML: {exc}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ScanInputError("not valid TOML: the file is not UTF-8 text", file=str(path)) from None
    unknown = set(config) - {"batch", "analysis", "surveillance"}
    if unknown:
        raise ScanInputError(f"unknown table(s) {sorted(unknown)}; allowed: [batch], "
                             "[[analysis]], [[surveillance]]", file=str(path))
    bad = set(config.get("batch", {})) - BATCH_KEYS
    if bad:
        raise ScanInputError(f"unknown [batch] key(s) {sorted(bad)}; allowed: "
                             f"{', '.join(sorted(BATCH_KEYS))}", file=str(path), field="batch")
    if not config.get("analysis") and not config.get("surveillance"):
        raise ScanInputError("no [[analysis]] or [[surveillance]] entries", file=str(path))
    return config


def derived_seed(root: int, name: str) -> int:
    """A seed for one analysis from the batch's root seed and the analysis name."""
    key = zlib.crc32(name.encode())
    return int(np.random.SeedSequence(root, spawn_key=(key,)).generate_state(1, np.uint64)[0] >> 2)


def _keyword(key: str) -> str:
    """A config key (a command-line option without dashes) -> the Python keyword."""
    from .params import PARAMS

    return {p.key: p.name for p in PARAMS.values()}.get(key, key)


def _check_entry(entry: dict, kind: str, config_path: Path) -> None:
    for key in ("name", "command", "data"):
        if key not in entry:
            raise ScanInputError(f"a [[{kind}]] entry lacks '{key}'", file=str(config_path),
                                 field=key)
    if entry["command"] not in COMMANDS:
        raise ScanInputError(f"command '{entry['command']}' is not one of {', '.join(COMMANDS)}",
                             file=str(config_path), field="command")
    check_name(entry["name"], where=str(config_path))


class Inputs:
    """Input files the batch makes itself (builtin data, per-outcome and per-period extracts)
    in ``DIR/inputs``: each rewritten only when its content changes."""

    def __init__(self, config_dir: Path, out: Path):
        self.config_dir = config_dir
        self.folder = out / "inputs"

    def _write(self, name: str, data: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = inside(self.folder, name)
        if not path.is_file() or path.read_bytes() != data:
            with atomic_file(path) as tmp:
                tmp.write_bytes(data)
        return path

    def _write_csv(self, name: str, df) -> Path:
        return self._write(name, df.to_csv(index=False).encode())

    def resolve(self, data: str, outcome: str | None = None) -> Path:
        if data == "builtin:borough":
            from .datasets import OUTCOMES, load_borough

            outcome = outcome or "cancer"
            if outcome not in OUTCOMES:
                raise ScanParameterError("outcome", f"one of {', '.join(OUTCOMES)}", outcome)
            a = load_borough().areas
            df = a[["id", "x", "y"]].assign(cases=a[outcome], population=a["population"])
            return self._write_csv(f"borough-{outcome}.csv", df)
        if data == "builtin:borough_weekly":
            return self._write_csv("borough_weekly.csv", builtin_weekly())
        if data == "builtin:laei":
            path = self.folder / "laei.nc"
            if not path.is_file():
                from .exposure.grids import write_netcdf
                from .exposure.synthetic import synthetic_laei

                self.folder.mkdir(parents=True, exist_ok=True)
                with atomic_file(path) as tmp:
                    write_netcdf(synthetic_laei(), tmp)
            return path
        if data.startswith("builtin:"):
            raise ScanParameterError("data", "a file or builtin:borough, builtin:borough_weekly, "
                                     "builtin:laei", data)
        path = Path(data)
        return path if path.is_absolute() else self.config_dir / path

    def period_extract(self, df, source: Path, outcome: str, end: np.datetime64,
                       stem: str) -> Path:
        """id,x,y,time,cases,population for one outcome, rows up to ``end``."""
        days = df["time"].astype("datetime64[ns]").to_numpy().astype("datetime64[D]")
        cols = ["id", "x", "y", "time", outcome] + (["population"] if "population" in df else [])
        out = df.loc[days <= end, cols].rename(columns={outcome: "cases"})
        return self._write_csv(f"{stem}.csv", out)


def builtin_weekly():
    """The embedded borough's weekly series as id,x,y,time,population,<outcome> columns."""
    from .datasets import WEEKLY_OUTCOMES, borough_weekly, load_borough

    areas = load_borough().areas.set_index("id")
    frames = None
    for outcome in WEEKLY_OUTCOMES:
        df = borough_weekly(outcome)
        if frames is None:
            frames = df[["id", "week_start", "population"]].copy()
            frames["x"] = areas.loc[frames["id"], "x"].to_numpy()
            frames["y"] = areas.loc[frames["id"], "y"].to_numpy()
        frames[outcome] = df["cases"].to_numpy()
    frames["time"] = frames["week_start"].dt.strftime("%Y-%m-%d")
    return frames[["id", "x", "y", "time", "population", *WEEKLY_OUTCOMES]]


def _read_surveillance(source: Path):
    import pandas as pd

    if not source.is_file():
        raise ScanInputError("file not found" if not source.exists() else "is a folder, not a "
                             "file", file=str(source))
    try:
        df = pd.read_csv(source, dtype={"id": str, "time": str})
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScanInputError(f"not a readable CSV ({exc})", file=str(source)) from None
    missing = [c for c in ("id", "x", "y", "time") if c not in df.columns]
    if missing:
        raise ScanInputError(f"missing column(s) {', '.join(missing)}; expected "
                             "id,x,y,time[,population],<outcome>,...", file=str(source), line=1)
    try:
        df["time"].astype("datetime64[ns]")
    except (ValueError, TypeError):
        raise ScanInputError("the time column holds values that are not dates (YYYY-MM-DD)",
                             file=str(source), field="time") from None
    return df


def expand(config: dict, config_path: Path, out: Path, *,
           failures: dict | None = None) -> list[Analysis]:
    """The analyses the config describes, in a fixed order.  An entry whose options are wrong
    is recorded in ``failures`` (name -> message) when given, else raised."""
    batch = config.get("batch", {})
    root = int(batch.get("seed", 2026))
    inputs = Inputs(config_path.parent, out)
    analyses: list[Analysis] = []

    def make(name, command, data_path, entry, extra=None):
        seed = int(entry.get("seed", derived_seed(root, name)))
        options = {_keyword(k): v for k, v in entry.items() if k not in RESERVED | {"seed"}}
        options.setdefault("n_replications", int(batch.get("replications", 999)))
        options["rng"] = seed
        if "exposure" in options:
            if isinstance(options["exposure"], str):
                options["exposure"] = [options["exposure"]]
            options["exposure"] = [str(inputs.resolve(v)) for v in options["exposure"]]
        if "boundaries" in options:
            options["boundaries"] = str(inputs.resolve(options["boundaries"]))
        options.update(extra or {})
        options["data"] = str(data_path)
        try:
            job = Job(command, options)
        except ScanParameterError as exc:
            if failures is None:
                raise ScanInputError(f"analysis '{name}': {exc}", file=str(config_path)) from None
            failures[name] = f"analysis '{name}': {exc}"
            return
        analyses.append(Analysis(name=name, job=job, seed=seed, spec=dict(entry, name=name)))

    def entries(kind):
        """The entries of one table; with ``failures``, an entry that is wrong in itself (no
        name, an unsafe name, an unknown command) fails alone under a label saying where."""
        for k, entry in enumerate(config.get(kind, []), start=1):
            try:
                _check_entry(entry, kind, config_path)
            except ScanInputError as exc:
                if failures is None:
                    raise
                name = entry.get("name")
                label = name if isinstance(name, str) and _SAFE.match(name) \
                    else f"[[{kind}]] #{k}"
                failures[label] = f"[[{kind}]] #{k}: {exc}"
                continue
            yield entry

    for entry in entries("analysis"):
        try:
            data = inputs.resolve(entry["data"], entry.get("outcome"))
        except ScanParameterError as exc:
            if failures is None:
                raise
            failures[entry["name"]] = f"analysis '{entry['name']}': {exc}"
            continue
        make(entry["name"], entry["command"], data, entry)
    for entry in entries("surveillance"):
        source = inputs.resolve(entry["data"])
        df = _read_surveillance(source)
        base = {"id", "x", "y", "time", "population"}
        outcomes = entry.get("outcomes", "all")
        outcomes = [c for c in df.columns if c not in base] if outcomes == "all" else list(outcomes)
        for outcome in outcomes:
            if outcome not in df.columns:
                raise ScanInputError(f"outcome column '{outcome}' not found; columns are "
                                     f"{', '.join(map(str, df.columns))}", file=str(source),
                                     line=1)
        weeks = int(entry.get("last_weeks", 1))
        days = np.unique(df["time"].astype("datetime64[ns]").to_numpy().astype("datetime64[D]"))
        ends = [d + 6 for d in days[-weeks:]]  # a week's rows carry its Monday
        extra = {} if "time_aggregation" in entry else {"time_aggregation": "week"}
        for outcome in outcomes:
            for end in ends:
                name = f"{entry['name']}-{safe_name(outcome)}-{end}"
                path = inputs.period_extract(df, source, outcome, end, name)
                make(name, entry["command"], path, entry, extra)
    names = [a.name for a in analyses] + list(failures or {})
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScanInputError(f"analysis name(s) {dup} appear more than once",
                             file=str(config_path), field="name")
    return analyses


# --- the output folder ----------------------------------------------------------------------------

def check_batch_out(out) -> Path:
    """``DIR`` must be new, empty, or a batch folder scan wrote (its marker inside)."""
    out = Path(os.path.abspath(os.path.expanduser(str(out))))
    if out.exists():
        if not out.is_dir() or out.is_symlink():
            raise ScanParameterError("--out", "a folder for the batch", str(out),
                                     "it is a file: give a new folder name")
        entries = [p.name for p in out.iterdir()]
        if entries and BATCH_MARKER not in entries:
            shown = ", ".join(sorted(entries)[:3])
            raise ScanParameterError(
                "--out", "a new folder, an empty folder or a batch folder scan wrote", str(out),
                f"it holds files scan did not write ({shown}"
                + (", ..." if len(entries) > 3 else "") + "): give a new folder name. (Batch "
                "folders written by scan before version 0.2 have no marker: move them away; "
                "their analyses would be redone anyway)")
    else:
        parent = out.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise ScanParameterError("--out", "a path scan can create", str(out),
                                     f"{parent} is not a writable folder")
    return out


@contextmanager
def batch_lock(out: Path):
    """Hold the batch folder's lock, or refuse: another run is using it."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    marker = out / BATCH_MARKER
    if not marker.exists():
        marker.write_text(json.dumps({"written_by": "scan", "kind": "batch"}) + "\n")
    fh = open(out / LOCK, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        owner = fh.read().strip() or "another process"
        fh.close()
        raise ScanParameterError("--out", "a batch folder no other run is using", str(out),
                                 f"{owner} is running a batch there: wait for it to finish, "
                                 "or use another --out") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"scan batch (pid {os.getpid()})\n")
        fh.flush()
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


# --- running --------------------------------------------------------------------------------------

class RunLog:
    """Append-only JSON lines, flushed and synced after each record."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, **record) -> None:
        record = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  **record}
        line = json.dumps(record, default=str)
        with self.lock, open(self.path, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def analysis_record(analysis: Analysis, digest: dict) -> str:
    return json.dumps({"name": analysis.name, "command": analysis.command,
                       "seed": analysis.seed, "digest": digest["digest"],
                       "options": digest["options"], "inputs": digest["inputs"],
                       "spec": analysis.spec}, indent=2, default=str)


def is_finished(folder: Path, digest: dict) -> bool:
    try:
        spec = json.loads((folder / "analysis.json").read_text())
        return spec.get("digest") == digest["digest"] and (folder / "result.json").is_file()
    except (OSError, ValueError):
        return False


def run_one(analysis: Analysis, folder: Path, digest: dict, *, threads=None,
            progress=None) -> None:
    """Run one analysis into ``folder`` through :func:`scan.jobs.run_job`."""
    from .jobs import run_job

    job = analysis.job
    if threads is not None:
        job = Job(job.command, {**job.options, "threads": threads})
    run_job(job, folder, progress=progress,
            extra_files={"analysis.json": analysis_record(analysis, digest)})


def _run_on_worker(analysis: Analysis, folder: str, digest: dict) -> str | None:
    """Task body on a Dask worker: the whole analysis, on as many Numba threads as the worker
    has; returns an error message, or None when the folder was written."""
    import numba
    from distributed import get_worker

    threads = max(1, min(get_worker().state.nthreads, numba.config.NUMBA_NUM_THREADS))
    try:
        run_one(analysis, Path(folder), digest, threads=threads)
    except (ScanInputError, ScanParameterError) as exc:
        return str(exc)
    return None


def run_on_dask(todo, folder: Path, digests: dict, batch: dict, started, record) -> None:
    """Whole analyses as tasks spread over a Dask cluster (the embedded LocalCluster unless a
    scheduler is given; a remote cluster must see DIR at the same path)."""
    from distributed import as_completed

    from .distributed import connect

    with connect(scheduler=batch.get("scheduler"), n_workers=int(batch.get("workers", 2)),
                 threads_per_worker=batch.get("threads")) as client:
        t0, futures = {}, {}
        for k, a in enumerate(todo, start=1):
            t0[a.name] = started(k, a)
            fut = client.submit(_run_on_worker, a, str(inside(folder, a.name)), digests[a.name],
                                pure=False, retries=2,
                                key=f"scan-batch-{a.name}-{digests[a.name]['digest'][:12]}-"
                                    f"{os.getpid()}")
            futures[fut] = a
        for fut in as_completed(list(futures)):
            a = futures[fut]
            record(a, t0[a.name], fut.result())


def summarise(out: Path, names: list[str], alpha: float) -> Path:
    """summary.csv: every cluster with p <= alpha across the finished analyses."""
    import pandas as pd

    rows = []
    for name in names:
        path = out / "analyses" / name / "result.json"
        if not path.is_file():
            continue
        result = json.loads(path.read_text())
        for c in result["clusters"]:
            if c["p_value"] is None or c["p_value"] > alpha:
                continue
            row = {"analysis": name, "command": result.get("command"),
                   "model": result.get("model"), "rank": c["rank"], "center": c["center"],
                   "n_locations": c["n_locations"], "observed": c["observed"],
                   "expected": c["expected"], "relative_risk": c["relative_risk"],
                   "llr": c["llr"], "p_value": c["p_value"], "start": c.get("start"),
                   "end": c.get("end"), "recurrence_interval": c.get("recurrence_interval"),
                   "members": " ".join(map(str, c["members"]))}
            for pollutant, ex in (c.get("exposure") or {}).items():
                for k in ("mean_inside", "mean_outside", "max_inside", "share_above_uk_limit",
                          "share_above_who_guideline"):
                    row[f"{pollutant}_{k}"] = ex.get(k)
            rows.append(row)
    columns = ["analysis", "command", "model", "rank", "center", "n_locations", "observed",
               "expected", "relative_risk", "llr", "p_value", "start", "end",
               "recurrence_interval", "members"]
    df = pd.DataFrame(rows, columns=columns + sorted({k for r in rows for k in r} - set(columns)))
    target = out / "summary.csv"
    with atomic_file(target) as tmp:
        df.to_csv(tmp, index=False)
    return target


def run_batch(config_path, out, *, only: list[str] | None = None,
              report: Report | None = None, progress_factory=None, quiet: bool = True) -> dict:
    """Run (or resume) the analyses of ``config_path`` into ``out``; returns counts.

    ``report(message)`` receives one line per event (nothing is printed);
    ``progress_factory(analysis_name)`` may return a context manager yielding a progress
    callback for that analysis's replications.  ``quiet`` is kept for callers of earlier
    versions and ignored.
    """
    say = report or (lambda message: None)
    config_path = Path(config_path)
    config = load_config(config_path)
    batch = config.get("batch", {})
    backend = batch.get("backend", "threads")
    if backend not in ("threads", "dask"):
        raise ScanInputError(f"backend '{backend}' is not one of threads, dask",
                             file=str(config_path), field="backend")
    alpha = float(batch.get("alpha", 0.05))
    out = check_batch_out(out)
    with batch_lock(out):
        failures: dict[str, str] = {}
        analyses = expand(config, config_path, out, failures=failures)
        if only:
            known = {a.name for a in analyses} | set(failures)
            unknown = [n for n in only if n not in known]
            if unknown:
                raise ScanParameterError("--only", "names of analyses in the config",
                                         ", ".join(unknown),
                                         "the config has " + ", ".join(sorted(known)))
            analyses = [a for a in analyses if a.name in only]
            failures = {k: v for k, v in failures.items() if k in only}
        folder = out / "analyses"
        folder.mkdir(exist_ok=True)
        log = RunLog(out / "run-log.jsonl")
        digests, todo = {}, []
        for a in analyses:
            from .jobs import check_inputs

            try:
                check_inputs(a.job)
                digests[a.name] = fingerprint(a.job, relative_to=out)
            except (ScanInputError, ScanParameterError) as exc:
                failures[a.name] = str(exc)
                continue
            if not is_finished(inside(folder, a.name), digests[a.name]):
                todo.append(a)
        total = len(analyses) + len([f for f in failures if f not in digests])
        done_already = len(analyses) - len(todo) - len([a for a in analyses
                                                        if a.name in failures])
        counts = {"total": len(analyses) + len([n for n in failures
                                                if n not in {a.name for a in analyses}]),
                  "skipped": done_already, "finished": 0, "failed": 0}
        log.write(event="batch-start", config=str(config_path), analyses=counts["total"],
                  to_run=len(todo), already_finished=done_already)

        def record(a, t0, error=None):
            if error is not None:
                counts["failed"] += 1
                log.write(event="failed", analysis=a.name, error=error,
                          seconds=round(time.perf_counter() - t0, 3))
                say(f"scan: {a.name}: error: {error}")
                return
            result = json.loads((folder / a.name / "result.json").read_text())
            counts["finished"] += 1
            log.write(event="finished", analysis=a.name, seed=a.seed,
                      seconds=round(time.perf_counter() - t0, 3), p_value=result["p_value"],
                      statistic=result["statistic"],
                      significant=sum(1 for c in result["clusters"]
                                      if c["p_value"] is not None and c["p_value"] <= alpha),
                      parameters=result["parameters"])

        def started(k, a):
            say(f"[{done_already + k}/{total}] {a.name}")
            log.write(event="start", analysis=a.name, command=a.command, seed=a.seed,
                      options=digests[a.name]["options"])
            return time.perf_counter()

        for name, error in failures.items():
            counts["failed"] += 1
            log.write(event="failed", analysis=name, error=error, seconds=0.0)
            say(f"scan: {name}: error: {error}")
        if backend == "threads" or not todo:
            for k, a in enumerate(todo, start=1):
                t0 = started(k, a)
                bar = progress_factory(a.name) if progress_factory else _null_progress()
                try:
                    with bar as progress:
                        run_one(a, inside(folder, a.name), digests[a.name],
                                threads=batch.get("threads"), progress=progress)
                except (ScanInputError, ScanParameterError) as exc:
                    record(a, t0, str(exc))
                    continue
                record(a, t0)
        else:
            run_on_dask(todo, folder, digests, batch, started, record)
        names = [a.name for a in analyses]
        summary = summarise(out, names, alpha)
        log.write(event="batch-end", **counts)
        say(f"{counts['finished']} run, {counts['skipped']} already finished, "
            f"{counts['failed']} failed; summary in {summary}")
    return counts


@contextmanager
def _null_progress():
    yield None
