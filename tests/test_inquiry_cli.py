"""`scan inquiry` end to end, the long form for `scan spatial` / `scan spacetime`, polygon
outputs from --boundaries, the summary's method lines, and the demo's inquiries."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import scan
from scan.cli import main
from scan.demo import INQUIRY_AREA, QUIET_AREA, borough_long_form
from scan.inquiry import INQUIRY_KEYS, inquiry
from scan.io.long import read_long_csv


@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    return borough_long_form(tmp_path_factory.mktemp("long"))


def _inquiry_argv(files, out, *extra):
    return ["inquiry", str(files["cases"]), "--locations", str(files["locations"]),
            "--strata", "sex,age", "--out", str(out), "--replications", "49", "--seed", "5",
            *extra]


def test_inquiry_end_to_end(long_files, tmp_path, capsys):
    out = tmp_path / "inq"
    assert main(_inquiry_argv(long_files, out, "--area", INQUIRY_AREA, "--condition",
                              "cancer registrations")) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Is there an excess of cancer registrations in SYN038?")
    assert "Yes: there is a statistically significant excess" in printed
    assert "Caveat: Post-hoc" in printed and f"outputs in {out}/" in printed
    d = json.loads((out / "inquiry.json").read_text())
    assert tuple(d) == INQUIRY_KEYS
    assert (out / "borough-scan" / "result.json").exists()
    assert (out / "borough-scan" / "summary.txt").exists()
    html = (out / "report.html").read_text(encoding="utf-8")      # scan.report.html
    assert "Is there an excess of cancer registrations in SYN038?" in html
    assert [r["id"] for r in d["locations"]] == [f"SYN{k:03d}" for k in range(1, 111)]
    # the CLI is a thin shell: the same numbers from Python, same seed
    area = read_long_csv(long_files["cases"], locations=long_files["locations"],
                         strata=("sex", "age"))
    py = inquiry(area, areas=[INQUIRY_AREA], condition="cancer registrations",
                 n_replications=49, rng=5)
    for key in ("areas", "focused", "borough_scan", "verdict"):
        assert d[key] == json.loads(json.dumps(py[key])), key
    # the long form gives the embedded borough's own age-and-sex standardised expected counts
    embedded = scan.borough_study_area("cancer")
    i = list(embedded.ids).index(INQUIRY_AREA)
    assert d["areas"][0]["expected"] == pytest.approx(embedded.expected[i], rel=1e-12)
    assert d["standardisation"] == {"strata": ["sex", "age"], "method": "indirect",
                                    "n_strata": 10}
    assert d["study_area"]["locations"] == "locations.csv"


@pytest.mark.skipif(__import__("scan.report.html", fromlist=["find_chromium"]).find_chromium()
                    is None, reason="chromium not installed (CI installs it: .ci/run)")
def test_inquiry_pdf(long_files, tmp_path, capsys):
    """--pdf: report.pdf beside report.html, printed by headless Chromium, its sections in it,
    inside the atomic output folder (listed in its manifest)."""
    import io

    from pypdf import PdfReader

    out = tmp_path / "inq"
    assert main(_inquiry_argv(long_files, out, "--area", INQUIRY_AREA, "--pdf")) == 0
    assert "report.pdf" in capsys.readouterr().out
    data = (out / "report.pdf").read_bytes()
    assert data[:5] == b"%PDF-"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).lower()
    assert "the answer" in text and "how this was done" in text and "syn038" in text
    assert "report.pdf" in (out / ".scan-output").read_text()


def test_inquiry_pdf_without_chromium_is_refused_before_the_work(long_files, tmp_path, capsys,
                                                                 monkeypatch):
    """Without Chromium, --pdf is one message with the fix, before any computation, and no
    output folder."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "inq"
    assert main(_inquiry_argv(long_files, out, "--area", INQUIRY_AREA, "--pdf")) == 2
    err = capsys.readouterr().err
    assert "--pdf" in err and "apt-get install chromium" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_inquiry_with_reference_rates(long_files, tmp_path):
    out = tmp_path / "ref"
    assert main(_inquiry_argv(long_files, out, "--area", QUIET_AREA, "--reference-rates",
                              str(long_files["reference_rates"]), "--years", "10",
                              "--suppress-below", "100", "--quiet")) == 0
    d = json.loads((out / "inquiry.json").read_text())
    cases = pd.read_csv(long_files["cases"])
    rates = pd.read_csv(long_files["reference_rates"])
    rows = cases[cases["id"] == QUIET_AREA].merge(rates, on=["sex", "age"])
    assert d["areas"][0]["expected"] == pytest.approx((rows["population"] * rows["rate"]).sum()
                                                      * 10, rel=1e-12)
    assert d["reference"] == "external" and d["verdict"]["significant_excess"] is False
    public = json.loads((out / "inquiry-public.json").read_text())
    assert public["areas"][0]["observed"] == "<100" and public["suppressed_below"] == 100


def test_inquiry_by_name_and_by_point(long_files, tmp_path):
    # the embedded borough has no names: a locations file with names and wards
    locs = pd.read_csv(long_files["locations"])
    locs["name"] = [f"Area {k:03d}" for k in range(len(locs))]
    locs["ward"] = np.where(locs["id"].isin(["SYN029", "SYN037", "SYN038"]), "Heath", "Other")
    named = tmp_path / "named.csv"
    locs.to_csv(named, index=False)
    files = dict(long_files, locations=named)
    assert main(_inquiry_argv(files, tmp_path / "w", "--area-name", "heath", "--quiet")) == 0
    d = json.loads((tmp_path / "w" / "inquiry.json").read_text())
    assert d["focus"]["kind"] == "name" and d["focus"]["ids"] == ["SYN029", "SYN037", "SYN038"]
    assert d["focus"]["label"] == "Heath ward (3 areas)" and d["combined"]["ids"] == \
        d["focus"]["ids"]
    x, y = locs.loc[locs["id"] == INQUIRY_AREA, ["x", "y"]].to_numpy()[0]
    assert main(_inquiry_argv(files, tmp_path / "p", "--near", f"{x + 10:.0f},{y:.0f}",
                              "--radius", "800", "--quiet")) == 0
    d = json.loads((tmp_path / "p" / "inquiry.json").read_text())
    assert d["focus"]["kind"] == "point" and d["focus"]["radius"] == 800
    near = np.hypot(locs["x"] - (x + 10), locs["y"] - y)
    assert sorted(d["focus"]["ids"]) == sorted(locs.loc[near <= 800, "id"])
    assert d["focus"]["ids"][0] == INQUIRY_AREA and d["focus"]["x"] == round(x + 10)
    n = len(d["focus"]["ids"])
    assert n > 1 and d["focus"]["label"] == f"the {n} areas within 800 m of {x + 10:,.0f}, " \
        f"{y:,.0f}"


@pytest.mark.parametrize("extra, message", [
    (["--area", "SYN999"], "scan: error: parameter 'areas' (--area) must be location ids of the "
                           "study area"),
    (["--area-name", "Nowhere"], "scan: error: parameter 'area_names' (--area-name) must be "
                                 "names of the locations file's 'name' or 'ward' column"),
    (["--near", "548000"], "scan: error: argument --near: expected X,Y (two numbers, e.g. "
                           "548000,188000), got '548000'"),
    (["--radius", "100", "--area", "SYN001"], "scan: error: parameter 'radius' must be given "
                                              "with near"),
    ([], "scan: error: parameter 'areas' (--area) must be at least one area"),
    (["--area", "SYN001", "--reference-rates", "nowhere.csv"],
     "scan: error: nowhere.csv: file not found (given as --reference-rates)"),
    (["--area", "SYN001", "--replications", "-1"],
     "scan: error: argument --replications: must be a whole number in [0, 1,000,000]"),
])
def test_bad_input_exits_2_with_one_line(long_files, tmp_path, extra, message):
    proc = subprocess.run([sys.executable, "-m", "scan.cli",
                           *_inquiry_argv(long_files, tmp_path / "o", *extra)],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("scan: error") == 1
    assert not (tmp_path / "o").exists()


def test_foreign_folder_and_wide_csv_errors(long_files, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(_inquiry_argv(long_files, mine, "--area", "SYN001")) == 2
    err = capsys.readouterr().err
    assert err.startswith("scan: error: parameter '--out' must be a new folder, an empty "
                          "folder or one scan wrote itself") and err.count("\n") == 1
    wide = scan.datasets.write_borough_csv(tmp_path / "wide.csv")
    assert main(["inquiry", str(wide), "--strata", "sex", "--area", "SYN001", "--out",
                 str(tmp_path / "w")]) == 2
    assert capsys.readouterr().err.startswith(
        "scan: error: parameter 'locations' must be a locations CSV (id,x,y[,name]) with the "
        "long-form cases; got None. pass --locations FILE")
    # the scan spatial CSV works without --locations (crude expected counts)
    assert main(["inquiry", str(wide), "--area", "SYN038", "--out", str(tmp_path / "w"),
                 "--replications", "9", "--quiet"]) == 0
    d = json.loads((tmp_path / "w" / "inquiry.json").read_text())
    assert d["standardisation"]["method"] == "none" and "crude" in d["reference_description"]


# --- the long form for scan spatial and scan spacetime --------------------------------------------

def test_spatial_long_form_standardises(long_files, tmp_path):
    out = tmp_path / "s"
    assert main(["spatial", str(long_files["cases"]), "--locations", str(long_files["locations"]),
                 "--strata", "sex,age", "--out", str(out), "--replications", "19", "--seed", "2",
                 "--quiet"]) == 0
    r = json.loads((out / "result.json").read_text())
    want = scan.circular_scan(scan.borough_study_area("cancer"), n_replications=19, rng=2)
    assert r["clusters"][0]["members"] == list(want.most_likely.members)
    assert r["clusters"][0]["llr"] == pytest.approx(want.most_likely.llr, rel=1e-12)
    summary = (out / "summary.txt").read_text()
    assert "expected counts: standardised (indirect) on the study area's own rates for 10 " \
           "strata (f|0-15, f|16-29, f|30-44, f|45-64, f|65+, m|0-15, ...)" in summary
    assert "Inputs:" in summary and f"locations: {long_files['locations']}" in summary
    assert r["sources"]["strata"] == ["sex", "age"]
    roles = {f["role"] for f in r["sources"]["files"]}
    assert roles == {"data", "locations"}


def test_spatial_reference_rates_say_how_they_were_scaled(long_files, tmp_path):
    out = tmp_path / "s"
    assert main(["spatial", str(long_files["cases"]), "--locations", str(long_files["locations"]),
                 "--strata", "sex,age", "--reference-rates", str(long_files["reference_rates"]),
                 "--years", "10", "--out", str(out), "--replications", "9", "--quiet"]) == 0
    summary = (out / "summary.txt").read_text()
    assert "expected counts: population x reference rates (" in summary
    assert "observed cases for the scan (it compares areas with each other); SIRs against " \
           "the reference rates themselves: scan inquiry" in summary
    assert "reference rates per 1 person-year(s) x 10 years" in summary


def test_supplied_expected_counts_rescaled_with_a_warning(tmp_path):
    csv = tmp_path / "e.csv"
    csv.write_text("id,x,y,cases,population,expected\nA,548000,188000,5,100,2\n"
                   "B,548500,188000,1,100,2\nC,549000,188000,2,100,4\n")
    assert main(["spatial", str(csv), "--out", str(tmp_path / "o"), "--replications", "9",
                 "--quiet"]) == 0
    summary = (tmp_path / "o" / "summary.txt").read_text()
    assert "expected counts: supplied with the data (8.0 in all)" in summary
    assert "WARNING: the supplied expected counts were rescaled by 1 to" not in summary
    csv.write_text("id,x,y,cases,population,expected\nA,548000,188000,5,100,4\n"
                   "B,548500,188000,1,100,4\nC,549000,188000,2,100,8\n")
    assert main(["spatial", str(csv), "--out", str(tmp_path / "o"), "--replications", "9",
                 "--quiet"]) == 0
    summary = (tmp_path / "o" / "summary.txt").read_text()
    assert "WARNING: the supplied expected counts were rescaled by 0.5 to sum to the 8 " \
           "observed cases" in summary


@pytest.mark.parametrize("argv, message", [
    (["--strata", "sex"], "scan: error: parameter 'locations' must be a locations CSV "
                          "(id,x,y[,name]) when --strata is given; got None. these options read "
                          "the long form: DATA.csv id,<strata>,cases,population and --locations "
                          "FILE"),
    (["--years", "10"], "when --years is given"),
])
def test_long_options_without_locations(argv, message, tmp_path, capsys):
    wide = scan.datasets.write_borough_csv(tmp_path / "wide.csv")
    assert main(["spatial", str(wide), "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_spatial_boundaries_give_polygon_outputs(long_files, tmp_path):
    """--boundaries (a GeoPackage in WGS84 here): clusters.geojson holds each cluster as the
    union of its members' polygons, so every member's point lies inside it; names carried."""
    borough = scan.load_borough()
    area = scan.borough_study_area("cancer")
    import pyproj

    t = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    wgs = [shapely.transform(p, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
           for p in borough.polygons]
    gpkg = tmp_path / "lsoa.gpkg"
    pyogrio.raw.write(str(gpkg), np.array([shapely.to_wkb(g) for g in wgs], dtype=object),
                      [np.array(area.ids, dtype=object)], ["LSOA11CD"], geometry_type="Polygon",
                      crs="EPSG:4326", driver="GPKG")
    locs = pd.read_csv(long_files["locations"])
    locs["name"] = "Name of " + locs["id"]
    named = tmp_path / "locations.csv"
    locs.to_csv(named, index=False)
    out = tmp_path / "s"
    assert main(["spatial", str(long_files["cases"]), "--locations", str(named), "--strata",
                 "sex,age", "--boundaries", str(gpkg), "--out", str(out), "--replications", "9",
                 "--quiet"]) == 0
    geo = json.loads((out / "clusters.geojson").read_text())
    lon, lat = t.transform(area.coords[:, 0], area.coords[:, 1])
    index = {v: i for i, v in enumerate(area.ids)}
    for f in geo["features"]:
        shape = shapely.geometry.shape(f["geometry"])
        assert shape.is_valid and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        members = [index[m] for m in f["properties"]["members"]]
        assert shapely.contains_xy(shape, lon[members], lat[members]).all()
        assert f["properties"]["member_names"] == ["Name of " + m
                                                   for m in f["properties"]["members"]]
    locations = json.loads((out / "locations.geojson").read_text())
    assert locations["features"][0]["geometry"]["type"] == "Polygon"
    assert locations["features"][0]["properties"]["name"] == "Name of SYN001"
    clusters = pd.read_csv(out / "clusters.csv")
    assert clusters["member_names"].iloc[0].startswith("Name of ")
    assert (out / "map.png").stat().st_size > 10_000
    summary = (out / "summary.txt").read_text()
    assert "Most likely cluster: centre SYN038 (Name of SYN038)" in summary
    assert f"boundaries (polygons): {gpkg}" in summary


def test_spacetime_long_form_by_year(tmp_path):
    rng = np.random.default_rng(4)
    ids = [f"L{k}" for k in range(8)]
    rows = []
    for k, loc in enumerate(ids):
        for year in range(2015, 2021):
            for sex in ("f", "m"):
                rr = 4.0 if (loc in ("L0", "L1") and year >= 2019) else 1.0
                rows.append((loc, sex, year, int(rng.poisson(5 * rr)), 1000))
    pd.DataFrame(rows, columns=["id", "sex", "year", "cases", "population"]).to_csv(
        tmp_path / "c.csv", index=False)
    pd.DataFrame({"id": ids, "x": 548000 + 300 * np.arange(8),
                  "y": 188000 + 0 * np.arange(8)}).to_csv(tmp_path / "l.csv", index=False)
    out = tmp_path / "st"
    assert main(["spacetime", str(tmp_path / "c.csv"), "--locations", str(tmp_path / "l.csv"),
                 "--strata", "sex", "--out", str(out), "--replications", "19", "--seed", "1",
                 "--quiet"]) == 0
    r = json.loads((out / "result.json").read_text())
    c = r["clusters"][0]
    assert set(c["members"]) == {"L0", "L1"} and c["start"] == "2019-01-01"
    assert c["end"] == "2020-12-31"
    # no year column: a clear error
    pd.DataFrame(rows, columns=["id", "sex", "year", "cases", "population"]).drop(
        columns="year").groupby(["id", "sex"], as_index=False).sum().to_csv(
        tmp_path / "n.csv", index=False)
    assert main(["spacetime", str(tmp_path / "n.csv"), "--locations", str(tmp_path / "l.csv"),
                 "--strata", "sex", "--out", str(tmp_path / "x"), "--quiet"]) == 2


# --- the demo ends with two inquiries -------------------------------------------------------------

def test_demo_inquiries(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--replications", "99"]) == 0
    printed = capsys.readouterr().out
    assert "Stage 2a inquiries (scan inquiry)" in printed
    assert "Yes: there is a statistically significant excess of cancer registrations in " \
           "SYN038" in printed
    assert "No: the number of cancer registrations in SYN100 is not more than chance would " \
           "explain" in printed
    assert (out / "result.json").exists() and (out / "map.png").exists()
    assert (out / f"inquiry-{INQUIRY_AREA}" / "report.html").stat().st_size > 10_000
    hot = json.loads((out / f"inquiry-{INQUIRY_AREA}" / "inquiry.json").read_text())
    quiet = json.loads((out / f"inquiry-{QUIET_AREA}" / "inquiry.json").read_text())
    assert hot["verdict"]["significant_excess"] and hot["borough_scan"][
        "area_in_significant_cluster"]
    assert not quiet["verdict"]["significant_excess"]
    assert not quiet["borough_scan"]["area_in_significant_cluster"]
    assert hot["exposure"]["NO2"]["value"] > 0
    assert hot["study_area"]["boundaries"] == "embedded synthetic borough (Voronoi cells)"
    for name in ("cancer-by-stratum.csv", "locations.csv", "reference-rates.csv"):
        assert (out / "data" / name).exists()
    # the demo may replace its own folder
    assert main(["demo", "--out", str(out), "--replications", "9", "--quiet"]) == 0
