"""SaTScan input files: parsing, errors naming file/line/field, aggregation, the reference data."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scan.errors import ScanInputError, ScanParameterError
from scan.io.csv import read_csv
from scan.io.prm import prm_settings, read_prm
from scan.io.satscan import (
    read_counts,
    read_geo,
    read_population,
    read_satscan,
    read_satscan_data,
)
from scan.timeline import census_instant, parse_date, time_averaged_population

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "satscan_samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="reference data absent")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ----------------------------------------------------------------------------- dates
@pytest.mark.parametrize("text, day, precision", [
    ("2001/11/3", "2001-11-03", "day"),
    ("2001/11", "2001-11-01", "month"),
    ("1977", "1977-01-01", "year"),
    ("2001-11-03", "2001-11-03", "day"),
    ("11/3/2001", "2001-11-03", "day"),
    ("11/2001", "2001-11-01", "month"),
    ("73", "1973-01-01", "year"),
])
def test_parse_date(text, day, precision):
    assert parse_date(text) == (np.datetime64(day), precision)


def test_two_digit_years_follow_the_study_period():
    assert parse_date("05", period=(np.datetime64("2000-01-01"), np.datetime64("2010-12-31")))[0] \
        == np.datetime64("2005-01-01")
    period = (np.datetime64("1995-01-01"), np.datetime64("2004-12-31"))
    assert parse_date("97", period=period)[0] == np.datetime64("1997-01-01")
    assert parse_date("03", period=period)[0] == np.datetime64("2003-01-01")
    with pytest.raises(ScanInputError, match=r"two-digit year in '50' falls outside"):
        parse_date("50", period=period)
    with pytest.raises(ScanInputError, match=r"two-digit year in '50' is ambiguous"):
        parse_date("50", period=(np.datetime64("1890-01-01"), np.datetime64("2004-12-31")))


@pytest.mark.parametrize("text, match", [
    ("2001/13/1", r"'2001/13/1' is not a date \(month 13 is not 1-12\)"),
    ("2001/2/30", r"'2001/2/30' is not a date \(day 30 does not exist in 2001/02\)"),
    ("Nov2001", r"'Nov2001' is not a date \(expected digits separated by '/'\)"),
    ("2001/1/1/1", r"'2001/1/1/1' is not a date"),
])
def test_bad_dates(text, match):
    with pytest.raises(ScanInputError, match=match):
        parse_date(text, file="f.cas", line=4, field="date")


def test_census_instant_is_mid_year_or_mid_month():
    times = np.array(["1980-01-01", "1980-03-01", "1980-03-07"], dtype="datetime64[D]")
    got = census_instant(times, np.array(["year", "month", "day"]))
    np.testing.assert_array_equal(got, np.array(["1980-07-01", "1980-03-15", "1980-03-07"],
                                                dtype="datetime64[D]"))


# ----------------------------------------------------------------------------- time averaging
def daily_average(census, values, start, end):
    """Independent reference: the curve is linear within each day, so the mean over a day is
    the mean of its two ends; average those day means."""
    days = np.arange(np.datetime64(start), np.datetime64(end) + 2).astype(np.int64)
    p = np.interp(days, np.asarray(census, "datetime64[D]").astype(np.int64), values)
    return np.mean(0.5 * (p[:-1] + p[1:]))


@pytest.mark.parametrize("census, values, start, end", [
    (["1980-07-01", "1990-07-01"], [100.0, 200.0], "1980-01-01", "1990-12-31"),
    (["1973-07-01", "1982-07-01", "1991-07-01"], [10.0, 40.0, 25.0], "1973-01-01", "1991-12-31"),
    (["1973-07-01", "1982-07-01", "1991-07-01"], [10.0, 40.0, 25.0], "1985-03-01", "1986-02-28"),
    (["2000-07-01"], [7.0], "1990-01-01", "2010-12-31"),
    (["1980-07-01", "1990-07-01"], [100.0, 0.0], "1995-01-01", "1999-12-31"),
])
def test_time_averaged_population_matches_daily_reference(census, values, start, end):
    got = time_averaged_population(np.array(census, dtype="datetime64[D]"),
                                   np.array([values]), np.datetime64(start), np.datetime64(end))
    assert got[0] == pytest.approx(daily_average(census, values, start, end), rel=1e-12)


def test_population_from_two_censuses(tmp_path):
    cas = write(tmp_path, "a.cas", "A 3 1980\nB 1 1990\n")
    pop = write(tmp_path, "a.pop", "A 1980 100\nA 1990 200\nB 1980 50\nB 1990 50\n")
    geo = write(tmp_path, "a.geo", "A 0 0\nB 1 1\n")
    area = read_satscan(cas, geo=geo, pop=pop)
    want = daily_average(["1980-07-01", "1990-07-01"], [100, 200], "1980-01-01", "1990-12-31")
    np.testing.assert_allclose(area.population, [want, 50.0])
    # an explicit study period changes the average
    cas = write(tmp_path, "b.cas", "A 3 1986\nB 1 1990\n")
    area = read_satscan(cas, geo=geo, pop=pop, start="1985", end="1990")
    want = daily_average(["1980-07-01", "1990-07-01"], [100, 200], "1985-01-01", "1990-12-31")
    assert area.population[0] == pytest.approx(want)


def test_population_without_case_dates_uses_census_span(tmp_path):
    cas = write(tmp_path, "a.cas", "A 3\nB 1\n")
    pop = write(tmp_path, "a.pop", "A 1980 100\nA 1990 200\nB 1980 50\nB 1990 50\n")
    geo = write(tmp_path, "a.geo", "A 0 0\nB 1 1\n")
    area = read_satscan(cas, geo=geo, pop=pop)
    want = daily_average(["1980-07-01", "1990-07-01"], [100, 200], "1980-01-01", "1990-12-31")
    assert area.population[0] == pytest.approx(want)


def test_covariates_become_strata(tmp_path):
    cas = write(tmp_path, "a.cas", "A 2 2000 1 m\nA 1 2000 2 f\nB 1 2000 1 m\n")
    pop = write(tmp_path, "a.pop", "A 2000 10 1 m\nA 2000 30 2 f\nB 2000 20 1 m\nB 2000 40 2 f\n")
    geo = write(tmp_path, "a.geo", "A 0 0\nB 1 1\n")
    area = read_satscan(cas, geo=geo, pop=pop)
    assert area.strata_names == ("1|m", "2|f")
    np.testing.assert_array_equal(area.case_strata, [[2, 1], [1, 0]])
    np.testing.assert_array_equal(area.population_strata, [[10, 30], [20, 40]])
    rates = np.array([3 / 30, 1 / 70])
    np.testing.assert_allclose(area.expected, [10 * rates[0] + 30 * rates[1],
                                               20 * rates[0] + 40 * rates[1]])


def test_case_covariates_missing_from_population(tmp_path):
    cas = write(tmp_path, "a.cas", "A 2 2000 1 m\nB 1 2000 3 m\n")
    pop = write(tmp_path, "a.pop", "A 2000 10 1 m\nB 2000 20 1 m\n")
    geo = write(tmp_path, "a.geo", "A 0 0\nB 1 1\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, line 2, field 'covariates': covariates "
                                             r"'3 m' do not match any covariate category"):
        read_satscan(cas, geo=geo, pop=pop)


# ----------------------------------------------------------------------------- errors
def test_wrong_number_of_columns(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1 2001/1/1\n\nB 1\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, line 3: 2 columns but expected 3 "
                                             r"\(location id, #cases, date\)"):
        read_counts(cas)


def test_case_columns_must_fit_population_covariates(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1 2001 1 2 3\n")
    pop = write(tmp_path, "a.pop", "A 2001 10 1\n")
    geo = write(tmp_path, "a.geo", "A 0 0\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, line 1: 6 columns, but with 1 covariates "
                                             r"in the population file expected 3 \(without a "
                                             r"date\) or 4 \(with a date\)"):
        read_satscan(cas, geo=geo, pop=pop)


@pytest.mark.parametrize("text, match", [
    ("A 1\nB x\n", r"a\.cas, line 2, field '#cases': 'x' is not a number"),
    ("A 1\nB -2\n", r"a\.cas, line 2, field '#cases': '-2' is negative"),
    ("A 1\nB 1.5\n", r"a\.cas, line 2, field '#cases': '1.5' is not a whole number"),
])
def test_bad_counts(tmp_path, text, match):
    with pytest.raises(ScanInputError, match=match):
        read_counts(write(tmp_path, "a.cas", text))


def test_bad_date_names_line(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1 2001/11/2\nB 1 2001/11/31\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, line 2, field 'date': '2001/11/31' is "
                                             r"not a date"):
        read_counts(cas)


def test_case_location_missing_from_geo(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1\nZ 1\n")
    ctl = write(tmp_path, "a.ctl", "A 1\n")
    geo = write(tmp_path, "a.geo", "A 0 0\nB 1 1\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, line 2, field 'location id': location id "
                                             r"'Z' is not in the coordinates file .*a\.geo"):
        read_satscan(cas, geo=geo, ctl=ctl, model="bernoulli")


def test_population_location_missing_from_geo(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1\n")
    pop = write(tmp_path, "a.pop", "A 2000 10\nQ 2000 10\n")
    geo = write(tmp_path, "a.geo", "A 0 0\n")
    with pytest.raises(ScanInputError, match=r"a\.pop, line 2, field 'location id': location id "
                                             r"'Q' is not in the coordinates file"):
        read_satscan(cas, geo=geo, pop=pop)


def test_control_location_missing_from_geo(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1\n")
    ctl = write(tmp_path, "a.ctl", "A 1\nQ 3\n")
    geo = write(tmp_path, "a.geo", "A 0 0\n")
    with pytest.raises(ScanInputError, match=r"a\.ctl, line 2, field 'location id': location id "
                                             r"'Q' is not in the coordinates file"):
        read_satscan(cas, geo=geo, ctl=ctl, model="bernoulli")


@pytest.mark.parametrize("text, coordinates, match", [
    ("A 0 0\nB 1 1\nA 2 2\n", "cartesian",
     r"a\.geo, line 3, field 'location id': location id 'A' already appears on line 1"),
    ("A 0 0\nB nan 1\n", "cartesian", r"a\.geo, line 2, field 'x': 'nan' is not a finite number"),
    ("A 0 0\nB 1 z\n", "cartesian", r"a\.geo, line 2, field 'y': 'z' is not a number"),
    ("A 0 0\nB 1 1 1\n", "cartesian", r"a\.geo, line 2: 4 columns but expected 3"),
    ("A 40 -74\nB 95 -74\n", "latlong",
     r"a\.geo, line 2, field 'latitude': latitude 95 is outside \[-90, 90\]"),
    ("A 40 -74\nB 40 -190\n", "latlong",
     r"a\.geo, line 2, field 'longitude': longitude -190 is outside \[-180, 180\]"),
    ("", "cartesian", r"a\.geo: no records"),
])
def test_geo_errors(tmp_path, text, coordinates, match):
    with pytest.raises(ScanInputError, match=match):
        read_geo(write(tmp_path, "a.geo", text), coordinates=coordinates)


def test_population_errors(tmp_path):
    with pytest.raises(ScanInputError, match=r"a\.pop, line 2, field 'population': '-5' is "
                                             r"negative"):
        read_population(write(tmp_path, "a.pop", "A 2000 10\nB 2000 -5\n"))
    with pytest.raises(ScanInputError, match=r"a\.pop, line 1: 2 columns but expected 3"):
        read_population(write(tmp_path, "a.pop", "A 2000\n"))
    with pytest.raises(ScanInputError, match=r"a\.pop, line 2, field 'date': '2000/14' is not"):
        read_population(write(tmp_path, "a.pop", "A 2000 1\nB 2000/14 1\n"))


def test_missing_files_for_the_model(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1\n")
    geo = write(tmp_path, "a.geo", "A 0 0\n")
    with pytest.raises(ScanParameterError, match=r"parameter 'pop' must be a population file "
                                                 r"for the Poisson model; got None\. pass "
                                                 r"pop='file\.pop'"):
        read_satscan(cas, geo=geo)
    with pytest.raises(ScanParameterError, match=r"parameter 'ctl' must be a control file for "
                                                 r"the Bernoulli model; got None\. pass "
                                                 r"ctl='file\.ctl'"):
        read_satscan(cas, geo=geo, model="bernoulli")


def test_case_date_outside_study_period(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1 2001/11/2\nA 1 2001/12/2\n")
    geo = write(tmp_path, "a.geo", "A 0 0\n")
    with pytest.raises(ScanInputError, match=r"a\.cas, line 2, field 'date': date 2001-12-02 is "
                                             r"outside the study period 2001-11-01 to 2001-11-30"):
        read_satscan_data(cas, geo=geo, start="2001/11/1", end="2001/11")


def test_start_after_end(tmp_path):
    cas = write(tmp_path, "a.cas", "A 1\n")
    geo = write(tmp_path, "a.geo", "A 0 0\n")
    with pytest.raises(ScanParameterError, match=r"parameter 'start/end' must be a study period"):
        read_satscan_data(cas, geo=geo, start="2002", end="2001")
    with pytest.raises(ScanParameterError, match=r"parameter 'start' must be a date"):
        read_satscan_data(cas, geo=geo, start="soon")


# ----------------------------------------------------------------------------- agreement with CSV
@st.composite
def location_tables(draw):
    ids = draw(st.lists(st.from_regex(r"[0-9A-Za-z_]{1,6}", fullmatch=True), min_size=1,
                        max_size=10, unique=True))
    n = len(ids)
    coord = st.floats(-1e5, 1e5, allow_nan=False, allow_infinity=False)
    xs = draw(st.lists(coord, min_size=n, max_size=n))
    ys = draw(st.lists(coord, min_size=n, max_size=n))
    cases = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    cases[0] = max(cases[0], 1)
    controls = draw(st.lists(st.integers(1, 300), min_size=n, max_size=n))
    return ids, xs, ys, cases, controls


def write_both(tmp: Path, table) -> dict[str, str]:
    ids, xs, ys, cases, controls = table
    population = [c + k for c, k in zip(cases, controls)]
    with open(tmp / "t.csv", "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "x", "y", "cases", "population"])
        out.writerows(zip(ids, xs, ys, cases, population))
    # cases split over two records per location, in another order, to exercise aggregation
    cas = [f"{i} {c // 2}" for i, c in zip(ids, cases)] + \
        [f"{i} {c - c // 2}" for i, c in reversed(list(zip(ids, cases)))]
    (tmp / "t.cas").write_text("\n".join(cas) + "\n")
    (tmp / "t.ctl").write_text("".join(f"{i}\t{k}\r\n" for i, k in zip(ids, controls)))
    (tmp / "t.pop").write_text("".join(f"{i} 2000 {p}\n" for i, p in zip(ids, population)))
    (tmp / "t.geo").write_text("".join(f"{i} {x!r} {y!r}\n" for i, x, y in zip(ids, xs, ys)))
    return {k: str(tmp / f"t.{k}") for k in ("csv", "cas", "ctl", "pop", "geo")}


def assert_same_area(a, b):
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.coords, b.coords)
    np.testing.assert_array_equal(a.cases, b.cases)
    np.testing.assert_array_equal(a.population, b.population)
    np.testing.assert_array_equal(a.expected, b.expected)


@settings(max_examples=30, deadline=None)
@given(location_tables())
def test_csv_and_satscan_routes_agree(table):
    with tempfile.TemporaryDirectory() as tmp:
        f = write_both(Path(tmp), table)
        assert_same_area(read_csv(f["csv"], crs=None),
                         read_satscan(f["cas"], geo=f["geo"], pop=f["pop"]))
        assert_same_area(read_csv(f["csv"], crs=None, model="bernoulli"),
                         read_satscan(f["cas"], geo=f["geo"], ctl=f["ctl"], model="bernoulli"))


def test_latlong_routes_agree(tmp_path):
    (tmp_path / "t.csv").write_text("id,x,y,cases,population\n"
                                    "10001,-73.99674,40.75037,3,100\n10002,-73.99,40.72199,1,50\n")
    geo = write(tmp_path, "t.geo", "10001 40.75037 -73.99674\n10002 40.72199 -73.99\n")
    cas = write(tmp_path, "t.cas", "10001 3\n10002 1\n")
    pop = write(tmp_path, "t.pop", "10001 2000 100\n10002 2000 50\n")
    assert_same_area(read_csv(tmp_path / "t.csv", coordinates="latlong"),
                     read_satscan(cas, geo=geo, pop=pop, coordinates="latlong"))


# ----------------------------------------------------------------------------- parser properties
@st.composite
def case_records(draw):
    n = draw(st.integers(1, 15))
    ids = draw(st.lists(st.from_regex(r"[0-9A-Za-z]{1,5}", fullmatch=True), min_size=n,
                        max_size=n))
    counts = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))
    days = draw(st.lists(st.dates(min_value=__import__("datetime").date(1900, 1, 1),
                                  max_value=__import__("datetime").date(2099, 12, 31)),
                         min_size=n, max_size=n))
    blanks = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return ids, counts, days, blanks


def write_cases(path: Path, ids, counts, days, blanks) -> list[int]:
    lines, numbers = [], []
    for i, c, d, b in zip(ids, counts, days, blanks):
        if b:
            lines.append("   ")
        lines.append(f"{i}\t{c}  {d.year}/{d.month}/{d.day}")
        numbers.append(len(lines))
    path.write_text("\n".join(lines) + "\n")
    return numbers


@settings(max_examples=40, deadline=None)
@given(case_records())
def test_case_file_round_trip(records):
    ids, counts, days, blanks = records
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.cas"
        numbers = write_cases(path, ids, counts, days, blanks)
        got = read_counts(path)
    assert got.ids.tolist() == ids
    np.testing.assert_array_equal(got.counts, counts)
    np.testing.assert_array_equal(got.times, np.array(days, dtype="datetime64[D]"))
    assert set(got.time_precision.tolist()) == {"day"}
    np.testing.assert_array_equal(got.lines, numbers)


@settings(max_examples=40, deadline=None)
@given(case_records(), st.data())
def test_case_file_single_corruption_names_its_line(records, data):
    ids, counts, days, blanks = (list(r) for r in records)
    row = data.draw(st.integers(0, len(ids) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.cas"
        numbers = write_cases(path, ids, counts, days, blanks)
        text = path.read_text().split("\n")
        fields = text[numbers[row] - 1].split()
        # the first record sets the layout, so an extra column is an error on later rows only
        which = data.draw(st.sampled_from(["count", "date"] + (["width"] if row else [])))
        if which == "count":
            fields[1] = data.draw(st.sampled_from(["-1", "x", "0.5", "nan"]))
        elif which == "date":
            fields[2] = data.draw(st.sampled_from(["2001/13/1", "2001/2/30", "d", "1/2/3/4"]))
        else:
            fields.append("extra")
        text[numbers[row] - 1] = " ".join(fields)
        path.write_text("\n".join(text))
        with pytest.raises(ScanInputError, match=rf"r\.cas, line {numbers[row]}\b"):
            read_counts(path)


# ----------------------------------------------------------------------------- reference data
def columns(name: str) -> list[list[str]]:
    return [line.split() for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


@needs_samples
def test_new_mexico():
    area = read_satscan(SAMPLES / "nm.cas", geo=SAMPLES / "nm.geo", pop=SAMPLES / "nm.pop",
                        coordinates="latlong")
    assert area.n_locations == 32
    assert area.total_cases == 1175 == sum(int(r[1]) for r in columns("nm.cas"))
    strata = {f"{r[3]}|{r[4]}" for r in columns("nm.pop")}
    assert len(strata) == 36 and set(area.strata_names) == strata
    assert area.case_strata.shape == area.population_strata.shape == (32, 36)
    lon, lat = area.coords[:, 0], area.coords[:, 1]
    assert ((lon > -109.1) & (lon < -103.0)).all() and ((lat > 31.3) & (lat < 37.0)).all()
    assert area.coordinates == "latlong"
    # population: time average over 1973-01-01..1991-12-31 of census values at July 1 of
    # 1973, 1982, 1991 (two-digit years in nm.pop), checked for one county independently
    rows = [r for r in columns("nm.pop") if r[0] == "Bernalillo"]
    totals = [sum(float(r[2]) for r in rows if r[1] == y) for y in ("73", "82", "91")]
    want = daily_average(["1973-07-01", "1982-07-01", "1991-07-01"], totals,
                         "1973-01-01", "1991-12-31")
    i = area.ids.tolist().index("Bernalillo")
    assert area.population[i] == pytest.approx(want, rel=1e-9)
    assert area.expected.sum() == pytest.approx(1175)


@needs_samples
def test_new_mexico_raw_records():
    data = read_satscan_data(SAMPLES / "nm.cas", geo=SAMPLES / "nm.geo", pop=SAMPLES / "nm.pop",
                             coordinates="latlong")
    assert (data.start, data.end) == (np.datetime64("1973-01-01"), np.datetime64("1991-12-31"))
    assert len(data.cases.counts) == 1175 and set(data.cases.time_precision) == {"year"}
    assert data.cases.covariates[0] == ("2", "2")           # Grant 1 1977 2 2
    np.testing.assert_array_equal(np.unique(data.population.times),
                                  np.array(["1973-01-01", "1982-01-01", "1991-01-01"],
                                           dtype="datetime64[D]"))
    assert len(data.population.populations) == 3456


@needs_samples
def test_north_humberside_bernoulli():
    area = read_satscan(SAMPLES / "NHumberside.cas", geo=SAMPLES / "NHumberside.geo",
                        ctl=SAMPLES / "NHumberside.ctl", model="bernoulli")
    cases = sum(int(r[1]) for r in columns("NHumberside.cas"))
    controls = sum(int(r[1]) for r in columns("NHumberside.ctl"))
    assert area.n_locations == 191 == len(columns("NHumberside.geo"))
    assert area.total_cases == cases
    assert area.total_population == cases + controls
    assert area.crs is None and area.coordinates == "cartesian"
    first = columns("NHumberside.geo")[0]
    np.testing.assert_array_equal(area.coords[0], [float(first[1]), float(first[2])])


@needs_samples
def test_nyc_fever_dates():
    data = read_satscan_data(SAMPLES / "NYCfever.cas", geo=SAMPLES / "NYCfever.geo",
                             coordinates="latlong")
    rows = columns("NYCfever.cas")
    assert len(data.cases.ids) == len(rows)
    assert data.cases.counts.sum() == sum(int(r[1]) for r in rows)
    assert data.cases.times.dtype == np.dtype("datetime64[D]")
    assert data.cases.times.min() >= np.datetime64("2001-11-01")
    assert data.cases.times.max() <= np.datetime64("2001-11-24")
    assert data.cases.times[0] == np.datetime64("2001-11-22")        # 11229 1 2001/11/22
    # lat/long swapped into (lon, lat)
    assert data.geo.coords[0].tolist() == [-73.99674, 40.75037]


@needs_samples
@pytest.mark.parametrize("name", ["NHumbersideSpatialBernoulli.prm",
                                  "NYCSpaceTimePermutation.prm",
                                  "NewMexicoSpaceTimePoisson.prm"])
def test_read_prm_returns_the_values_in_the_file(name):
    raw = read_prm(SAMPLES / name)
    lines = [l.strip() for l in (SAMPLES / name).read_text().splitlines()]
    settings_lines = [l for l in lines if l and not l.startswith((";", "["))]
    assert len(raw) == len(settings_lines)
    for line in settings_lines:
        key, value = line.split("=", 1)
        assert raw[key] == value.strip()


@needs_samples
def test_prm_settings_of_the_samples():
    nm = prm_settings(SAMPLES / "NewMexicoSpaceTimePoisson.prm")
    assert nm["CaseFile"] == "nm.cas" and nm["PopulationFile"] == "nm.pop"
    assert nm["ControlFile"] is None
    assert nm["CoordinatesType"] == "latlong" and nm["ModelType"] == "poisson"
    assert nm["AnalysisType"] == "retrospective space-time"
    assert nm["PrecisionCaseTimes"] == "year" and nm["TimeAggregationUnits"] == "year"
    assert nm["StartDate"] == np.datetime64("1973-01-01")
    assert nm["EndDate"] == np.datetime64("1991-12-31")
    assert nm["MonteCarloReps"] == 999 and nm["MaxSpatialSizeInPopulationAtRisk"] == 50.0
    nh = prm_settings(SAMPLES / "NHumbersideSpatialBernoulli.prm")
    assert nh["ModelType"] == "bernoulli" and nh["AnalysisType"] == "purely spatial"
    assert nh["CoordinatesType"] == "cartesian" and nh["PrecisionCaseTimes"] == "none"
    nyc = prm_settings(SAMPLES / "NYCSpaceTimePermutation.prm")
    assert nyc["ModelType"] == "space-time permutation"
    assert nyc["MaxTemporalSizeInterpretation"] == "time" and nyc["MaxTemporalSize"] == 7.0
    assert nyc["ScanAreas"] == "high"


def test_prm_errors(tmp_path):
    bad = write(tmp_path, "a.prm", "[Input]\n;comment\nCaseFile=a.cas\nnonsense\n")
    with pytest.raises(ScanInputError, match=r"a\.prm, line 4: 'nonsense' is not a 'Key=value'"):
        read_prm(bad)
    dup = write(tmp_path, "b.prm", "[Input]\nCaseFile=a.cas\n[Other]\nCaseFile=b.cas\n")
    with pytest.raises(ScanInputError, match=r"b\.prm, line 4, field 'CaseFile': setting "
                                             r"'CaseFile' already appears on line 2"):
        read_prm(dup)
    enum = write(tmp_path, "c.prm", "[Analysis]\nModelType=42\n")
    with pytest.raises(ScanInputError, match=r"c\.prm, line 2, field 'ModelType': '42' is not "
                                             r"one of 0 \(poisson\), 1 \(bernoulli\)"):
        prm_settings(enum)
    reps = write(tmp_path, "d.prm", "[Inference]\nMonteCarloReps=many\n")
    with pytest.raises(ScanInputError, match=r"d\.prm, line 2, field 'MonteCarloReps': 'many' is "
                                             r"not an integer"):
        prm_settings(reps)
    assert prm_settings({"CoordinatesType": "1", "EndDate": "2001/11"}) == {
        "CoordinatesType": "latlong", "EndDate": np.datetime64("2001-11-30")}
