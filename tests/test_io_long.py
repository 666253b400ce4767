"""read_long_csv: long-form cases by stratum, locations with names, reference rates kept
unscaled, counts by year, and every error naming file, line and field."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scan
import scan.data
from scan.errors import ScanInputError, ScanParameterError
from scan.io.long import read_long_csv

LOCATIONS = "id,x,y,name\na,0,0,Alpha\nb,1,0,Beta\nc,0,2,\n"
CASES = ("id,sex,age,cases,population\n"
         "a,F,young,2,100\na,M,old,1,50\n"
         "b,F,young,0,100\nb,M,old,3,150\nb,F,old,1,10\n"
         "c,F,young,1,20\n")
RATES = "sex,age,rate,source\nF,young,0.001,x\nM,old,0.002,x\nF,old,0.004,x\nM,young,9,x\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path):
    return {"cases": write(tmp_path, "cases.csv", CASES),
            "locations": write(tmp_path, "locations.csv", LOCATIONS),
            "rates": write(tmp_path, "rates.csv", RATES)}


def read(files, **kw):
    kw.setdefault("crs", None)
    kw.setdefault("strata", ("sex", "age"))
    return read_long_csv(files["cases"], locations=files["locations"], **kw)


def test_internal_standardisation_over_strata(files):
    area = read(files)
    assert area.ids.tolist() == ["a", "b", "c"]
    assert area.names.tolist() == ["Alpha", "Beta", ""]
    assert area.strata_names == ("F|young", "M|old", "F|old")
    np.testing.assert_array_equal(area.cases, [3, 4, 1])
    np.testing.assert_array_equal(area.population, [150, 260, 20])
    np.testing.assert_array_equal(area.case_strata, [[2, 1, 0], [0, 3, 1], [1, 0, 0]])
    # stratum rates: F|young 3/220, M|old 4/200, F|old 1/10
    rate = np.array([3 / 220, 4 / 200, 1 / 10])
    pop = np.array([[100, 50, 0], [100, 150, 10], [20, 0, 0]])
    np.testing.assert_allclose(area.expected, pop @ rate)
    assert area.expected.sum() == pytest.approx(8.0)
    assert area.expected_kind == "internal-standardised"
    assert area.reference == "internal"
    assert area.expected_external is None and area.expected_scale is None
    assert area.yearly is None


CRUDE = "id,cases,population\na,3,150\nb,4,260\nc,1,20\n"


def test_without_strata_expected_follow_population(files):
    write(files["cases"].parent, "cases.csv", CRUDE)
    area = read(files, strata=())
    assert area.expected_kind == "population" and area.strata_names == ()
    np.testing.assert_allclose(area.expected, np.array([150, 260, 20]) * 8 / 430)


def test_reference_rates_are_kept_unscaled(files, caplog):
    with caplog.at_level(logging.INFO, logger="scan.data"):
        area = read(files, reference_rates=files["rates"], years=10)
    # expected = sum over strata of population x rate x years
    external = np.array([100 * 0.001 + 50 * 0.002,
                         100 * 0.001 + 150 * 0.002 + 10 * 0.004,
                         20 * 0.001]) * 10
    np.testing.assert_allclose(area.expected_external, external)
    assert area.expected_kind == "reference-rates" and area.reference == "external"
    assert area.expected_scale == pytest.approx(8 / external.sum())
    np.testing.assert_allclose(area.expected, external * 8 / external.sum())
    # the strata are kept as data (the focused tests standardise internally with them)
    np.testing.assert_array_equal(area.case_strata.sum(axis=1), area.cases)
    assert "rescaled by" in caplog.text and caplog.records[-1].levelno == logging.INFO
    # rates per 100,000 person-years give the same counts
    per = write(files["rates"].parent, "per100k.csv",
                "sex,age,rate\nF,young,100\nM,old,200\nF,old,400\n")
    area2 = read(files, reference_rates=per, years=10, rate_per=100_000)
    np.testing.assert_allclose(area2.expected_external, external)


def test_reference_rates_without_strata(files, tmp_path):
    write(files["cases"].parent, "cases.csv", CRUDE)
    rates = write(tmp_path, "one.csv", "rate\n0.002\n")
    area = read(files, strata=(), reference_rates=rates, years=5)
    np.testing.assert_allclose(area.expected_external, np.array([150, 260, 20]) * 0.002 * 5)


def test_locations_without_rows_count_zero(files, tmp_path, caplog):
    locations = write(tmp_path, "more.csv", LOCATIONS + "d,5,5,Delta\n")
    with caplog.at_level(logging.WARNING, logger="scan.io.long"):
        area = read_long_csv(files["cases"], locations=locations, strata=("sex", "age"), crs=None)
    assert area.ids.tolist() == ["a", "b", "c", "d"]
    assert area.cases[3] == 0 and area.population[3] == 0 and area.expected[3] == 0
    assert "1 location(s)" in caplog.text and "'d'" in caplog.text


YEARS = ("id,sex,year,cases,population\n"
         "a,F,2019,1,100\na,F,2020,2,100\na,M,2020,1,40\n"
         "b,F,2019,0,100\nb,M,2019,2,50\nb,M,2020,1,50\n")


def test_counts_by_year_internal(tmp_path):
    cases = write(tmp_path, "y.csv", YEARS)
    locations = write(tmp_path, "l.csv", "id,x,y\na,0,0\nb,1,1\n")
    area = read_long_csv(cases, locations=locations, strata=("sex",), crs=None)
    y = area.yearly
    assert y.years.tolist() == [2019, 2020]
    np.testing.assert_array_equal(y.cases, [[1, 3], [2, 1]])
    np.testing.assert_array_equal(y.population, [[100, 140], [150, 50]])
    # pooled stratum rates: F 3/300, M 4/140
    rate_f, rate_m = 3 / 300, 4 / 140
    np.testing.assert_allclose(y.expected, [[100 * rate_f, 100 * rate_f + 40 * rate_m],
                                            [100 * rate_f + 50 * rate_m, 50 * rate_m]])
    np.testing.assert_allclose(y.expected.sum(axis=1), area.expected)
    np.testing.assert_array_equal(y.cases.sum(axis=1), area.cases)


def test_counts_by_year_with_reference_rates(tmp_path):
    cases = write(tmp_path, "y.csv", YEARS)
    locations = write(tmp_path, "l.csv", "id,x,y\na,0,0\nb,1,1\n")
    rates = write(tmp_path, "r.csv", "sex,rate\nF,0.01\nM,0.02\n")
    area = read_long_csv(cases, locations=locations, strata=("sex",), crs=None,
                         reference_rates=rates)
    np.testing.assert_allclose(area.yearly.expected, [[1.0, 1.0 + 0.8], [1.0 + 1.0, 1.0]])
    np.testing.assert_allclose(area.expected_external, [2.8, 3.0])
    np.testing.assert_allclose(area.yearly.expected.sum(axis=1), area.expected_external)


def test_supplied_expected_counts_record_their_rescaling(caplog):
    with caplog.at_level(logging.WARNING, logger="scan.data"):
        area = scan.study_area(["a", "b"], [0, 1], [0, 1], [3, 1], expected=[1.0, 1.0], crs=None)
    assert area.expected_kind == "supplied"
    np.testing.assert_array_equal(area.expected_external, [1.0, 1.0])
    assert area.expected_scale == 2.0
    np.testing.assert_array_equal(area.expected, [2.0, 2.0])
    assert "supplied expected counts (total 2) rescaled by 2" in caplog.text
    with pytest.raises(ValueError):
        area.expected_external[0] = 5.0


@pytest.mark.parametrize("name, text, match", [
    ("cases", "id,sex,cases,population\na,F,1,10\n",
     r"cases\.csv, line 1, field 'age': missing required column 'age'; columns found: "
     r"id, sex, cases, population"),
    ("cases", "id,sex,age,cases,population\na,F,young,1,10\nz,F,young,1,10\n",
     r"cases\.csv, line 3, field 'id': location id 'z' is not in the locations file "
     r".*locations\.csv; add it there"),
    ("cases", "id,sex,age,cases,population\na,F,young,1,10\n\nb,F,young,1,10\na,F,young,2,3\n",
     r"cases\.csv, line 5, field 'id,sex,age': location 'a', stratum sex='F', age='young' "
     r"already has a row on line 2; give one row per location and stratum"),
    ("cases", "id,sex,age,cases,population\na,F,young,two,10\n",
     r"cases\.csv, line 2, field 'cases': 'two' is not a number"),
    ("cases", "id,sex,age,cases,population\na,F,young,1.5,10\n",
     r"cases\.csv, line 2, field 'cases': '1\.5' is not a whole number"),
    ("cases", "id,sex,age,cases,population\na,F,young,1,-10\n",
     r"cases\.csv, line 2, field 'population': '-10' is negative"),
    ("cases", "id,sex,age,cases,population\na,,young,1,10\n",
     r"cases\.csv, line 2, field 'sex': empty value"),
    ("cases", "id,sex,age,cases,population\na,F,young,1\n",
     r"cases\.csv, line 2: 4 fields but the header has 5"),
    ("cases", "id,sex,age,cases,population,year\na,F,young,1,10,2019.5\n",
     r"cases\.csv, line 2, field 'year': '2019\.5' is not a whole year"),
    ("cases", "id,sex,age,cases,population\n",
     r"cases\.csv, line 2: no data rows after the header"),
    ("cases", "", r"cases\.csv, line 1: the cases file is empty"),
    ("locations", "id,x,y\na,0,0\nb,1,1\na,2,2\nc,3,3\n",
     r"locations\.csv, line 4, field 'id': location id 'a' already appears on line 2"),
    ("locations", "id,x\na,0\n",
     r"locations\.csv, line 1, field 'y': missing required column 'y'"),
    ("locations", "id,x,y\na,0,north\n",
     r"locations\.csv, line 2, field 'y': 'north' is not a number"),
])
def test_errors_name_file_line_field(files, name, text, match):
    write(files[name].parent, files[name].name, text)
    with pytest.raises(ScanInputError, match=match):
        read(files)


def test_duplicate_row_suggests_unnamed_strata(files):
    with pytest.raises(ScanInputError, match=r"cases\.csv, line 3, field 'id,sex': location 'a', "
                       r"stratum sex='F' already has a row on line 2; give one row per location "
                       r"and stratum \(if 'age' is a stratum column, name it in strata=, CLI "
                       r"--strata\)"):
        write(files["cases"].parent, "cases.csv", CASES.replace("a,M,old", "a,F,old"))
        read(files, strata=("sex",))


def test_duplicate_row_by_year_names_the_year(tmp_path):
    cases = write(tmp_path, "y.csv", YEARS + "a,F,2019,4,4\n")
    locations = write(tmp_path, "l.csv", "id,x,y\na,0,0\nb,1,1\n")
    with pytest.raises(ScanInputError, match=r"y\.csv, line 8, field 'id,sex,year': location "
                       r"'a', stratum sex='F', year 2019 already has a row on line 2"):
        read_long_csv(cases, locations=locations, strata=("sex",), crs=None)


@pytest.mark.parametrize("text, match", [
    ("sex,age,rate\nF,young,0.001\nM,old,0.002\n",
     r"cases\.csv, line 6, field 'sex,age': stratum sex='F', age='old' has no rate in the "
     r"reference rates file .*rates\.csv; add a row for it"),
    ("sex,age,rate\nF,young,0.001\nM,elderly,0.002\nF,elderly,0.1\n",
     r"cases\.csv, line 3, field 'age': 'old' is not a value of 'age' in the reference rates "
     r"file .*rates\.csv \(values there: elderly, young\)"),
    ("sex,age,rate\nF,young,0.001\nM,old,0.002\nF,old,0.1\nM,old,0.003\n",
     r"rates\.csv, line 5, field 'sex,age': stratum sex='M', age='old' already has a rate on "
     r"line 3; give one rate per stratum"),
    ("sex,age,rate\nF,young,high\n", r"rates\.csv, line 2, field 'rate': 'high' is not a number"),
    ("sex,age,rate\nF,young,-1\n", r"rates\.csv, line 2, field 'rate': '-1' is negative"),
    ("sex,rate\nF,0.1\n", r"rates\.csv, line 1, field 'age': missing required column 'age'"),
    ("sex,age,ratio\nF,young,0.1\n",
     r"rates\.csv, line 1, field 'rate': missing required column 'rate'"),
])
def test_reference_rate_errors(files, text, match):
    write(files["rates"].parent, "rates.csv", text)
    with pytest.raises(ScanInputError, match=match):
        read(files, reference_rates=files["rates"], years=10)


@pytest.mark.parametrize("kw, match", [
    (dict(reference_rates="RATES", years=None),
     r"parameter 'years' must be the number of years the cases cover, with reference_rates; "
     r"got None\. rates are per person-year"),
    (dict(years=10), r"parameter 'years' must be given only with reference_rates"),
    (dict(reference_rates="RATES", years=0), r"parameter 'years' must be a positive number"),
    (dict(reference_rates="RATES", years=10, model="bernoulli"),
     r"parameter 'reference_rates' must be used with model='poisson'"),
    (dict(strata="sex,age"), r"parameter 'strata' must be a sequence of column names.*"
     r"split it: \('sex', 'age'\)"),
    (dict(strata=("sex", "cases")), r"parameter 'strata' must be column names other than .*"
     r"'cases' is already the cases column"),
    (dict(strata=("sex", "sex")), r"parameter 'strata' must be distinct column names"),
    (dict(rate_per=0), r"parameter 'rate_per' must be a positive number of person-years"),
    (dict(model="binomial"), r"parameter 'model' must be one of 'poisson', 'bernoulli'"),
])
def test_parameter_errors(files, kw, match):
    if kw.get("reference_rates") == "RATES":
        kw["reference_rates"] = files["rates"]
    with pytest.raises(ScanParameterError, match=match):
        read(files, **kw)


def test_years_with_a_year_column_is_refused(tmp_path, files):
    cases = write(tmp_path, "y.csv", YEARS)
    locations = write(tmp_path, "l.csv", "id,x,y\na,0,0\nb,1,1\n")
    rates = write(tmp_path, "r.csv", "sex,rate\nF,0.01\nM,0.02\n")
    with pytest.raises(ScanParameterError, match=r"parameter 'years' must be None when the "
                       r"cases have a year column; got 10\. each row of .*y\.csv covers one year"):
        read_long_csv(cases, locations=locations, strata=("sex",), crs=None,
                      reference_rates=rates, years=10)


def test_missing_file_is_named(files, tmp_path):
    with pytest.raises(ScanInputError, match=r"nowhere\.csv: locations file was not found"):
        read_long_csv(files["cases"], locations=tmp_path / "nowhere.csv", crs=None)


def test_bernoulli_sums_strata(files):
    area = read(files, model="bernoulli")
    assert area.expected_kind == "population" and area.case_strata is None
    np.testing.assert_array_equal(area.population, [150, 260, 20])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["F", "M"]),
                          st.integers(0, 5), st.integers(1, 50)),
                min_size=1, max_size=6, unique_by=lambda r: (r[0], r[1])))
def test_totals_match_the_rows(tmp_path_factory, rows):
    """Whatever the rows, the study area's counts are the sums of the rows by location."""
    if sum(r[2] for r in rows) == 0:
        rows = [(rows[0][0], rows[0][1], 1, rows[0][3])] + rows[1:]
    d = tmp_path_factory.mktemp("long")
    cases = write(d, "c.csv", "id,sex,cases,population\n"
                  + "".join(f"{a},{s},{c},{p}\n" for a, s, c, p in rows))
    locations = write(d, "l.csv", LOCATIONS)
    area = read_long_csv(cases, locations=locations, strata=("sex",), crs=None)
    for i, loc in enumerate("abc"):
        assert area.cases[i] == sum(c for a, _, c, _ in rows if a == loc)
        assert area.population[i] == sum(p for a, _, _, p in rows if a == loc)
    assert area.expected.sum() == pytest.approx(area.cases.sum())


@pytest.mark.parametrize("kw, exc, match", [
    (dict(names=["x"]), ScanInputError,
     r"'names' must be one value per location \(2 locations\); got 1"),
    (dict(expected=[1.0, 1.0], expected_kind="national"), ScanParameterError,
     r"parameter 'expected_kind' must be one of 'supplied', 'reference-rates'"),
    (dict(yearly=scan.data.YearlyCounts(np.array([2019]), np.array([[3], [2]]), np.ones((2, 1)),
                                        np.ones((2, 1)))), ScanInputError,
     r"field 'year': the counts by year do not add up to the cases of each location"),
])
def test_study_area_checks_the_new_fields(kw, exc, match):
    with pytest.raises(exc, match=match):
        scan.study_area(["a", "b"], [0, 1], [0, 1], [3, 1], [10, 10], crs=None, **kw)
