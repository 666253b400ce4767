"""Batch surveillance: config expansion, resume, kill -9, summary, errors."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scan.batch import derived_seed, expand, load_config, run_batch
from scan.errors import ScanInputError

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
[batch]
seed = 11
replications = {reps}

[[analysis]]
name = "cancer"
command = "spatial"
data = "builtin:borough"
outcome = "cancer"

[[analysis]]
name = "respiratory"
command = "spatial"
data = "builtin:borough"
outcome = "respiratory"
max_population_fraction = 0.2

[[surveillance]]
name = "weekly"
command = "spacetime"
data = "builtin:borough_weekly"
last_weeks = {weeks}
model = "permutation"
analysis = "prospective"
max_temporal_length = 4
max_population_fraction = 0.1
"""


def write_config(folder: Path, reps=99, weeks=2) -> Path:
    path = folder / "batch.toml"
    path.write_text(CONFIG.format(reps=reps, weeks=weeks))
    return path


def events(out: Path):
    return [json.loads(line) for line in (out / "run-log.jsonl").read_text().splitlines()]


def comparable(folder: Path) -> dict:
    """Every output file of every analysis, byte for byte, with the batch's own folder (which
    paths of its input extracts mention) written as <out>."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".csv", ".geojson", ".txt"):
            text = path.read_text().replace(str(folder.parent), "<out>")
            files[str(path.relative_to(folder))] = text
    return files


def test_batch_runs_and_resumes(tmp_path):
    config = write_config(tmp_path)
    out = tmp_path / "out"
    counts = run_batch(config, out, quiet=True)
    assert counts == {"total": 4, "skipped": 0, "finished": 4, "failed": 0}
    names = sorted(p.name for p in (out / "analyses").iterdir())
    assert names == ["cancer", "respiratory", "weekly-flu_like-2023-12-24", "weekly-flu_like-2023-12-31"]
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["p_value"] <= 0.05).all()
    assert "cancer" in set(summary["analysis"])
    finished = [e for e in events(out) if e["event"] == "finished"]
    assert {e["analysis"] for e in finished} == set(names)
    assert all("seed" in e and "seconds" in e and "parameters" in e for e in finished)
    before = comparable(out / "analyses")
    counts = run_batch(config, out, quiet=True)  # nothing left to do
    assert counts["skipped"] == 4 and counts["finished"] == 0
    assert comparable(out / "analyses") == before
    # a changed specification reruns that analysis only
    config.write_text(config.read_text().replace("max_population_fraction = 0.2",
                                                 "max_population_fraction = 0.25"))
    counts = run_batch(config, out, quiet=True)
    assert counts["finished"] == 1 and counts["skipped"] == 3


def test_seeds_are_per_analysis_and_stable(tmp_path):
    config = write_config(tmp_path)
    analyses = expand(load_config(config), config, tmp_path / "out")
    seeds = {a.name: a.seed for a in analyses}
    assert len(set(seeds.values())) == len(seeds)
    assert seeds["cancer"] == derived_seed(11, "cancer")


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    config = write_config(tmp_path, reps=999, weeks=6)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert run_batch(config, whole, quiet=True)["finished"] == 8
    cmd = [sys.executable, "-m", "scan.cli", "batch", str(config), "--out", str(killed), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "run-log.jsonl"
    deadline = time.monotonic() + 120
    done_before_kill = set()
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists():
            done_before_kill = {e["analysis"] for e in events(killed) if e["event"] == "finished"}
            if len(done_before_kill) >= 2:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before_kill = {e["analysis"] for e in events(killed) if e["event"] == "finished"}
    assert 2 <= len(done_before_kill) < 8
    n_events = len(events(killed))
    counts = run_batch(config, killed, quiet=True)
    assert counts["skipped"] >= len(done_before_kill)
    after = events(killed)[n_events:]
    restarted = {e["analysis"] for e in after if e["event"] == "start"}
    assert not restarted & done_before_kill  # nothing finished is redone
    assert comparable(killed / "analyses") == comparable(whole / "analyses")
    assert (killed / "summary.csv").read_text() == (whole / "summary.csv").read_text()
    assert not [p for p in (killed / "analyses").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("text,message", [
    ("[batch]\nseed = 1\n", r"no \[\[analysis\]\] or \[\[surveillance\]\] entries"),
    ("[batch]\nsped = 1\n[[analysis]]\nname='a'\ncommand='spatial'\ndata='x.csv'\n",
     r"unknown \[batch\] key\(s\) \['sped'\]"),
    ("[[analysis]]\nname='a'\ncommand='spatial'\ndata='builtin:borough'\n"
     "[[analysis]]\nname='a'\ncommand='spatial'\ndata='builtin:borough'\n", r"\['a'\] appear more than once"),
    ("[batch\n", r"not valid TOML"),
])
def test_config_errors_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScanInputError, match=message):
        run_batch(path, tmp_path / "out", quiet=True)


@pytest.mark.parametrize("entry,message", [
    ("command='spatial'\ndata='x.csv'\n", r"\[\[analysis\]\] #1: .*lacks 'name'"),
    ("name='a'\ncommand='temporal'\ndata='x.csv'\n", r"command 'temporal' is not one of"),
    ("name='a'\ncommand='spatial'\ndata='builtin:borough'\nreplcations=9\n",
     r"analysis 'a': .*'replcations'.*allowed:"),
    ("name=''\ncommand='spatial'\ndata='builtin:borough'\n", r"name '' is not a plain folder name"),
    ("name='../up'\ncommand='spatial'\ndata='builtin:borough'\n",
     r"name '../up' is not a plain folder name"),
])
def test_a_wrong_entry_fails_alone(tmp_path, entry, message):
    """A typo in one analysis names that analysis; the others still run."""
    path = tmp_path / "b.toml"
    path.write_text("[batch]\nreplications = 9\n[[analysis]]\n" + entry
                    + "[[analysis]]\nname='good'\ncommand='spatial'\ndata='builtin:borough'\n")
    counts = run_batch(path, tmp_path / "out", quiet=True)
    assert counts["failed"] == 1 and counts["finished"] == 1
    failed = [e for e in events(tmp_path / "out") if e["event"] == "failed"]
    assert len(failed) == 1
    import re

    assert re.search(message, failed[0]["error"]), failed[0]["error"]
    assert sorted(p.name for p in (tmp_path / "out" / "analyses").iterdir()) == ["good"]


def test_failed_analysis_is_logged_and_others_finish(tmp_path):
    path = tmp_path / "b.toml"
    (tmp_path / "bad.csv").write_text("id,x,y,cases,population\nA,545000,185000,-1,10\n")
    path.write_text("[batch]\nreplications = 9\n"
                    "[[analysis]]\nname='bad'\ncommand='spatial'\ndata='bad.csv'\n"
                    "[[analysis]]\nname='good'\ncommand='spatial'\ndata='builtin:borough'\n")
    counts = run_batch(path, tmp_path / "out", quiet=True)
    assert counts["failed"] == 1 and counts["finished"] == 1
    failed = [e for e in events(tmp_path / "out") if e["event"] == "failed"]
    assert "bad.csv" in failed[0]["error"] and "line 2" in failed[0]["error"]


def test_example_config_expands():
    config = ROOT / "examples" / "batch" / "borough.toml"
    analyses = expand(load_config(config), config, Path("/tmp/unused-scan-batch"))
    assert [a.name for a in analyses][:2] == ["cancer", "respiratory"]
    assert len(analyses) == 6


def test_dask_batch_equals_threads_batch(tmp_path):
    """Analyses spread over a real LocalCluster give the same outputs as one after another."""
    threads_cfg = write_config(tmp_path, reps=99, weeks=1)
    dask_dir = tmp_path / "dask"
    dask_dir.mkdir()
    dask_cfg = dask_dir / "batch.toml"
    dask_cfg.write_text(threads_cfg.read_text().replace("replications = 99",
                                                        "replications = 99\nbackend = \"dask\"\nworkers = 2"))
    assert run_batch(threads_cfg, tmp_path / "a", quiet=True)["finished"] == 3
    assert run_batch(dask_cfg, tmp_path / "b", quiet=True)["finished"] == 3
    a, b = comparable(tmp_path / "a" / "analyses"), comparable(tmp_path / "b" / "analyses")
    assert a.keys() == b.keys()
    for key in a:  # the parameters record the batch's own settings; the numbers must agree
        if key.endswith("result.json"):
            ra, rb = json.loads(a[key]), json.loads(b[key])
            assert ra["clusters"] == rb["clusters"] and ra["null_distribution"] == rb["null_distribution"]
        elif not key.endswith("analysis.json"):
            assert a[key] == b[key], key
