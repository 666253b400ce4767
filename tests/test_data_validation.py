"""study_area: every check and its message."""
import numpy as np
import pytest

import scan
from scan.errors import ScanInputError, ScanParameterError

BNG_X = [545_000.0, 546_000.0, 547_000.0]
BNG_Y = [185_000.0, 186_000.0, 187_000.0]


def area(**kw):
    args = dict(ids=["a", "b", "c"], x=BNG_X, y=BNG_Y, cases=[1, 2, 3], population=[100, 200, 300])
    args.update(kw)
    return scan.study_area(args.pop("ids"), args.pop("x"), args.pop("y"), args.pop("cases"),
                           args.pop("population"), **args)


@pytest.mark.parametrize("kw,exc,message", [
    (dict(ids=["a", "b", "a"]), ScanInputError, r"location id 'a' appears 2 times; ids must be unique"),
    (dict(cases=[1, -2, 3]), ScanInputError, r"cases of location 'b' is negative \(-2\)"),
    (dict(cases=[1, 2.5, 3]), ScanInputError, r"cases of location 'b' is not a whole number \(2.5\)"),
    (dict(cases=[0, 0, 0]), ScanInputError, r"total number of cases is zero"),
    (dict(x=[545_000.0, np.nan, 547_000.0]), ScanInputError, r"coordinates of location 'b' are .*finite"),
    (dict(y=[185_000.0, np.inf, 187_000.0]), ScanInputError, r"coordinates of location 'b'"),
    (dict(x=[0.05, 0.06, 0.07], y=[51.5, 51.55, 51.6]), ScanInputError,
     r"look like longitude/latitude .* declared projected in EPSG:27700; pass coordinates='latlong'"),
    (dict(coordinates="latlong"), ScanInputError, r"declared longitude/latitude .* look projected"),
    (dict(x=[5e6, 5e6 + 1, 5e6 + 2]), ScanInputError, r"outside the area where EPSG:27700 is defined"),
    (dict(crs="EPSG:4326"), ScanParameterError, r"parameter 'crs' must be a projected CRS"),
    (dict(crs="EPSG:99999999"), ScanParameterError, r"parameter 'crs' must be a CRS pyproj understands"),
    (dict(coordinates="polar"), ScanParameterError, r"parameter 'coordinates' must be one of 'cartesian', 'latlong'"),
    (dict(model="bernoulli", population=[1, 1, 300]), ScanInputError,
     r"location 'b' has 2 cases but a population of 1; for the Bernoulli model"),
    (dict(model="bernoulli", population=[1, 2, 3]), ScanInputError, r"there are no controls"),
    (dict(population=[100, 0, 300]), ScanInputError, r"location 'b' has 2 cases but nothing expected"),
    (dict(population=[100, 200]), ScanInputError, r"'population' must be one value per location"),
    (dict(expected=[0, 0, 0]), ScanInputError, r"expected counts sum to zero"),
])
def test_bad_input_is_named(kw, exc, message):
    with pytest.raises(exc, match=message):
        area(**kw)


def test_inputs_are_not_mutated_and_arrays_are_read_only():
    cases = np.array([1, 2, 3])
    a = area(cases=cases, expected=np.array([1.0, 1.0, 4.0]))
    assert cases.tolist() == [1, 2, 3]
    assert a.expected.sum() == pytest.approx(6.0)
    with pytest.raises(ValueError):
        a.cases[0] = 9


def test_indirect_standardisation_sums_to_cases():
    case_strata = np.array([[1, 0], [2, 3], [0, 4]])
    pop_strata = np.array([[50, 50], [100, 100], [150, 150]])
    a = area(cases=case_strata.sum(1), population=None, case_strata=case_strata,
             population_strata=pop_strata, strata_names=("young", "old"))
    # stratum rates 3/300 and 7/300
    assert a.expected == pytest.approx([50 * 3 / 300 + 50 * 7 / 300, 100 * 10 / 300, 150 * 10 / 300])
    assert a.expected.sum() == pytest.approx(10)
    assert a.population.tolist() == [100, 200, 300]


def test_stratum_with_cases_but_no_population():
    with pytest.raises(ScanInputError, match="stratum 'old' has cases but no population"):
        area(cases=[1, 2, 3], population=None, case_strata=[[1, 0], [1, 1], [0, 3]],
             population_strata=[[10, 0], [10, 0], [10, 0]], strata_names=("young", "old"))


def test_plain_cartesian_numbers_need_crs_none():
    a = area(x=[0.0, 1.0, 2.0], y=[0.0, 0.0, 0.0], crs=None)
    assert a.crs is None


def test_project_to_reprojects_longitude_latitude():
    # two points 1 km apart east-west in British National Grid
    import pyproj

    to_geo = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform([545_000.0, 546_000.0, 545_000.0], [185_000.0, 185_000.0, 186_000.0])
    a = area(x=lon, y=lat, coordinates="latlong", project_to="EPSG:27700")
    assert a.coordinates == "cartesian" and a.crs == "EPSG:27700"
    assert a.coords == pytest.approx(np.array([[545_000, 185_000], [546_000, 185_000], [545_000, 186_000]]), abs=1e-3)
    with pytest.raises(ScanParameterError, match="parameter 'project_to' must be used with coordinates='latlong'"):
        area(project_to="EPSG:27700")
    with pytest.raises(ScanParameterError, match="parameter 'project_to' must be a projected CRS"):
        area(x=lon, y=lat, coordinates="latlong", project_to="EPSG:4326")
