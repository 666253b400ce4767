"""The command line: contract, outputs, errors, atomic writes."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scan.cli import main
from scan.datasets import write_borough_csv


@pytest.fixture(scope="module")
def borough_csv(tmp_path_factory):
    return write_borough_csv(tmp_path_factory.mktemp("data") / "cancer.csv")


def test_spatial_contract(borough_csv, tmp_path):
    out = tmp_path / "out"
    assert main(["spatial", str(borough_csv), "--out", str(out), "--replications", "99",
                 "--seed", "7", "--quiet"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["seed"] == 7
    assert len(result["null_distribution"]) == 99
    first = result["clusters"][0]
    for key in ("center", "members", "radius", "population", "observed", "expected",
                "relative_risk", "llr", "p_value"):
        assert key in first
    llrs = [c["llr"] for c in result["clusters"]]
    assert llrs == sorted(llrs, reverse=True)
    assert {"clusters.csv", "locations.csv", "clusters.geojson", "locations.geojson",
            "summary.txt", "map.png"} <= {p.name for p in out.iterdir()}
    clusters = pd.read_csv(out / "clusters.csv")
    assert clusters["llr"].iloc[0] == pytest.approx(first["llr"])
    locations = pd.read_csv(out / "locations.csv")
    assert set(locations.loc[locations["cluster"] == 1, "id"]) == set(first["members"])


def test_geojson_is_wgs84_polygons_around_the_centre(borough_csv, tmp_path):
    out = tmp_path / "out"
    main(["spatial", str(borough_csv), "--out", str(out), "--replications", "9", "--quiet"])
    geo = json.loads((out / "clusters.geojson").read_text())
    ring = np.array(geo["features"][0]["geometry"]["coordinates"][0])
    assert (ring[0] == ring[-1]).all()
    # Barking and Dagenham: about 0.05-0.2 degrees east, 51.5-51.6 north
    assert ((ring[:, 0] > 0.0) & (ring[:, 0] < 0.25)).all()
    assert ((ring[:, 1] > 51.45) & (ring[:, 1] < 51.65)).all()
    # counter-clockwise exterior ring (RFC 7946): positive signed area
    x, y = ring[:, 0], ring[:, 1]
    assert 0.5 * np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) > 0


def test_same_answer_from_csv_and_python(borough_csv, tmp_path):
    import scan

    main(["spatial", str(borough_csv), "--out", str(tmp_path / "o"), "--replications", "19",
          "--seed", "3", "--quiet", "--max-population-fraction", "0.2"])
    cli = json.loads((tmp_path / "o" / "result.json").read_text())
    res = scan.circular_scan(scan.read_csv(borough_csv), n_replications=19, rng=3,
                             max_population_fraction=0.2)
    assert cli["clusters"][0]["members"] == list(res.most_likely.members)
    assert cli["null_distribution"] == res.null_distribution.tolist()


@pytest.mark.parametrize("argv,message", [
    (["--max-population-fraction", "0.7"],
     r"--max-population-fraction: must be a finite number in \(0, 0.5\]; got 0.7"),
    (["--max-population-fraction", "0"],
     r"--max-population-fraction: must be a finite number in \(0, 0.5\]; got 0.0"),
    (["--replications", "-1"], r"--replications: must be a whole number in \[0, 1,000,000\]"),
    (["--replications", "1e12"], r"--replications: must be a whole number in \[0, 1,000,000\]"),
    (["--replications", "2147483648"], r"--replications: must be a whole number in"),
    (["--min-cases", "1e30"], r"--min-cases: must be a whole number in \[1, 2,147,483,647\]"),
    (["--min-cases", "-5"], r"--min-cases: must be a whole number in \[1, 2,147,483,647\]"),
    (["--replications", "1_000"], r"--replications: expected a whole number, got '1_000'"),
    (["--max-radius", "-3"], r"--max-radius: must be a finite number > 0 or None; got -3.0"),
    (["--coordinates", "latlong"], r"declared longitude/latitude .* look projected"),
])
def test_bad_parameters_name_the_parameter(borough_csv, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["spatial", str(borough_csv), "--out", str(out), "--quiet"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("scan: error:")
    import re

    assert re.search(message, err), err
    assert not out.exists()


def test_bad_file_names_file_line_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,x,y,cases,population\nA,545000,185000,3,100\nB,546000,186000,-2,100\n")
    assert main(["spatial", str(bad), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "line 3" in err and "cases" in err


def test_failed_run_leaves_previous_output_untouched(borough_csv, tmp_path):
    out = tmp_path / "out"
    main(["spatial", str(borough_csv), "--out", str(out), "--replications", "9", "--quiet"])
    before = (out / "result.json").read_text()
    assert main(["spatial", str(borough_csv), "--out", str(out), "--quiet",
                 "--max-population-fraction", "0.9"]) == 2
    assert (out / "result.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_interrupted_write_leaves_nothing(borough_csv, tmp_path, monkeypatch):
    import scan
    from scan.io import writers

    res = scan.circular_scan(scan.read_csv(borough_csv), n_replications=9, rng=1)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writers, "locations_geojson", boom)
    with pytest.raises(RuntimeError):
        writers.write_result(res, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_help_documents_every_option_and_default():
    out = subprocess.run([sys.executable, "-m", "scan.cli", "spatial", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for option in ("--model", "--max-population-fraction", "--replications", "--seed",
                   "--coordinates", "--crs", "--out", "--direction", "--max-radius",
                   "--exposure", "--adjust-for", "--backend"):
        assert option in out
    text = " ".join(out.split())
    assert "(default: 999)" in text and "(default: 0.5)" in text


def test_demo_runs(tmp_path):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--replications", "99", "--quiet"]) == 0
    result = json.loads((tmp_path / "demo" / "result.json").read_text())
    top = result["clusters"][0]
    assert {"SYN029", "SYN037", "SYN038"} <= set(top["members"])
    assert set(top["exposure"]) == {"NO2", "PM10", "PM25"}
    assert "NO2" in result["adjusted"]
    assert (tmp_path / "demo" / "map.png").stat().st_size > 10_000
