"""``scan batch CONFIG.toml --out DIR``: a set of analyses, run or resumed.

The config names analyses two ways (paths relative to the config file; ``builtin:borough``
and ``builtin:borough_weekly`` name the embedded synthetic borough's data):

```toml
[batch]
seed = 2026            # root seed; each analysis gets its own seed derived from it and its name
replications = 999
backend = "threads"    # one analysis at a time on every core; "dask": analyses spread as tasks
                       # over a cluster (scheduler = "tcp://...", or a LocalCluster of workers = 2)
alpha = 0.05           # clusters with p <= alpha go into summary.csv

[[analysis]]           # one analysis: every other key is a `scan spatial|spacetime` option
name = "cancer"
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

Each analysis writes ``DIR/analyses/<name>/`` atomically (with ``analysis.json``, the exact
specification it ran).  A finished analysis whose specification is unchanged is never redone,
so a run killed at any point (even ``kill -9``) and started again completes only what is
missing.  ``DIR/run-log.jsonl`` records each analysis's parameters, seed, timings and outcome;
``DIR/summary.csv`` lists every cluster with p <= alpha across analyses, with its exposure
context, rebuilt from the finished analyses at the end of every run.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ScanInputError, ScanParameterError
from .io.atomic import atomic_file

BATCH_KEYS = {"seed", "replications", "backend", "scheduler", "workers", "alpha", "threads"}
RESERVED = {"name", "command", "data", "outcome", "seed"}
COMMANDS = ("spatial", "spacetime")


@dataclass(frozen=True)
class Analysis:
    """One analysis to run: its name, sub-command and the argv after ``scan <command>``."""

    name: str
    command: str
    argv: tuple[str, ...]
    seed: int
    spec: dict = field(compare=False)
    out: str = ""

    def digest(self) -> str:
        """What the analysis computes: its command and options (paths inside the batch's own
        folder written relative to it, so a copied or resumed batch matches)."""
        argv = [a.replace(self.out, "<out>") if self.out else a for a in self.argv]
        text = json.dumps({"command": self.command, "argv": argv, "seed": self.seed},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- configuration ---------------------------------------------------------------------------------

def load_config(path) -> dict:
    import tomllib

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            config = tomllib.load(fh)
    except FileNotFoundError:
        raise ScanInputError("config file not found", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScanInputError(f"not valid TOML: {exc}", file=str(path)) from None
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


def _option(key: str, value) -> list[str]:
    flag = "--" + key.replace("_", "-")
    if isinstance(value, bool):
        return [flag] if value else []
    if isinstance(value, list):
        out = []
        for v in value:
            out += [flag, str(v)]
        return out
    return [flag, str(value)]


def _check_entry(entry: dict, kind: str, config_path: Path) -> None:
    for key in ("name", "command", "data"):
        if key not in entry:
            raise ScanInputError(f"a [[{kind}]] entry lacks '{key}'", file=str(config_path),
                                 field=key)
    if entry["command"] not in COMMANDS:
        raise ScanInputError(f"command '{entry['command']}' is not one of {', '.join(COMMANDS)}",
                             file=str(config_path), field="command")
    if "/" in entry["name"] or entry["name"].startswith("."):
        raise ScanInputError(f"name '{entry['name']}' must be a plain folder name",
                             file=str(config_path), field="name")


class Inputs:
    """Materialises input files (builtin data, per-outcome and per-period extracts) in DIR/inputs."""

    def __init__(self, config_dir: Path, out: Path):
        self.config_dir = config_dir
        self.folder = out / "inputs"

    def _write_csv(self, name: str, df) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        if not path.exists():
            with atomic_file(path) as tmp:
                df.to_csv(tmp, index=False)
        return path

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
            from .exposure.grids import write_netcdf
            from .exposure.synthetic import synthetic_laei

            path = self.folder / "laei.nc"
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                write_netcdf(synthetic_laei(), path)
            return path
        if data.startswith("builtin:"):
            raise ScanParameterError("data", "a file or builtin:borough, builtin:borough_weekly, "
                                     "builtin:laei", data)
        path = Path(data)
        return path if path.is_absolute() else self.config_dir / path

    def period_extract(self, source: Path, outcome: str, end: np.datetime64, stem: str) -> Path:
        """id,x,y,time,cases,population for one outcome, rows up to ``end``."""
        import pandas as pd

        df = pd.read_csv(source, dtype={"id": str, "time": str})
        if outcome not in df.columns:
            raise ScanInputError(f"outcome column '{outcome}' not found; columns are "
                                 f"{', '.join(df.columns)}", file=str(source), line=1)
        days = df["time"].astype("datetime64[ns]").to_numpy().astype("datetime64[D]")
        keep = days <= end
        cols = ["id", "x", "y", "time", outcome] + (["population"] if "population" in df else [])
        out = df.loc[keep, cols].rename(columns={outcome: "cases"})
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


def expand(config: dict, config_path: Path, out: Path) -> list[Analysis]:
    """The list of analyses the config describes, in a fixed order."""
    import pandas as pd

    batch = config.get("batch", {})
    root = int(batch.get("seed", 2026))
    inputs = Inputs(config_path.parent, out)
    analyses: list[Analysis] = []

    def make(name, command, data_path, entry, extra_argv=()):
        seed = int(entry.get("seed", derived_seed(root, name)))
        options = {k: v for k, v in entry.items()
                   if k not in RESERVED | {"outcomes", "last_weeks"}}
        if "exposure" in options:
            options["exposure"] = [str(inputs.resolve(v)) for v in options["exposure"]]
        argv = [str(data_path), "--seed", str(seed), "--replications",
                str(entry.get("replications", batch.get("replications", 999)))]
        for k, v in sorted(options.items()):
            if k != "replications":
                argv += _option(k, v)
        argv += list(extra_argv)
        analyses.append(Analysis(name=name, command=command, argv=tuple(argv), seed=seed,
                                 spec=dict(entry, name=name), out=str(out)))

    for entry in config.get("analysis", []):
        _check_entry(entry, "analysis", config_path)
        make(entry["name"], entry["command"], inputs.resolve(entry["data"], entry.get("outcome")),
             entry)
    for entry in config.get("surveillance", []):
        _check_entry(entry, "surveillance", config_path)
        source = inputs.resolve(entry["data"])
        df = pd.read_csv(source, dtype={"id": str, "time": str}, nrows=None)
        base = {"id", "x", "y", "time", "population"}
        outcomes = entry.get("outcomes", "all")
        outcomes = [c for c in df.columns if c not in base] if outcomes == "all" else list(outcomes)
        weeks = int(entry.get("last_weeks", 1))
        days = np.unique(df["time"].astype("datetime64[ns]").to_numpy().astype("datetime64[D]"))
        ends = [d + 6 for d in days[-weeks:]]  # a week's rows carry its Monday
        for outcome in outcomes:
            for end in ends:
                name = f"{entry['name']}-{outcome}-{end}"
                path = inputs.period_extract(source, outcome, end, name)
                make(name, entry["command"], path, entry,
                     ("--time-aggregation", str(entry.get("time_aggregation", "week")))
                     if "time_aggregation" not in entry else ())
    names = [a.name for a in analyses]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ScanInputError(f"analysis name(s) {sorted(dup)} appear more than once",
                             file=str(config_path), field="name")
    return analyses


# --- running ---------------------------------------------------------------------------------------

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


def is_finished(folder: Path, analysis: Analysis) -> bool:
    try:
        spec = json.loads((folder / "analysis.json").read_text())
        return spec.get("digest") == analysis.digest() and (folder / "result.json").exists()
    except (OSError, ValueError):
        return False


def clean_leftovers(folder: Path) -> None:
    """Temporary folders of analyses that were killed mid-write."""
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(".") and (".tmp" in p.name or ".old-" in p.name):
                shutil.rmtree(p, ignore_errors=True)


def run_one(analysis: Analysis, folder: Path, threads, quiet: bool):
    """Run one analysis through its sub-command (the CLI's own code path) into ``folder``."""
    from .cli import build_parser

    argv = [analysis.command, *analysis.argv, "--out", str(folder), "--quiet"]
    args = build_parser().parse_args(argv)
    if args.command == "spatial":
        args.crs_default = "--crs" not in argv
    if threads is not None:
        args.threads = threads
    args.extra_files = {"analysis.json": json.dumps(
        {"name": analysis.name, "command": analysis.command, "argv": list(analysis.argv),
         "seed": analysis.seed, "digest": analysis.digest(), "spec": analysis.spec},
        indent=2, default=str)}
    args.progress_enabled = not quiet
    args.quiet = True
    return args.func(args)


def _run_on_worker(analysis: Analysis, folder: str) -> str | None:
    """Task body on a Dask worker: the whole analysis, on as many Numba threads as the worker
    has; returns an input-error message, or None when the folder was written."""
    import numba
    from distributed import get_worker

    threads = max(1, min(get_worker().state.nthreads, numba.config.NUMBA_NUM_THREADS))
    try:
        run_one(analysis, Path(folder), threads, quiet=True)
    except (ScanInputError, ScanParameterError) as exc:
        return str(exc)
    return None


def run_on_dask(todo: list[Analysis], folder: Path, batch: dict, started, record) -> None:
    """Whole analyses as tasks spread over a Dask cluster (the embedded LocalCluster unless a
    scheduler is given; a remote cluster must see DIR at the same path).  Each task writes its
    own folder atomically; the log is written here as tasks finish."""
    from distributed import as_completed

    from .distributed import connect

    with connect(scheduler=batch.get("scheduler"), n_workers=int(batch.get("workers", 2)),
                 threads_per_worker=batch.get("threads")) as client:
        t0 = {}
        futures = {}
        for k, a in enumerate(todo, start=1):
            t0[a.name] = started(k, a)
            fut = client.submit(_run_on_worker, a, str(folder / a.name), pure=False, retries=2,
                                key=f"scan-batch-{a.name}-{a.digest()}-{os.getpid()}")
            futures[fut] = a
        for fut in as_completed(list(futures)):
            a = futures[fut]
            record(a, t0[a.name], fut.result())


def summarise(out: Path, analyses: list[Analysis], alpha: float) -> Path:
    """summary.csv: every cluster with p <= alpha across the finished analyses."""
    import pandas as pd

    rows = []
    for a in analyses:
        path = out / "analyses" / a.name / "result.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        for c in result["clusters"]:
            if c["p_value"] is None or c["p_value"] > alpha:
                continue
            row = {"analysis": a.name, "command": a.command, "model": result.get("model"),
                   "rank": c["rank"], "center": c["center"], "n_locations": c["n_locations"],
                   "observed": c["observed"], "expected": c["expected"],
                   "relative_risk": c["relative_risk"], "llr": c["llr"], "p_value": c["p_value"],
                   "start": c.get("start"), "end": c.get("end"),
                   "recurrence_interval": c.get("recurrence_interval"),
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


def run_batch(config_path, out, *, quiet: bool = False, only: list[str] | None = None) -> dict:
    """Run (or resume) the analyses of ``config_path`` into ``out``; returns counts."""
    config_path = Path(config_path)
    out = Path(out)
    config = load_config(config_path)
    batch = config.get("batch", {})
    out.mkdir(parents=True, exist_ok=True)
    analyses = expand(config, config_path, out)
    if only:
        analyses = [a for a in analyses if a.name in only]
    folder = out / "analyses"
    folder.mkdir(exist_ok=True)
    clean_leftovers(folder)
    log = RunLog(out / "run-log.jsonl")
    todo = [a for a in analyses if not is_finished(folder / a.name, a)]
    log.write(event="batch-start", config=str(config_path), analyses=len(analyses),
              to_run=len(todo), already_finished=len(analyses) - len(todo))
    backend = batch.get("backend", "threads")
    if backend not in ("threads", "dask"):
        raise ScanInputError(f"backend '{backend}' is not one of threads, dask",
                             file=str(config_path), field="backend")
    counts = {"total": len(analyses), "skipped": len(analyses) - len(todo), "finished": 0,
              "failed": 0}
    alpha = float(batch.get("alpha", 0.05))

    def record(a, t0, error=None):
        if error is not None:
            counts["failed"] += 1
            log.write(event="failed", analysis=a.name, error=error,
                      seconds=round(time.perf_counter() - t0, 3))
            print(f"scan: {a.name}: error: {error}", file=sys.stderr)
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
        if not quiet:
            print(f"[{counts['skipped'] + k}/{len(analyses)}] {a.name}", file=sys.stderr)
        log.write(event="start", analysis=a.name, command=a.command, seed=a.seed,
                  argv=list(a.argv))
        return time.perf_counter()

    if backend == "threads" or not todo:
        # one analysis at a time, its replications on every core
        for k, a in enumerate(todo, start=1):
            t0 = started(k, a)
            try:
                run_one(a, folder / a.name, batch.get("threads"), quiet)
            except (ScanInputError, ScanParameterError) as exc:
                record(a, t0, str(exc))
                continue
            record(a, t0)
    else:
        run_on_dask(todo, folder, batch, started, record)
    summary = summarise(out, analyses, float(batch.get("alpha", 0.05)))
    log.write(event="batch-end", **counts)
    if not quiet:
        print(f"{counts['finished']} run, {counts['skipped']} already finished, "
              f"{counts['failed']} failed; summary in {summary}", file=sys.stderr)
    return counts


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("batch", help="run or resume a set of analyses from a TOML config",
                       description=__doc__.split("\n\n")[0] + " Finished analyses are kept; "
                       "a killed run resumes where it stopped.")
    p.add_argument("config", metavar="CONFIG.toml", help="the batch configuration")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: summary.csv, run-log.jsonl, analyses/<name>/")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help="run only this analysis (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(func=lambda args: 1 if run_batch(args.config, args.out, quiet=args.quiet,
                                                    only=args.only)["failed"] else 0)
    return p
