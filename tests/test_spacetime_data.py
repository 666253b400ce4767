"""Space-time data: intervals, temporal window sizes, census interpolation, readers, SaTScan
sample files end to end (through the CLI) and the embedded borough."""
import datetime
import json

import numpy as np
import pytest
from conftest import REFERENCE, needs_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from scan.data import build_spacetime_data
from scan.datasets import borough_spacetime
from scan.errors import ScanInputError
from scan.io.prm import satscan_prm_spacetime
from scan.io.satscan import read_satscan_spacetime
from scan.io.spacetime_csv import read_spacetime_csv
from scan.spacetime import spacetime_scan
from scan.timeline import interval_person_time, max_temporal_intervals, time_intervals

D = np.datetime64
SAMPLES = REFERENCE / "satscan_samples"


# --- intervals ----------------------------------------------------------------------------------

def test_intervals_count_back_from_end_and_first_is_longer():
    starts, ends = time_intervals("2020-01-01", "2020-01-10", "day", 3)
    assert starts.tolist() == [D("2020-01-01"), D("2020-01-05"), D("2020-01-08")]
    assert ends.tolist() == [D("2020-01-04"), D("2020-01-07"), D("2020-01-10")]


def test_intervals_exact_fit_and_calendar_units():
    starts, ends = time_intervals("1973-01-01", "1991-12-31", "year", 1)
    assert len(starts) == 19
    assert str(starts[0]) == "1973-01-01" and str(ends[0]) == "1973-12-31"
    starts, ends = time_intervals("2001-01-15", "2001-12-31", "month", 1)
    assert str(starts[0]) == "2001-01-15" and str(ends[0]) == "2001-02-28"   # longer first
    assert str(starts[1]) == "2001-03-01" and len(starts) == 11
    starts, ends = time_intervals("2023-01-02", "2023-12-31", "week", 1)
    assert len(starts) == 52 and (np.diff(starts) == np.timedelta64(7, "D")).all()
    starts, ends = time_intervals("2020-03-31", "2020-06-30", "month", 1)  # day clamped
    assert [str(s) for s in starts] == ["2020-03-31", "2020-05-01", "2020-06-01"]
    starts, ends = time_intervals("2020-01-01", "2020-01-02", "week", 1)   # shorter than a unit
    assert len(starts) == 1 and str(ends[0]) == "2020-01-02"


def test_month_end_rule_as_satscan():
    from scan.timeline import shift_back, study_length_in_units

    # 31 March: one month back rolls over to 1 March, two months back is 31 January
    assert str(shift_back(D("2020-03-31"), "month", 1)) == "2020-03-01"
    assert str(shift_back(D("2020-03-31"), "month", 2)) == "2020-01-31"
    assert str(shift_back(D("2020-03-31"), "month", 4)) == "2019-12-01"   # November has 30
    assert str(shift_back(D("2020-02-29"), "year", 1)) == "2019-03-01"
    assert str(shift_back(D("2020-01-15"), "month", 3)) == "2019-10-15"
    starts, ends = time_intervals("2020-01-01", "2020-03-30", "month")
    assert [str(v) for v in starts] == ["2020-01-01", "2020-03-01"]
    assert [str(v) for v in ends] == ["2020-02-29", "2020-03-30"]
    assert study_length_in_units("1973-01-01", "1991-12-31", "year") == 19
    assert study_length_in_units("2001-01-15", "2001-12-31", "month") == pytest.approx(11 + 17 / 31)
    assert study_length_in_units("2001-11-01", "2001-11-24", "week") == 24   # days


def test_max_temporal_intervals():
    assert max_temporal_intervals("1973-01-01", "1991-12-31", "year", 1, 19) == 9
    assert max_temporal_intervals("2023-01-02", "2023-12-31", "week", 1, 52) == 26
    assert max_temporal_intervals("2001-11-01", "2001-11-24", "day", 1, 24, max_length=7) == 7
    # floor(floor(24 days * 0.5) / 5 days) = 2; weeks count as 7 days: floor(floor(30 / 2) / 7)
    assert max_temporal_intervals("2001-11-01", "2001-11-30", "week", 1, 4, fraction=0.5) == 2
    assert max_temporal_intervals("2001-11-01", "2001-11-24", "day", 5, 4, fraction=0.5) == 2
    assert max_temporal_intervals("2001-11-01", "2001-11-24", "day", 2, 12, max_length=7) == 3


# --- census interpolation -----------------------------------------------------------------------

def test_person_time_by_hand():
    # census on 2000-07-01 (1000) and 2010-07-01 (2000): constant before, linear between
    days = np.array(["2000-07-01", "2010-07-01"], dtype="datetime64[D]")
    values = np.array([[1000.0, 2000.0]])
    starts = np.array(["1999-01-01", "2000-01-01", "2005-01-01", "2012-01-01"],
                      dtype="datetime64[D]")
    ends = np.array(["1999-12-31", "2000-12-31", "2005-12-31", "2012-12-31"], dtype="datetime64[D]")
    got = interval_person_time(days, values, starts, ends)[0]
    span = 3652.0                       # days from 2000-07-01 to 2010-07-01
    slope = 1000.0 / span

    def pop(day):                       # day as days since 2000-07-01
        return 1000.0 + slope * min(max(day, 0.0), span)

    # 1999: 365 days at 1000
    assert got[0] == pytest.approx(365 * 1000.0)
    # 2000: 182 days (Jan 1 - Jun 30) at 1000, then Jul 1 - Dec 31 (184 days) linear
    assert got[1] == pytest.approx(182 * 1000.0 + 184 * (pop(0) + pop(184)) / 2)
    # 2005: from day 1645 (2005-01-01) to day 2010 (2006-01-01), linear throughout
    a = float((D("2005-01-01") - D("2000-07-01")).astype(int))
    assert got[2] == pytest.approx(365 * (pop(a) + pop(a + 365)) / 2)
    # 2012: after the last census, constant 2000 for 366 days (leap year)
    assert got[3] == pytest.approx(366 * 2000.0)


def test_expected_counts_covariate_adjusted_by_hand():
    # two locations, two strata, one census (constant populations), two yearly intervals
    start, end = "2001-01-01", "2002-12-31"
    data = build_spacetime_data(
        ["a", "b"], [[0, 0], [1, 0]], case_loc=[0, 0, 1, 1], case_day=np.array(
            ["2001-03-01", "2002-03-01", "2001-05-01", "2002-05-01"], dtype="datetime64[D]"),
        case_count=[3, 1, 2, 4], case_stratum=[0, 1, 1, 0], n_strata=2, start=start, end=end,
        time_unit="year", census_loc=[0, 0, 1, 1], census_day=np.array(["2001-07-01"] * 4,
                                                                        dtype="datetime64[D]"),
        census_value=[100.0, 300.0, 200.0, 50.0], census_stratum=[0, 1, 0, 1], crs=None)
    days = np.array([365.0, 365.0])
    pt = {("a", 0): 100 * days, ("a", 1): 300 * days, ("b", 0): 200 * days, ("b", 1): 50 * days}
    risk0 = (3 + 4) / (300 * 730.0)   # stratum 0 cases / person-days
    risk1 = (1 + 2) / (350 * 730.0)
    want = np.array([risk0 * pt["a", 0] + risk1 * pt["a", 1],
                     risk0 * pt["b", 0] + risk1 * pt["b", 1]])
    np.testing.assert_allclose(data.expected, want, rtol=1e-12)
    assert data.expected.sum() == pytest.approx(10.0)
    np.testing.assert_array_equal(data.cases, [[3, 1], [2, 4]])


def test_case_outside_study_period_is_named():
    with pytest.raises(ScanInputError, match="case date 2003-01-01 is outside the study period"):
        build_spacetime_data(["a"], [[0, 0]], case_loc=[0], case_day=[D("2003-01-01")],
                             case_count=[1], start="2001-01-01", end="2002-12-31",
                             time_unit="year", crs=None)


# --- CSV ----------------------------------------------------------------------------------------

def _write_csv(path, rows, header="id,x,y,time,cases,population"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_years(tmp_path):
    rows = [f"{i},{x},{y},{year},{c},{p}" for i, x, y, p in
            [("A", 0, 0, 100), ("B", 3, 4, 200), ("C", 10, 0, 300)]
            for year, c in [(2011, 1), (2012, 2), (2013, 5)]]
    data = read_spacetime_csv(_write_csv(tmp_path / "a.csv", rows), crs=None)
    assert data.time_unit == "year" and data.n_intervals == 3
    assert str(data.study_start) == "2011-01-01" and str(data.study_end) == "2013-12-31"
    np.testing.assert_allclose(data.population, [100, 200, 300])
    assert data.expected.sum() == pytest.approx(data.total_cases)
    res = spacetime_scan(data, analysis="prospective", n_replications=9, rng=1)
    assert res.clusters[0].end == "2013-12-31"


def test_csv_errors(tmp_path):
    bad = _write_csv(tmp_path / "b.csv", ["A,0,0,2011,1,100", "A,0,0,20x1,1,100"])
    with pytest.raises(ScanInputError, match=r"b.csv, line 3, field 'time'"):
        read_spacetime_csv(bad, crs=None)
    bad = _write_csv(tmp_path / "c.csv", ["A,0,0,2011,1,100", "A,1,0,2012,1,100"])
    with pytest.raises(ScanInputError, match=r"line 3, field 'x/y'.*one x, y"):
        read_spacetime_csv(bad, crs=None)
    bad = _write_csv(tmp_path / "d.csv", ["A,0,0,2011,1.5,100"])
    with pytest.raises(ScanInputError, match=r"line 2, field 'cases'"):
        read_spacetime_csv(bad, crs=None)
    bad = _write_csv(tmp_path / "e.csv", ["A,0,0,2011,1"], header="id,x,y,when,cases")
    with pytest.raises(ScanInputError, match="missing column"):
        read_spacetime_csv(bad, crs=None)


def test_csv_case_only_allows_permutation(tmp_path):
    rows = [f"{i},{x},0,2020-01-0{d},{c}" for i, x in [("A", 0), ("B", 1), ("C", 2)]
            for d, c in [(1, 1), (2, 3), (3, 2)]]
    data = read_spacetime_csv(_write_csv(tmp_path / "p.csv", rows, "id,x,y,time,cases"), crs=None)
    assert data.expected is None and data.time_unit == "day"
    res = spacetime_scan(data, model="permutation", n_replications=9, rng=1)
    assert res.parameters["model"] == "permutation"


# --- borough ------------------------------------------------------------------------------------

def test_borough_weekly_permutation_finds_planted_outbreak():
    from scan.datasets import load_borough

    data = borough_spacetime()
    assert data.cases.shape == (110, 52) and data.time_unit == "week"
    res = spacetime_scan(data, model="permutation", analysis="prospective", n_replications=99,
                         rng=20261129)
    planted = load_borough().planted["flu_like"]
    top = res.clusters[0]
    assert set(planted.ids) <= set(top.members)
    assert top.start == str(planted.weeks[0]) and top.end == "2023-12-31"
    assert top.recurrence_interval == pytest.approx(7.0 / top.p_value)


# --- SaTScan sample files -----------------------------------------------------------------------

@needs_reference
def test_new_mexico_settings_from_prm():
    data, kw = satscan_prm_spacetime(SAMPLES / "NewMexicoSpaceTimePoisson.prm")
    assert kw["model"] == "poisson" and kw["analysis"] == "retrospective"
    assert kw["max_population_fraction"] == 0.5 and kw["max_temporal_fraction"] == 0.5
    assert "max_radius" not in kw and kw["min_cases"] == 2 and kw["n_replications"] == 999
    assert data.n_locations == 32 and data.n_intervals == 19 and data.time_unit == "year"
    assert data.coordinates == "latlong"
    assert len(data.extra["strata_names"]) == 36         # 18 age groups x 2 sexes (nm.pop)
    assert data.expected.sum() == pytest.approx(data.total_cases)
    assert data.total_cases == sum(int(line.split()[1]) for line in
                                   (SAMPLES / "nm.cas").read_text().split("\n") if line.strip())


@needs_reference
def test_nyc_settings_from_prm():
    data, kw = satscan_prm_spacetime(SAMPLES / "NYCSpaceTimePermutation.prm")
    assert kw["model"] == "permutation" and kw["analysis"] == "prospective"
    assert kw["max_radius"] == 3.0 and kw["max_temporal_length"] == 7
    assert data.n_intervals == 24 and str(data.study_start) == "2001-11-01"
    assert str(data.study_end) == "2001-11-24" and data.coordinates == "latlong"


def _cli(argv):
    from scan.cli import main

    return main(argv)


@needs_reference
def test_new_mexico_end_to_end_through_cli(tmp_path):
    s = SAMPLES
    out = tmp_path / "nm"
    rc = _cli(["spacetime", "--cas", str(s / "nm.cas"), "--pop", str(s / "nm.pop"), "--geo",
               str(s / "nm.geo"), "--coordinates", "latlong", "--start", "1973/1/1", "--end",
               "1991/12/31", "--time-aggregation", "year", "--model", "poisson", "--analysis",
               "retrospective", "--max-temporal-fraction", "0.5", "--max-population-fraction",
               "0.5", "--replications", "99", "--seed", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    res = json.loads((out / "result.json").read_text())
    assert res["analysis"] == "retrospective space-time"
    assert res["parameters"]["max_temporal_intervals"] == 9
    top = res["clusters"][0]
    assert {"start", "end"} <= set(top) and "recurrence_interval" not in top
    # the explicit flags and the .prm give the same analysis
    rc = _cli(["spacetime", "--prm", str(s / "NewMexicoSpaceTimePoisson.prm"), "--replications",
               "99", "--seed", "1", "--out", str(tmp_path / "nm2"), "--quiet"])
    again = json.loads((tmp_path / "nm2" / "result.json").read_text())
    assert again["clusters"][0]["llr"] == pytest.approx(top["llr"], rel=1e-12)
    assert again["null_distribution"] == res["null_distribution"]


@needs_reference
def test_nyc_end_to_end_through_cli(tmp_path):
    s = SAMPLES
    out = tmp_path / "nyc"
    rc = _cli(["spacetime", "--cas", str(s / "NYCfever.cas"), "--geo", str(s / "NYCfever.geo"),
               "--coordinates", "latlong", "--start", "2001/11/1", "--end", "2001/11/24",
               "--time-aggregation", "day", "--model", "permutation", "--analysis",
               "prospective", "--max-temporal-length", "7", "--max-radius", "3",
               "--replications", "99", "--seed", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    res = json.loads((out / "result.json").read_text())
    assert res["analysis"] == "prospective space-time"
    for c in res["clusters"]:
        assert c["end"] == "2001-11-24" and c["radius"] <= 3.0
        assert c["recurrence_interval"] == pytest.approx(1.0 / c["p_value"])
    assert (out / "clusters.geojson").exists()


@needs_reference
def test_read_satscan_spacetime_matches_prm_route():
    s = SAMPLES
    a = read_satscan_spacetime(s / "nm.cas", geo=s / "nm.geo", pop=s / "nm.pop",
                               coordinates="latlong", start="1973/1/1", end="1991/12/31",
                               time_aggregation="year")
    b, _ = satscan_prm_spacetime(s / "NewMexicoSpaceTimePoisson.prm")
    np.testing.assert_array_equal(a.cases, b.cases)
    np.testing.assert_allclose(a.expected, b.expected, rtol=1e-12)


def test_csv_weekly_through_cli(tmp_path):
    """The borough's weekly counts as the CLI's CSV, weeks dated by their Monday."""
    from scan.datasets import borough_weekly, load_borough

    df = borough_weekly()
    areas = load_borough().areas.set_index("id")
    df["x"] = areas.loc[df["id"], "x"].to_numpy()
    df["y"] = areas.loc[df["id"], "y"].to_numpy()
    df["time"] = df["week_start"].dt.strftime("%Y-%m-%d")
    path = tmp_path / "weekly.csv"
    df[["id", "x", "y", "time", "cases", "population"]].to_csv(path, index=False)
    data = read_spacetime_csv(path, time_aggregation="week")
    assert data.n_intervals == 52 and str(data.study_end) == "2023-12-31"
    direct = borough_spacetime()
    np.testing.assert_array_equal(data.cases, direct.cases)
    np.testing.assert_allclose(data.expected, direct.expected, rtol=1e-12)
    out = tmp_path / "out"
    rc = _cli(["spacetime", str(path), "--time-aggregation", "week",
               "--model", "permutation", "--analysis", "prospective", "--max-temporal-length",
               "8", "--earlier-analyses", "3", "--replications", "19", "--seed", "2", "--out",
               str(out), "--quiet"])
    assert rc == 0
    res = json.loads((out / "result.json").read_text())
    top = res["clusters"][0]
    assert res["parameters"]["max_temporal_intervals"] == 8
    assert res["parameters"]["n_earlier_analyses"] == 3
    adj = 1 - (1 - top["p_value"]) ** (1 / 4)
    assert top["recurrence_interval"] == pytest.approx(7 / adj)
    assert top["end"] == "2023-12-31"
    assert (out / "clusters.geojson").exists() and (out / "locations.csv").exists()


def test_cli_errors(tmp_path, capsys):
    assert _cli(["spacetime", "--out", str(tmp_path / "x")]) == 2
    assert "'DATA' must be a CSV file with columns id,x,y,time,cases" in capsys.readouterr().err


@settings(max_examples=200, deadline=None)
@given(start=st.dates(min_value=datetime.date(1990, 1, 1), max_value=datetime.date(2030, 1, 1)),
       days=st.integers(0, 3000), unit=st.sampled_from(["day", "week", "month", "year"]),
       length=st.integers(1, 4))
def test_intervals_partition_the_period(start, days, unit, length):
    """Contiguous, cover [start, end], counted back from the end (every interval but the first
    is exactly `length` units), first interval at least one whole interval when possible."""
    from scan.timeline import shift_back

    start = np.datetime64(start, "D")
    end = start + days
    starts, ends = time_intervals(start, end, unit, length)
    assert starts[0] == start and ends[-1] == end
    np.testing.assert_array_equal(starts[1:], ends[:-1] + 1)
    assert (ends >= starts).all()
    k = len(starts)
    for j in range(1, k):   # interval j (from the end: k - j) starts k - j steps back
        assert starts[j] == shift_back(end + 1, unit, (k - j) * length)
    b_k = shift_back(end + 1, unit, k * length)          # the boundary merged away, if any
    if b_k >= start:
        # the first interval holds one whole interval [b_k, ...) and a remainder shorter than
        # a whole interval before it (none for an exact fit)
        assert b_k == start or shift_back(end + 1, unit, (k + 1) * length) < start
    else:
        assert k == 1                # the whole period is shorter than one interval


@needs_reference
@pytest.mark.parametrize("key,value,match", [
    # ScanAreas=2/3, AdjustForEarlierAnalyses and IterativeScan are implemented now
    # (test_spacetime_parity.py, test_prm_spatial.py)
    ("RiskLimitLowClusters", "y", "set it to n"),
    ("MinimumCasesInLowRateClusters", "2", "low-rate clusters have no minimum"),
    ("AnalysisType", "1", "use 2, 3 or 4"),
    ("TimeTrendAdjustmentType", "2", "no adjustment"),
])
def test_prm_settings_not_implemented_are_refused(tmp_path, key, value, match):
    from scan.errors import ScanParameterError

    text = (SAMPLES / "NewMexicoSpaceTimePoisson.prm").read_text()
    lines = [f"{key}={value}" if line.startswith(f"{key}=") else line
             for line in text.splitlines()]
    prm = tmp_path / "changed.prm"
    prm.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScanParameterError, match=match):
        satscan_prm_spacetime(prm, base_dir=SAMPLES)


def test_csv_population_conflict_and_case_file_without_dates(tmp_path):
    bad = _write_csv(tmp_path / "f.csv", ["A,0,0,2011,1,100", "A,0,0,2011,2,150"])
    with pytest.raises(ScanInputError, match=r"line 3, field 'population'.*one population"):
        read_spacetime_csv(bad, crs=None)
    cas = tmp_path / "a.cas"
    cas.write_text("A 1\nB 2\n")
    geo = tmp_path / "a.geo"
    geo.write_text("A 0 0\nB 1 1\n")
    from scan.io.satscan import read_satscan_data, satscan_spacetime_data

    records = read_satscan_data(cas, geo=geo, dates=False)
    with pytest.raises(ScanInputError, match="the case file has no dates"):
        satscan_spacetime_data(records, time_aggregation="day")
