"""Users' files are sacred: what --out may replace, checked before any computation."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scan.cli import main
from scan.io import atomic
from scan.io.atomic import MARKER, check_out, clean_leftovers

ARGS = ["--replications", "9", "--seed", "1", "--quiet"]


def write_input(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "in.csv"
    lines = ["id,x,y,cases,population"]
    for i in range(20):
        lines.append(f"A{i},{545000 + 300 * (i % 5)},{183000 + 300 * (i // 5)},{i % 4},1500")
    path.write_text("\n".join(lines) + "\n")
    return path


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def data(tmp_path):
    path = write_input(tmp_path / "data")
    (tmp_path / "data" / "notes.txt").write_text("mine\n")
    return path


def refused(capsys, argv, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("scan: error:") and "Traceback" not in err
    import re

    assert re.search(pattern, err), err


def test_out_holding_the_input_is_refused_and_untouched(data, capsys):
    before = snapshot(data.parent)
    refused(capsys, ["spatial", str(data), "--out", str(data.parent), *ARGS],
            r"holds files scan did not write \(in.csv, notes.txt\); scan never deletes")
    assert snapshot(data.parent) == before


def test_out_as_the_working_folder_is_refused(data, capsys, monkeypatch):
    monkeypatch.chdir(data.parent)
    before = snapshot(data.parent)
    for out in (".", str(data.parent), "./"):
        refused(capsys, ["spatial", "in.csv", "--out", out, *ARGS], r"holds files scan did not")
    assert snapshot(data.parent) == before
    assert sorted(os.listdir(data.parent.parent)) == ["data"]   # no temporary folder left


def test_out_naming_the_input_file_is_refused(data, capsys):
    before = data.read_bytes()
    refused(capsys, ["spatial", str(data), "--out", str(data), *ARGS],
            r"is a file; scan never replaces a file it did not write")
    assert data.read_bytes() == before
    assert sorted(p.name for p in data.parent.iterdir()) == ["in.csv", "notes.txt"]


def test_out_under_a_file_is_refused_before_the_scan(data, capsys, monkeypatch):
    import scan.spatial

    def never(*a, **k):
        raise AssertionError("the scan must not start")

    monkeypatch.setattr(scan.spatial, "circular_scan", never)
    refused(capsys, ["spatial", str(data), "--out", str(data.parent / "notes.txt" / "sub"),
                     *ARGS], r"notes.txt is a file")


def test_symlinked_out_is_refused(data, tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    refused(capsys, ["spatial", str(data), "--out", str(tmp_path / "link"), *ARGS],
            r"not a symbolic link")


def test_scan_replaces_only_its_own_folder(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["spatial", str(data), "--out", str(out), *ARGS]) == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["written_by"] == "scan"
    assert set(marker["files"]) == {p.name for p in out.iterdir()} - {MARKER}
    first = (out / "result.json").read_bytes()
    assert main(["spatial", str(data), "--out", str(out), "--replications", "19", "--seed", "2",
                 "--quiet"]) == 0                     # its own folder: replaced
    assert (out / "result.json").read_bytes() != first
    (out / "my-notes.txt").write_text("mine")          # now the folder holds a user's file
    before = snapshot(out)
    refused(capsys, ["spatial", str(data), "--out", str(out), *ARGS], r"my-notes.txt")
    assert snapshot(out) == before


def test_an_empty_folder_may_be_used(data, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["spatial", str(data), "--out", str(out), *ARGS]) == 0
    assert (out / "result.json").is_file()


def test_a_forged_marker_does_not_hand_over_other_files(data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    (out / MARKER).write_text(json.dumps({"written_by": "scan", "files": ["result.json"]}))
    refused(capsys, ["spatial", str(data), "--out", str(out), *ARGS], r"thesis.docx")
    assert (out / "thesis.docx").read_text() == "years of work"


def test_leftovers_of_killed_runs_are_cleaned_and_nothing_else(tmp_path):
    target = tmp_path / "out"
    dead = 999_999_999                                     # no such process
    ours = tmp_path / f".out.scan-tmp-{dead}-abc123"
    ours.mkdir()
    (ours / MARKER).write_text(json.dumps({"written_by": "scan", "files": []}))
    (ours / "half.csv").write_text("x")
    alive = tmp_path / f".out.scan-tmp-{os.getpid()}-def456"   # a run still going
    alive.mkdir()
    (alive / MARKER).write_text(json.dumps({"written_by": "scan", "files": []}))
    lookalike = tmp_path / f".out.scan-tmp-{dead}-zzz999"    # the pattern but not scan's
    lookalike.mkdir()
    (lookalike / "user.txt").write_text("keep")
    clean_leftovers(target)
    assert not ours.exists()
    assert alive.exists() and (lookalike / "user.txt").read_text() == "keep"


def test_an_old_result_set_aside_comes_back(tmp_path):
    """A run that died between the two renames of the fallback swap: the old complete result
    is restored by the next run."""
    target = tmp_path / "out"
    aside = tmp_path / ".out.scan-old-999999999-abc"
    aside.mkdir()
    (aside / "result.json").write_text("{}")
    atomic.write_marker(aside)
    clean_leftovers(target)
    assert (target / "result.json").read_text() == "{}" and not aside.exists()


def test_the_old_result_survives_until_the_new_one_is_in_place(data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert main(["spatial", str(data), "--out", str(out), *ARGS]) == 0
    before = snapshot(out)
    seen = []
    real = atomic._exchange

    def spy(a, b):
        seen.append(snapshot(Path(b)))                     # at the swap, the old is intact
        return real(a, b)

    monkeypatch.setattr(atomic, "_exchange", spy)
    assert main(["spatial", str(data), "--out", str(out), "--replications", "19", "--quiet"]) == 0
    assert seen == [before]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_without_exchange_the_fallback_still_swaps(data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert main(["spatial", str(data), "--out", str(out), *ARGS]) == 0
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    assert main(["spatial", str(data), "--out", str(out), "--replications", "19", "--quiet"]) == 0
    assert len(json.loads((out / "result.json").read_text())["null_distribution"]) == 19
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_write_keeps_the_old_result_and_says_why(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["spatial", str(data), "--out", str(out), *ARGS]) == 0
    before = snapshot(out)
    from scan.io import writers

    def full(*a, **k):
        raise OSError(28, "No space left on device", str(out))

    monkeypatch.setitem(writers.WRITERS, "csv", full)
    assert main(["spatial", str(data), "--out", str(out), *ARGS]) == 1
    err = capsys.readouterr().err
    assert "scan: error: could not read or write" in err and "No space left" in err
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_parent_is_refused_before_the_scan(data, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        refused(capsys, ["spatial", str(data), "--out", str(ro / "out"), *ARGS], r"not writable")
    finally:
        ro.chmod(0o755)


def test_check_out_rules(tmp_path):
    assert check_out(tmp_path / "new" / "deeper") == (tmp_path / "new" / "deeper")
    (tmp_path / "f").write_text("x")
    from scan.errors import ScanParameterError

    with pytest.raises(ScanParameterError, match=r"is a file"):
        check_out(tmp_path / "f")
    with pytest.raises(ScanParameterError, match=r"holds files scan did not write \(f\)"):
        check_out(tmp_path)


def test_python_write_result_follows_the_same_rules(data, tmp_path):
    import scan
    from scan.errors import ScanParameterError

    result = scan.circular_scan(scan.read_csv(data), n_replications=9, rng=1)
    with pytest.raises(ScanParameterError, match=r"holds files scan did not write"):
        scan.write_result(result, data.parent)
    assert sorted(p.name for p in data.parent.iterdir()) == ["in.csv", "notes.txt"]
    result.write(tmp_path / "py-out", formats="csv,summary")
    assert sorted(p.name for p in (tmp_path / "py-out").iterdir()) == \
        [MARKER, "clusters.csv", "locations.csv", "result.json", "summary.txt"]


def test_an_unwritable_parent_is_refused_before_the_scan(data, tmp_path, capsys, monkeypatch):
    """The same check as above, for a run as root (who may write anywhere): the permission
    test itself answers "no"."""
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    refused(capsys, ["spatial", str(data), "--out", str(tmp_path / "ro" / "out"), *ARGS],
            r"is not writable: choose a folder of yours")
    assert not (tmp_path / "ro").exists()
