"""Batch safety: names from data or config never form paths, resume by content, one run at a
time, and a batch folder is scan's own."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scan.batch import BATCH_MARKER, batch_lock, inside, run_batch, safe_name
from scan.cli import main
from scan.errors import ScanParameterError


def events(out: Path):
    return [json.loads(line) for line in (out / "run-log.jsonl").read_text().splitlines()]


def files_outside(root: Path, out: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if not p.resolve().is_relative_to(out.resolve())}


def surveillance_csv(path: Path, outcome: str, extra_cases: int = 0) -> Path:
    rows = ["id,x,y,time,population," + outcome]
    for week in range(6):
        for i in range(12):
            c = (i * 7 + week * 3) % 5 + (extra_cases if (i == 0 and week == 5) else 0)
            day = np.datetime64("2023-01-02") + 7 * week
            rows.append(f"A{i},{545000 + 400 * (i % 4)},{183000 + 400 * (i // 4)},"
                        f"{day},2000,{c}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_column_header_with_dot_dot_stays_inside_out(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    victim = root / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    data = surveillance_csv(root / "weekly.csv", "../../victim")
    config = root / "b.toml"
    config.write_text(f"[batch]\nreplications = 9\n[[surveillance]]\nname='w'\n"
                      f"command='spacetime'\ndata='{data.name}'\nlast_weeks=1\n"
                      "model='permutation'\nanalysis='prospective'\n")
    before = files_outside(root, root / "out")
    counts = run_batch(config, root / "out")
    assert counts["finished"] == 1
    assert files_outside(root, root / "out") == before       # nothing written outside --out
    assert (victim / "keep.txt").read_text() == "keep"
    (folder,) = (root / "out" / "analyses").iterdir()
    assert ".." not in folder.name and "/" not in folder.name
    assert folder.name.startswith("w-victim-")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(min_size=0, max_size=80))
def test_safe_names_never_leave_the_folder(text):
    name = safe_name(text)
    assert name and "/" not in name and "\\" not in name and name not in (".", "..")
    assert not name.startswith(".")
    folder = Path("/tmp/scan-batch-root")
    assert inside(folder, name).resolve().is_relative_to(folder)


@pytest.mark.parametrize("part", ["..", "../x", "/etc", "", "."])
def test_inside_refuses_escapes(part):
    with pytest.raises(ScanParameterError, match=r"stays inside the output folder"):
        inside(Path("/tmp/scan-batch-root"), part)


def test_resume_is_by_content(tmp_path):
    """Finished analyses are redone when an input's bytes change (41 more cases), and the
    period extracts are regenerated from the changed source."""
    data = surveillance_csv(tmp_path / "weekly.csv", "flu")
    config = tmp_path / "b.toml"
    config.write_text("[batch]\nreplications = 9\n[[surveillance]]\nname='w'\n"
                      "command='spacetime'\ndata='weekly.csv'\nlast_weeks=2\n"
                      "model='permutation'\nanalysis='prospective'\n")
    out = tmp_path / "out"
    assert run_batch(config, out)["finished"] == 2
    assert run_batch(config, out)["skipped"] == 2
    totals = {p.parent.name: json.loads(p.read_text())["study_area"]["total_cases"]
              for p in (out / "analyses").glob("*/result.json")}
    surveillance_csv(data, "flu", extra_cases=41)           # the last week gains 41 cases
    counts = run_batch(config, out)
    assert counts["finished"] == 1 and counts["skipped"] == 1  # only the week that saw them
    after = {p.parent.name: json.loads(p.read_text())["study_area"]["total_cases"]
             for p in (out / "analyses").glob("*/result.json")}
    last = max(after)
    assert after[last] == totals[last] + 41
    extract = (out / "inputs" / f"{last}.csv").read_text()
    assert str(41 + (0 * 7 + 5 * 3) % 5) in extract


def test_resume_notices_a_changed_exposure_file(tmp_path):
    from scan.datasets import write_borough_csv

    write_borough_csv(tmp_path / "cancer.csv")
    table = tmp_path / "no2.csv"
    import pandas as pd

    ids = pd.read_csv(tmp_path / "cancer.csv")["id"]
    table.write_text("id,NO2\n" + "".join(f"{i},{20 + k % 7}\n" for k, i in enumerate(ids)))
    config = tmp_path / "b.toml"
    config.write_text("[batch]\nreplications = 9\n[[analysis]]\nname='c'\ncommand='spatial'\n"
                      "data='cancer.csv'\nexposure=['no2.csv']\n")
    out = tmp_path / "out"
    assert run_batch(config, out)["finished"] == 1
    assert run_batch(config, out)["skipped"] == 1
    table.write_text(table.read_text().replace(",20\n", ",21\n"))
    assert run_batch(config, out)["finished"] == 1


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, capsys):
    config = tmp_path / "b.toml"
    config.write_text("[batch]\nreplications = 9\n[[analysis]]\nname='c'\ncommand='spatial'\n"
                      "data='builtin:borough'\n")
    out = tmp_path / "out"
    with batch_lock(out):                           # another run holds the folder
        assert main(["batch", str(config), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "is running a batch there: wait for it to finish, or use another --out" in err
    assert not (out / "analyses").exists()
    assert main(["batch", str(config), "--out", str(out), "--quiet"]) == 0   # free again


def test_batch_out_must_be_scans_own(tmp_path, capsys):
    config = tmp_path / "b.toml"
    config.write_text("[[analysis]]\nname='c'\ncommand='spatial'\ndata='builtin:borough'\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("x")
    assert main(["batch", str(config), "--out", str(tmp_path / "mine"), "--quiet"]) == 2
    assert "holds files scan did not write (thesis.docx)" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "mine")) == ["thesis.docx"]
    assert main(["batch", str(config), "--out", str(config), "--quiet"]) == 2
    assert "it is a file" in capsys.readouterr().err


def test_only_with_an_unknown_name_is_an_error(tmp_path, capsys):
    config = tmp_path / "b.toml"
    config.write_text("[[analysis]]\nname='cancer'\ncommand='spatial'\ndata='builtin:borough'\n")
    assert main(["batch", str(config), "--out", str(tmp_path / "o"), "--only", "cancr"]) == 2
    err = capsys.readouterr().err
    assert "'--only' must be names of analyses in the config; got 'cancr'" in err
    assert "the config has cancer" in err


def test_batch_marker_and_lock_are_the_only_extra_files(tmp_path):
    config = tmp_path / "b.toml"
    config.write_text("[batch]\nreplications = 9\n[[analysis]]\nname='c'\ncommand='spatial'\n"
                      "data='builtin:borough'\n")
    out = tmp_path / "out"
    run_batch(config, out)
    assert sorted(os.listdir(out)) == sorted([BATCH_MARKER, ".scan-batch.lock", "analyses",
                                              "inputs", "run-log.jsonl", "summary.csv"])
    assert [e["event"] for e in events(out)] == ["batch-start", "start", "finished", "batch-end"]
