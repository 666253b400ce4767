"""kill -9 at random moments of `scan spatial` and `scan batch`, then a rerun: every --out is
either the old complete result or the new one, no temporary folder is left, and the rerun's
files are byte-identical to an uninterrupted run's."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from scan.cli import main

KILLS = 10          # per command: 20 in all
PARALLEL = 3


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".scan-tmp-" in p.name
                  or ".scan-old-" in p.name)


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "scan.cli", *map(str, args)]


def timed_run(argv) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def kill_at(jobs):
    """Start every (argv, delay) job, at most PARALLEL at a time, and SIGKILL each after its
    delay (if still running)."""
    pending = list(jobs)
    running = []
    while pending or running:
        while pending and len(running) < PARALLEL:
            argv, delay = pending.pop(0)
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running.append((proc, time.monotonic() + delay))
        time.sleep(0.01)
        for item in list(running):
            proc, deadline = item
            if proc.poll() is not None:
                running.remove(item)
            elif time.monotonic() >= deadline:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                running.remove(item)


def write_input(path: Path) -> Path:
    lines = ["id,x,y,cases,population"]
    for i in range(60):
        lines.append(f"A{i},{545000 + 250 * (i % 8)},{183000 + 250 * (i // 8)},"
                     f"{(i * 7) % 9},{1200 + 37 * i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_kill_9_during_scan_spatial(tmp_path):
    data = write_input(tmp_path / "in.csv")
    old, new = tmp_path / "old", tmp_path / "new"
    base = ["--replications", "999", "--quiet"]
    assert main(["spatial", str(data), "--out", str(old), "--seed", "1", *base]) == 0
    duration = timed_run(cli("spatial", data, "--out", new, "--seed", "2", *base))
    old_files, new_files = snapshot(old), snapshot(new)
    assert old_files != new_files
    rng = random.Random(8)
    outs = []
    for k in range(KILLS):
        parent = tmp_path / f"run{k}"
        parent.mkdir()
        shutil.copytree(old, parent / "out")
        outs.append(parent / "out")
    kill_at([(cli("spatial", data, "--out", out, "--seed", "2", *base),
              rng.uniform(0.3, 1.1) * duration) for out in outs])
    states = []
    for out in outs:
        got = snapshot(out)
        assert got in (old_files, new_files)               # never half a result
        states.append("new" if got == new_files else "old")
        assert main(["spatial", str(data), "--out", str(out), "--seed", "2", *base]) == 0
        assert snapshot(out) == new_files                  # the rerun: byte for byte
        assert leftovers(out.parent) == []                 # temporary folders cleaned
    assert "old" in states                                  # some kills landed mid-run


BATCH = """
[batch]
seed = 5
replications = 199

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

[[surveillance]]
name = "weekly"
command = "spacetime"
data = "builtin:borough_weekly"
last_weeks = 2
model = "permutation"
analysis = "prospective"
max_temporal_length = 4
max_population_fraction = 0.1
"""


def analyses(out: Path) -> dict:
    files = snapshot(out / "analyses")
    files["summary.csv"] = (out / "summary.csv").read_bytes()
    return {k: v.replace(str(out).encode(), b"<out>") for k, v in files.items()}


def test_kill_9_during_scan_batch(tmp_path):
    config = tmp_path / "b.toml"
    config.write_text(BATCH)
    whole = tmp_path / "whole"
    duration = timed_run(cli("batch", config, "--out", whole, "--quiet"))
    expected = analyses(whole)
    rng = random.Random(9)
    outs = [tmp_path / f"run{k}" / "out" for k in range(KILLS)]
    kill_at([(cli("batch", config, "--out", out, "--quiet"), rng.uniform(0.2, 1.0) * duration)
             for out in outs])
    partial = 0
    for out in outs:
        if (out / "analyses").is_dir():
            for folder in (out / "analyses").iterdir():    # each folder complete or absent
                if not folder.name.startswith("."):
                    assert (folder / "result.json").is_file() and (folder / "analysis.json").is_file()
                    json.loads((folder / "result.json").read_text())
            partial += len(list((out / "analyses").glob("*/result.json"))) < 4
        assert main(["batch", str(config), "--out", str(out), "--quiet"]) == 0
        assert analyses(out) == expected
        assert leftovers(out / "analyses") == []
    assert partial >= 1                                      # some kills landed mid-batch
