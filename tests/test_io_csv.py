"""read_csv: values as written, and every error naming file, line and field."""
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

HEADER = "id,x,y,cases,population"


def write(tmp_path: Path, text: str, name: str = "areas.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_values_and_keeps_ids_as_written(tmp_path):
    path = write(tmp_path, HEADER + ",note\n007,1,2,3,100,x\n7,4,5,0,50,y\n\n010,2,2,1,20,z\n")
    area = read_csv(path, crs=None)
    assert area.ids.tolist() == ["007", "7", "010"]
    np.testing.assert_array_equal(area.coords, [[1, 2], [4, 5], [2, 2]])
    np.testing.assert_array_equal(area.cases, [3, 0, 1])
    np.testing.assert_array_equal(area.population, [100, 50, 20])
    np.testing.assert_allclose(area.expected, np.array([100, 50, 20]) * 4 / 170)
    assert area.source == str(path)


def test_expected_column_and_custom_names(tmp_path):
    path = write(tmp_path, "zone,e,n,obs,pop,exp\na,0,0,2,10,1\nb,3,4,2,10,3\n")
    area = read_csv(path, crs=None, id_column="zone", x_column="e", y_column="n",
                    cases_column="obs", population_column="pop", expected_column="exp")
    np.testing.assert_allclose(area.expected, [1, 3])


def test_bernoulli_population_counts_cases_and_controls(tmp_path):
    path = write(tmp_path, HEADER + "\na,0,0,2,5\nb,1,1,0,4\n")
    area = read_csv(path, model="bernoulli", crs=None)
    np.testing.assert_allclose(area.expected, np.array([5, 4]) * 2 / 9)


def test_latlong(tmp_path):
    path = write(tmp_path, HEADER + "\na,-1.5,53.7,2,5\nb,-1.4,53.8,1,4\n")
    area = read_csv(path, coordinates="latlong")
    assert area.coordinates == "latlong" and area.crs == "EPSG:4326"


@pytest.mark.parametrize("text, match", [
    ("id,x,y,cases\na,0,0,1\n",
     r"areas\.csv, line 1, field 'population': missing required column 'population'; "
     r"columns found: id, x, y, cases"),
    ("", r"areas\.csv, line 1: the file is empty"),
    (HEADER + "\n", r"areas\.csv, line 2: no data rows after the header"),
    (HEADER + "\na,0,0,1,10\nb,0,1,,10\n", r"line 3, field 'cases': empty value"),
    (HEADER + "\na,0,0,1,10\nb,0,1,two,10\n", r"line 3, field 'cases': 'two' is not a number"),
    (HEADER + "\na,0,0,1,10\nb,0,1,-1,10\n", r"line 3, field 'cases': '-1' is negative"),
    (HEADER + "\na,0,0,1.5,10\n", r"line 2, field 'cases': '1.5' is not a whole number"),
    (HEADER + "\na,0,0,1,10\nb,0,1,1,x\n", r"line 3, field 'population': 'x' is not a number"),
    (HEADER + "\na,0,0,1,10\nb,0,1,1,-3\n", r"line 3, field 'population': '-3' is negative"),
    (HEADER + "\na,nan,0,1,10\n", r"line 2, field 'x': 'nan' is not a finite number"),
    (HEADER + "\na,0,inf,1,10\n", r"line 2, field 'y': 'inf' is not a finite number"),
    (HEADER + "\na,0,0,1,10\n\nb,1,1,1,10\na,2,2,1,10\n",
     r"line 5, field 'id': location id 'a' already appears on line 2; ids must be unique"),
    (HEADER + "\na,0,0,1,10\nb,1,1,1\n", r"line 3: 4 fields but the header has 5"),
    (HEADER + "\n,0,0,1,10\n", r"line 2, field 'id': empty id"),
])
def test_errors_name_file_line_field(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(ScanInputError, match=match):
        read_csv(path, crs=None)


def test_bernoulli_cases_above_population(tmp_path):
    path = write(tmp_path, HEADER + "\na,0,0,1,10\nb,1,1,5,3\n")
    with pytest.raises(ScanInputError, match=r"line 3, field 'population': 5 cases but a "
                                             r"population of 3; for the Bernoulli model"):
        read_csv(path, model="bernoulli", crs=None)


def test_bernoulli_population_must_be_whole(tmp_path):
    path = write(tmp_path, HEADER + "\na,0,0,1,10.5\n")
    with pytest.raises(ScanInputError, match=r"line 2, field 'population': '10.5' is not a whole"):
        read_csv(path, model="bernoulli", crs=None)


def test_expected_column_errors(tmp_path):
    path = write(tmp_path, HEADER + ",expected\na,0,0,1,10,1\nb,1,1,1,10,-2\n")
    with pytest.raises(ScanInputError, match=r"line 3, field 'expected': '-2' is negative"):
        read_csv(path, crs=None)


def test_bad_model_is_a_parameter_error(tmp_path):
    path = write(tmp_path, HEADER + "\na,0,0,1,10\n")
    with pytest.raises(ScanParameterError, match=r"parameter 'model' must be one of"):
        read_csv(path, model="normal")


def test_array_level_checks_still_apply(tmp_path):
    path = write(tmp_path, HEADER + "\na,-1.5,53.7,1,10\nb,-1.4,53.8,1,10\n")
    with pytest.raises(ScanInputError, match=r"coordinates look like longitude/latitude"):
        read_csv(path)  # default crs EPSG:27700


# ----------------------------------------------------------------------------- properties
ids_st = st.lists(st.from_regex(r"[0-9A-Za-z_]{1,6}", fullmatch=True), min_size=1, max_size=12,
                  unique=True)


@st.composite
def tables(draw):
    ids = draw(ids_st)
    n = len(ids)
    coord = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    xs = draw(st.lists(coord, min_size=n, max_size=n))
    ys = draw(st.lists(coord, min_size=n, max_size=n))
    cases = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    cases[0] = max(cases[0], 1)
    extra = draw(st.lists(st.integers(1, 500), min_size=n, max_size=n))
    return ids, xs, ys, cases, [c + e for c, e in zip(cases, extra)]


def write_table(path: Path, table) -> None:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER.split(","))
        out.writerows(zip(*table))


@settings(max_examples=40, deadline=None)
@given(tables())
def test_round_trip(table):
    ids, xs, ys, cases, population = table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        write_table(path, table)
        for model in ("poisson", "bernoulli"):
            area = read_csv(path, crs=None, model=model)
            assert area.ids.tolist() == ids
            np.testing.assert_array_equal(area.coords, np.column_stack([xs, ys]))
            np.testing.assert_array_equal(area.cases, cases)
            np.testing.assert_array_equal(area.population, population)


@settings(max_examples=40, deadline=None)
@given(tables(), st.data())
def test_single_corruption_names_its_line_and_field(table, data):
    ids, xs, ys, cases, population = (list(c) for c in table)
    columns = {"x": xs, "y": ys, "cases": cases, "population": population}
    row = data.draw(st.integers(0, len(ids) - 1))
    field = data.draw(st.sampled_from(sorted(columns)))
    bad = data.draw(st.sampled_from(["", "abc", "nan", "-inf"] +
                                    (["-1", "2.5"] if field == "cases" else [])))
    columns[field][row] = bad
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        write_table(path, (ids, xs, ys, cases, population))
        with pytest.raises(ScanInputError, match=rf"line {row + 2}, field '{field}': "):
            read_csv(path, crs=None)
