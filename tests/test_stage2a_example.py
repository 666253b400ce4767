"""examples/stage2a_inquiry.py on the real Barking and Dagenham data (skipped without
../shared/data/real): the Chadwell Heath LSOA's inquiry with a deterministic stand-in case file."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REAL, needs_real

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "stage2a_inquiry.py"


def _example():
    spec = importlib.util.spec_from_file_location("stage2a_inquiry", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    if not REAL.is_dir():
        pytest.skip("../shared/data/real absent")
    tmp = tmp_path_factory.mktemp("stage2a")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(REAL), "--out", str(tmp / "out"),
                           "--inputs", str(tmp / "inputs"), "--replications", "99", "--seed",
                           "3"], capture_output=True, text=True, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp, proc.stdout


@needs_real
def test_example_answers_for_the_chadwell_heath_lsoa(ran):
    tmp, stdout = ran
    assert "NOT real cancer data" in stdout and "scan inquiry " in stdout
    d = json.loads((tmp / "out" / "inquiry.json").read_text())
    a = d["areas"][0]
    assert d["focus"]["ids"] == ["E01000031"] and a["name"] == "Barking and Dagenham 002A"
    assert d["question"] == ("Is there an excess of synthetic stand-in cancer registrations in "
                             "E01000031 (Barking and Dagenham 002A)?")
    # external reference: mid-2019 population x illustrative rate x 10 years, not rescaled
    ex = _example()
    pop = pd.read_csv(REAL / "lbbd_lsoa11_pop_mid2019.csv").set_index("LSOA11CD")
    want = sum(pop.loc["E01000031", f"{col}_{band}"] * rate / 100_000 * 10
               for sex, col in (("M", "Males"), ("F", "Females"))
               for band, rate in zip(ex.BANDS, ex.RATES_PER_100K[sex]))
    assert a["expected"] == pytest.approx(want, rel=1e-12) and a["reference"] == "external"
    assert a["sir"] == pytest.approx(a["observed"] / a["expected"], rel=1e-12)
    assert d["study_area"]["n_areas"] == 110 and d["study_area"]["population"] == 212_906
    assert d["study_area"]["boundaries"] == "lbbd_lsoa11_boundaries_bng.csv"
    laei = pd.read_csv(REAL / "lbbd_lsoa11_laei_concentration_summary.csv").set_index("LSOA11CD")
    assert d["exposure"]["NO2"]["value"] == pytest.approx(laei.loc["E01000031",
                                                                   "NO2-2019-mean"])
    assert any("NOT real cancer data" in s for s in d["sources"])
    assert any("Contains OS data" in s for s in d["sources"])
    assert d["verdict"]["headline"].startswith(("Yes:", "No:"))
    printed = json.loads(stdout[stdout.index("{"):stdout.rindex("}") + 1])
    assert printed["observed"] == a["observed"] and printed["headline"] == \
        d["verdict"]["headline"]
    public = json.loads((tmp / "out" / "inquiry-public.json").read_text())
    assert public["suppressed_below"] == 5
    assert (tmp / "out" / "borough-scan" / "clusters.geojson").exists()
    assert (tmp / "inputs" / "README.txt").read_text().startswith("STAND-IN CASES")


@needs_real
def test_the_report_is_written_when_scan_has_one(ran):
    pytest.importorskip("scan.report.html")
    tmp, _ = ran
    html = (tmp / "out" / "report.html").read_text(encoding="utf-8")
    d = json.loads((tmp / "out" / "inquiry.json").read_text())
    assert "E01000031" in html and d["verdict"]["headline"][:30] in html


@needs_real
def test_stand_in_cases_are_deterministic_and_in_chadwell_heath(tmp_path):
    ex = _example()
    a = ex.write_inputs(REAL, tmp_path / "a", 1.0)
    b = ex.write_inputs(REAL, tmp_path / "b", 1.0)
    assert a["cases"].read_bytes() == b["cases"].read_bytes()
    locations = pd.read_csv(a["locations"]).set_index("id")
    assert locations.loc["E01000031", "ward"] == "Chadwell Heath"
    assert (locations["ward"] != "").all()
    cases = pd.read_csv(a["cases"])
    assert len(cases) == 110 * 10 and set(cases["sex"]) == {"M", "F"}
    planted = ex.write_inputs(REAL, tmp_path / "c", 1.6)
    more = pd.read_csv(planted["cases"]).groupby("id")["cases"].sum()
    assert more["E01000031"] > cases.groupby("id")["cases"].sum()["E01000031"]


def test_example_names_a_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nowhere"), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "lacks lbbd_lsoa11_pwc.csv" in proc.stderr
    assert not (tmp_path / "o").exists()
