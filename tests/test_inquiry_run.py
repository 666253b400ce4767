"""The Stage 2a inquiry as a whole: the dict on the embedded borough (the planted cluster area is
significant, a quiet area is not), external reference rates not rescaled, per-year O/E, choosing
areas by id, name, ward or point, exposure context, disclosure control, writing, and every
error message pinned.  (SIR, interval and p against scipy: tests/test_inquiry_stats.py.)"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import shapely

import scan
from scan.datasets import CANCER_CLUSTER_IDS, load_borough
from scan.demo import INQUIRY_AREA, QUIET_AREA
from scan.errors import ScanParameterError
from scan.inquiry import INQUIRY_KEYS, inquiry, public_inquiry, run_inquiry, write_inquiry
from scan.inquiry import stats as S
from scan.inquiry.run import select_areas
from scan.io.boundaries import Boundaries

R = 99
SEED = 7


@pytest.fixture(scope="module")
def borough():
    return scan.borough_study_area("cancer")


@pytest.fixture(scope="module")
def cluster_inquiry(borough):
    return inquiry(borough, areas=[INQUIRY_AREA], condition="cancer registrations",
                   n_replications=R, rng=SEED)


@pytest.fixture(scope="module")
def quiet_inquiry(borough):
    return inquiry(borough, areas=[QUIET_AREA], condition="cancer registrations",
                   n_replications=R, rng=SEED)


# --- the whole dict on the embedded borough -------------------------------------------------------

def test_keys_follow_the_contract(cluster_inquiry):
    d = cluster_inquiry
    assert tuple(d) == INQUIRY_KEYS
    assert d["created_by"] == "scan inquiry" and d["scan_version"].startswith(scan.__version__)
    assert set(d["focus"]) >= {"kind", "ids", "names", "label", "x", "y", "radius"}
    assert set(d["study_area"]) >= {"n_areas", "observed", "expected", "population", "source",
                                    "locations", "boundaries"}
    assert set(d["areas"][0]) >= {"id", "name", "observed", "expected", "sir", "sir_ci95",
                                  "p_value", "mid_p", "reference", "per_year"}
    assert set(d["focused"]) >= {"expected", "stone", "scan", "besag_newell"}
    assert set(d["focused"]["stone"]) >= {"statistic", "k", "p_value", "n_replications", "ids"}
    assert set(d["focused"]["scan"]) >= {"llr", "members", "observed", "expected",
                                         "relative_risk", "radius", "p_value", "n_replications"}
    assert set(d["focused"]["besag_newell"]) >= {"k", "m", "observed", "expected", "p_value"}
    assert set(d["borough_scan"]) >= {"clusters", "significant", "area_in_significant_cluster",
                                      "cluster_rank", "sir_rank", "n_areas", "n_replications"}
    assert set(d["verdict"]) == {"significant_excess", "headline", "paragraphs"}
    assert set(d["method"]) >= {"tests", "seed", "n_replications", "alpha"}
    assert d["combined"] is None and d["exposure"] is None and d["period"] is None
    json.dumps(d)                                  # plain JSON types only


def test_the_planted_cluster_area_is_significant(cluster_inquiry, borough):
    d = cluster_inquiry
    i = list(borough.ids).index(INQUIRY_AREA)
    a = d["areas"][0]
    assert a["id"] == INQUIRY_AREA and a["reference"] == "internal"
    assert a["observed"] == borough.cases[i] and a["expected"] == borough.expected[i]
    want = S.sir(int(borough.cases[i]), float(borough.expected[i]))
    assert (a["sir"], a["sir_ci95"], a["p_value"], a["mid_p"]) == (
        want.sir, [want.ci_low, want.ci_high], want.p_value, want.mid_p)
    assert a["p_value"] < 0.05 and d["verdict"]["significant_excess"] is True
    assert d["verdict"]["headline"].startswith("Yes: there is a statistically significant "
                                               "excess of cancer registrations in SYN038")
    b = d["borough_scan"]
    assert b["area_in_significant_cluster"] and b["cluster_rank"] == 1 and 1 in b["significant"]
    ml = b["clusters"][0]
    assert ml["rank"] == 1 and INQUIRY_AREA in ml["members"]
    assert set(ml["members"]) <= set(CANCER_CLUSTER_IDS)
    ratio = borough.cases / borough.expected
    assert b["sir_rank"] == 1 + int((ratio > ratio[i]).sum()) and b["n_areas"] == 110
    assert "inside a statistically significant cluster" in d["verdict"]["paragraphs"][1]
    assert d["focused"]["scan"]["members"][0] == INQUIRY_AREA
    assert d["focused"]["stone"]["p_value"] <= 0.05 and d["focused"]["scan"]["p_value"] <= 0.05
    # Besag-Newell with k = the area's own count: the area itself holds them (m = 1), so p is
    # the exact p-value of its count on the study area's rates
    bn = d["focused"]["besag_newell"]
    assert (bn["k"], bn["m"]) == (a["observed"], 1) and bn["p_value"] == pytest.approx(
        a["p_value"], rel=1e-12)


def test_a_quiet_area_is_not(quiet_inquiry):
    d = quiet_inquiry
    a = d["areas"][0]
    assert a["id"] == QUIET_AREA and a["p_value"] > 0.5
    assert d["verdict"]["significant_excess"] is False
    assert d["verdict"]["headline"].startswith("No: the number of cancer registrations in "
                                               "SYN100 is not more than chance would explain")
    assert not d["borough_scan"]["area_in_significant_cluster"]
    assert "does not find the area inside a statistically significant cluster" in \
        d["verdict"]["paragraphs"][1]


def test_caveats_and_method_are_never_hidden(cluster_inquiry):
    d = cluster_inquiry
    assert d["caveats"][0].startswith("Post-hoc: the area came to attention because its count "
                                      "looked high")
    assert any("not with England" in c for c in d["caveats"])          # internal reference
    tests = " ".join(d["method"]["tests"])
    for word in ("SIR", "Garwood", "Stone", "log-likelihood ratio (LLR)", "Besag-Newell",
                 "SeedSequence"):
        assert word in tests
    assert d["method"]["seed"] == SEED and d["method"]["n_replications"] == R


def test_same_seed_same_numbers(borough, cluster_inquiry):
    again = inquiry(borough, areas=[INQUIRY_AREA], condition="cancer registrations",
                    n_replications=R, rng=SEED)
    assert json.dumps(again, sort_keys=True) == json.dumps(cluster_inquiry, sort_keys=True)


# --- external reference rates ---------------------------------------------------------------------

def _write_long(tmp_path, rows, locations, rates=None, header="id,sex,cases,population"):
    (tmp_path / "cases.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "locations.csv").write_text("\n".join(locations) + "\n")
    if rates is not None:
        (tmp_path / "rates.csv").write_text("sex,rate\n" + "\n".join(rates) + "\n")
    return tmp_path / "cases.csv", tmp_path / "locations.csv", tmp_path / "rates.csv"


LOCATIONS = ["id,x,y,name,ward", "A,0,0,Chadwell Heath 001A,Chadwell Heath",
             "B,100,0,Chadwell Heath 001B,Chadwell Heath", "C,0,100,Whalebone 002A,Whalebone",
             "D,300,300,Whalebone 002B,Whalebone", "E,600,0,Becontree 003A,Becontree",
             "F,600,600,Becontree 003B,Becontree"]


def test_reference_rates_are_not_rescaled(tmp_path):
    # rates of 1/16 and 1/8 per person-year, 2 years: A's cases equal population x rate x years
    rows = ["A,m,4,32", "A,f,8,32",            # expected 32/16*2 + 32/8*2 = 4 + 8 = 12
            "B,m,9,16", "B,f,9,16", "C,m,7,48", "C,f,3,16", "D,m,2,16", "D,f,1,16",
            "E,m,20,32", "E,f,5,16", "F,m,1,16", "F,f,1,16"]
    cases, locs, rates = _write_long(tmp_path, rows, LOCATIONS, ["m,0.0625", "f,0.125"])
    d = inquiry(cases, locations=locs, strata=("sex",), reference_rates=rates, years=2,
                areas=["A"], n_replications=19, rng=1)
    a = d["areas"][0]
    assert a["observed"] == 12 and a["expected"] == 12.0 and a["sir"] == 1.0
    assert a["reference"] == "external" and d["reference"] == "external"
    # the study area as a whole is far from the reference, so a rescaling would move A's SIR
    assert d["study_area"]["observed"] != d["study_area"]["expected"]
    assert "not rescaled" in d["reference_description"]
    assert d["standardisation"] == {"strata": ["sex"], "method": "indirect", "n_strata": 2}
    assert d["period"] == {"start": None, "end": None, "years": 2}
    assert any("not rescaled to the study area's total" in c for c in d["caveats"])


def test_per_year_observed_and_expected(tmp_path):
    rows = []
    for year, (a, b) in {2018: (3, 1), 2019: (6, 2), 2020: (1, 2)}.items():
        rows += [f"A,m,{year},{a},100", f"B,m,{year},{b},100", f"C,m,{year},2,100"]
    locs = ["id,x,y", "A,0,0", "B,100,0", "C,0,100"]
    cases, loc_path, _ = _write_long(tmp_path, rows, locs, header="id,sex,year,cases,population")
    d = inquiry(cases, locations=loc_path, strata=("sex",), areas=["A", "B"],
                n_replications=19, rng=1)
    assert d["period"] == {"start": "2018", "end": "2020", "years": 3}
    per = d["areas"][0]["per_year"]
    assert [p["year"] for p in per] == [2018, 2019, 2020]
    assert [p["observed"] for p in per] == [3, 6, 1]
    # internal rates pooled over the years: 21 cases / 900 person-years x 100
    assert [p["expected"] for p in per] == pytest.approx([100 * 21 / 900] * 3)
    assert sum(p["expected"] for p in per) == pytest.approx(d["areas"][0]["expected"])
    comb = d["combined"]
    assert comb["ids"] == ["A", "B"] and comb["observed"] == 15
    assert [p["observed"] for p in comb["per_year"]] == [4, 8, 3]


# --- choosing the areas ---------------------------------------------------------------------------

@pytest.fixture
def named(tmp_path):
    rows = [f"{k},m,{c},{p}" for k, c, p in zip("ABCDEF", (9, 4, 3, 2, 5, 1),
                                                (100, 100, 300, 100, 100, 100))]
    cases, locs, _ = _write_long(tmp_path, rows, LOCATIONS)
    return scan.io.long.read_long_csv(cases, locations=locs, strata=("sex",)), locs


def _wards(locs):
    from scan.inquiry.run import read_location_column

    return read_location_column(locs, "ward", list("ABCDEF"))


def test_select_by_name_and_by_ward(named):
    area, locs = named
    s = select_areas(area, area_names=["  chadwell   HEATH 001b "])
    assert s.kind == "name" and area.ids[s.indices].tolist() == ["B"] and s.focus == "B"
    assert s.label == "B (Chadwell Heath 001B)"
    s = select_areas(area, area_names=["whalebone"], wards=_wards(locs))
    assert area.ids[s.indices].tolist() == ["C", "D"] and s.label == "Whalebone ward (2 areas)"
    # several areas: the focus is their population-weighted centroid (300 and 100 people)
    assert s.focus == pytest.approx((75.0, 150.0)) and (s.x, s.y) == pytest.approx((75, 150))


def test_ward_names_through_inquiry(named):
    _, locs = named
    d = inquiry(locs.parent / "cases.csv", locations=locs, strata=("sex",),
                area_names=["Chadwell Heath"], n_replications=19, rng=1)
    assert d["focus"]["kind"] == "name" and d["focus"]["ids"] == ["A", "B"]
    assert d["focus"]["names"] == ["Chadwell Heath 001A", "Chadwell Heath 001B"]
    assert d["combined"]["observed"] == 13 and d["question"] == \
        "Is there an excess of cases in Chadwell Heath ward (2 areas)?"


@pytest.mark.parametrize("text, match", [
    ("Chadwell", r"parameter 'area_names' \(--area-name\) must be a whole name of one area or "
                 r"ward; got 'Chadwell'\. it is part of 3 names: 'Chadwell Heath', 'Chadwell "
                 r"Heath 001A', 'Chadwell Heath 001B'; give one of them in full, or --area ID"),
    ("Whalebone 002C", r"must be a name in the locations' name or ward column \(.*cases\.csv\); "
                       r"got 'Whalebone 002C'\. close matches: 'Whalebone 002B', 'Whalebone "
                       r"002A'"),
])
def test_name_errors_list_close_matches(named, text, match):
    area, locs = named
    with pytest.raises(ScanParameterError, match=match):
        select_areas(area, area_names=[text], wards=_wards(locs))


def test_select_by_point(named):
    area, _ = named
    s = select_areas(area, near=(10, 10))
    assert s.kind == "point" and area.ids[s.indices].tolist() == ["A"] and s.radius is None
    s = select_areas(area, near=(0, 0), radius=150)           # A at 0, B and C at 100
    assert area.ids[s.indices].tolist() == ["A", "B", "C"] and s.focus == (0.0, 0.0)
    assert s.label == "the 3 areas within 150 m of 0, 0"
    # with polygons the circle needs only to reach the area: D's square starts at 250, 250
    # (354 m away) while its centre is 424 m away
    squares = [shapely.box(x - 50, y - 50, x + 50, y + 50) for x, y in area.coords]
    s = select_areas(area, near=(0, 0), radius=360, polygons=squares)
    assert area.ids[s.indices].tolist() == ["A", "B", "C", "D"]
    assert area.ids[select_areas(area, near=(0, 0), radius=360).indices].tolist() == \
        ["A", "B", "C"]
    s = select_areas(area, near=(620, 590), polygons=squares)  # inside F's square
    assert area.ids[s.indices].tolist() == ["F"]


@pytest.mark.parametrize("kw, match", [
    ({}, r"parameter 'areas' \(--area\) must be at least one area; got 'none'\. name it by id "
         r"\(--area E01000031\), by name \(--area-name \"Chadwell Heath\"\) or by a point"),
    ({"areas": ["Z"]}, r"must be location ids of the study area \(.*\); got 'Z'\. ids look "
                       r"like 'A', 'B', 'C'"),
    ({"areas": ["a"]}, r"got 'a'\. did you mean 'A'\?"),
    ({"radius": 100}, r"parameter 'radius' must be given with near; got 100\. pass "
                      r"near=\(x, y\) \(CLI --near X,Y\) with it"),
    ({"near": (0, 0), "areas": ["A"]}, r"parameter 'near' must be None when areas or "
                                       r"area_names are given; got \(0, 0\)\. ask about named "
                                       r"areas or about a point, not both"),
    ({"near": (5000, 5000), "radius": 10},
     r"must be a point inside the study area; got '5000,5000'\. no area location lies within "
     r"10 m of it; the nearest area is 'F', 6,223 m away: give a larger --radius"),
    ({"near": ("x", 1)}, r"parameter 'near' must be a point \(x, y\) of two numbers; got "
                         r"\('x', 1\)\. CLI: --near 548000,188000"),
])
def test_selection_errors(named, kw, match):
    area, _ = named
    with pytest.raises(ScanParameterError, match=match):
        select_areas(area, **kw)


def test_names_needed_for_area_names(borough):
    with pytest.raises(ScanParameterError, match=r"the locations have no names: add a name "
                                                 r"column \(id,x,y,name\), or use --area ID"):
        select_areas(borough, area_names=["Chadwell Heath"])


@pytest.mark.parametrize("kw, match", [
    ({"condition": "  "}, r"parameter 'condition' must be a few words naming the cases; got "
                          r"'  '\. e\.g\. \"cancer registrations\""),
    ({"strata": ("sex",)}, r"parameter 'strata' must be given only with a cases file; got "
                           r"'synthetic borough \(cancer\)'"),
    ({"alpha": 0.7}, r"parameter 'alpha' must be a finite number in \(0, 0\.5\]; got 0\.7"),
    ({"suppress_below": 1}, r"'suppress_below' \(--suppress-below\) must be a whole number in "
                            r"\[2, 1,000\] or None; got 1"),
])
def test_parameter_errors(borough, kw, match):
    with pytest.raises(ScanParameterError, match=match):
        run_inquiry(borough, areas=["SYN001"], **{"n_replications": 0, **kw})


def test_long_form_options_need_locations(tmp_path):
    (tmp_path / "c.csv").write_text("id,x,y,cases,population\nA,0,0,1,10\n")
    with pytest.raises(ScanParameterError, match=r"parameter 'locations' must be a locations "
                                                 r"CSV \(id,x,y\[,name\]\) with the long-form "
                                                 r"cases; got None\. pass --locations FILE"):
        run_inquiry(tmp_path / "c.csv", strata=("sex",), areas=["A"])


# --- exposure -------------------------------------------------------------------------------------

def test_exposure_percentile_limits_and_adjustment(named, tmp_path):
    area, _ = named
    no2 = {"A": 45.0, "B": 30.0, "C": 20.0, "D": 30.0, "E": 12.0, "F": 8.0}
    table = tmp_path / "no2.csv"
    table.write_text("id,NO2\n" + "\n".join(f"{k},{v}" for k, v in no2.items()) + "\n")
    d = inquiry(area, areas=["B"], exposure=[str(table)], n_replications=19, rng=3)
    e = d["exposure"]["NO2"]
    pop = dict(zip("ABCDEF", (100, 100, 300, 100, 100, 100)))
    below = sum(pop[k] for k, v in no2.items() if v < 30) + 0.5 * (pop["B"] + pop["D"])
    assert e["value"] == 30.0 and e["percentile"] == pytest.approx(100 * below / 800)
    assert e["study_mean"] == pytest.approx(sum(pop[k] * v for k, v in no2.items()) / 800)
    assert (e["uk_limit"], e["who_guideline"]) == (40.0, 10.0)
    assert (e["above_uk_limit"], e["above_who_guideline"]) == (False, True)
    assert e["units"] == "µg/m³" and e["how"] == "the value given for each area"
    adj = d["exposure"]["adjusted"]
    assert adj["pollutant"] == "NO2" and adj["area_sir_adjusted"] > 0
    assert d["exposure"]["missing"] == {"NO2": 0}
    assert "Air quality in the area" in d["verdict"]["paragraphs"][3]


def test_exposure_from_grids_with_polygons(borough):
    from scan.exposure.summary import polygon_means
    from scan.exposure.synthetic import synthetic_laei

    b = load_borough()
    grids = synthetic_laei()
    bounds = Boundaries(ids=tuple(borough.ids), polygons=tuple(b.polygons), names=None,
                        crs="EPSG:27700", source="test")
    run = run_inquiry(borough, areas=[INQUIRY_AREA], exposure=[grids], boundaries=bounds,
                      n_replications=19, rng=1)
    i = list(borough.ids).index(INQUIRY_AREA)
    want = polygon_means(grids["NO2"], b.polygons)[i]
    assert run.data["exposure"]["NO2"]["value"] == pytest.approx(want)
    assert run.data["exposure"]["NO2"]["how"] == "mean of the grid over each area's polygon"
    assert run.grid is not None and run.grid.name == "NO2" and run.map_pollutant == "NO2"


# --- disclosure control ---------------------------------------------------------------------------

def test_public_file_suppresses_small_counts(named):
    area, _ = named
    d = inquiry(area, areas=["C", "D"], n_replications=19, rng=1, suppress_below=5)
    assert d["suppressed_below"] == 5 and d["areas"][0]["observed"] == 3
    pub = public_inquiry(d, 5)
    c, dd = pub["areas"]
    assert c["observed"] == "<5" and c["sir"] is None and c["sir_ci95"] is None
    assert c["p_value"] is None and c["suppressed"] is True and c["expected"] > 0
    assert pub["combined"]["observed"] == 5 and "suppressed" not in pub["combined"]
    text = json.dumps(pub["verdict"])
    assert "There were 5 cases" in text                     # the combined count, not small
    pub9 = public_inquiry(d, 9)
    assert pub9["combined"]["observed"] == "<9"
    assert "fewer than 9 cases" in pub9["verdict"]["paragraphs"][0]
    assert "SIR" not in pub9["verdict"]["paragraphs"][0].split("withheld")[0].split("(")[1]
    assert pub9["caveats"][-1].startswith("Counts from 1 to 8 are shown as <9")
    assert d["areas"][0]["observed"] == 3                  # the analyst's dict is untouched
    d["areas"][0]["observed"] = 0                          # 0 is not disclosive: it stays
    zero = public_inquiry(d, 5)["areas"][0]
    assert zero["observed"] == 0 and zero["sir"] == d["areas"][0]["sir"]
    assert "suppressed" not in zero




# --- writing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FakeGeometry:
    ids: tuple
    polygons: tuple | None
    points: np.ndarray
    names: tuple | None
    outline: object | None
    crs: str = "EPSG:27700"
    attribution: tuple = ()


def test_write_inquiry_files_and_report_call(named, tmp_path, monkeypatch):
    area, _ = named
    calls = {}

    def fake_report(path, inq, *, geometry=None, grid=None, suppress_below=None):
        calls.update(inquiry=inq, geometry=geometry, grid=grid, suppress_below=suppress_below)
        path.write_text("<html></html>")
        return path

    import scan.inquiry.run as run_module

    monkeypatch.setattr(run_module, "_report_functions", lambda: (fake_report, FakeGeometry))
    squares = [shapely.box(x - 50, y - 50, x + 50, y + 50) for x, y in area.coords]
    bounds = Boundaries(ids=tuple(area.ids), polygons=tuple(squares), names=None,
                        crs="EPSG:27700", source="squares")
    out = tmp_path / "inq"
    d = write_inquiry(out, area, areas=["A"], boundaries=bounds, suppress_below=5,
                      attribution=("Contains OS data",), n_replications=19, rng=1)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"inquiry.json", "inquiry-public.json", "report.html", "borough-scan/result.json",
            "borough-scan/clusters.geojson", "borough-scan/summary.txt", ".scan-output"} <= files
    assert json.loads((out / "inquiry.json").read_text()) == json.loads(json.dumps(d))
    assert json.loads((out / "inquiry-public.json").read_text())["suppressed_below"] == 5
    assert calls["inquiry"] is d and calls["suppress_below"] == 5
    g = calls["geometry"]
    assert g.ids == tuple(area.ids) and g.polygons[0].equals(squares[0])
    assert g.points.shape == (6, 2) and g.attribution == ("Contains OS data",)
    assert g.outline.equals(shapely.union_all(squares))
    # scan wrote the folder, so it may replace it; a foreign folder is refused before any work
    write_inquiry(out, area, areas=["A"], n_replications=0, rng=1)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ScanParameterError, match=r"holds files scan did not write \(notes\.txt\)"):
        write_inquiry(foreign, area, areas=["nonexistent"])
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_without_the_report_module_inquiry_json_is_written(named, tmp_path, monkeypatch,
                                                            caplog):
    import scan.inquiry.run as run_module

    area, _ = named
    monkeypatch.setattr(run_module, "_report_functions", lambda: (None, None))
    write_inquiry(tmp_path / "o", area, areas=["A"], n_replications=0, rng=1)
    assert (tmp_path / "o" / "inquiry.json").exists()
    assert not (tmp_path / "o" / "report.html").exists()
    assert "report.html not written" in caplog.text


def test_no_crs_no_map(tmp_path):
    from scan.inquiry.run import report_geometry

    area = scan.study_area(["A", "B", "C"], [0, 1, 2], [0, 1, 0], [3, 1, 1], [10, 10, 10],
                           crs=None)
    run = run_inquiry(area, areas=["A"], n_replications=0, rng=1)
    assert report_geometry(run, FakeGeometry) is None
    assert math.isclose(run.data["areas"][0]["expected"], 5 * 10 / 30)
