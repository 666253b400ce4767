"""Exposure per location and per cluster (scan.exposure.summary)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point, box

from scan.errors import ScanInputError, ScanParameterError
from scan.exposure.grids import make_dataset
from scan.exposure.summary import (
    AIR_QUALITY_LIMITS,
    cluster_exposure,
    exposure_table,
    polygon_means,
    read_location_table,
    sample_points,
)

DATA = Path(__file__).parent / "data" / "exposure"
SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared"))
               if p.is_dir()), Path("/nonexistent"))
REAL = SHARED / "data" / "real" / "lbbd_lsoa11_laei_concentration_summary.csv"

A, B, D = 12.0, 0.002, -0.0015  # c = A + B*(x - X0) + D*(y - Y0), µg/m³ per metre
X0, Y0, STEP = 545_000.0, 184_000.0, 20.0


def linear(x, y):
    return A + B * (np.asarray(x) - X0) + D * (np.asarray(y) - Y0)


@pytest.fixture(scope="module")
def gradient():
    x = X0 + STEP / 2 + STEP * np.arange(60)
    y = Y0 + STEP / 2 + STEP * np.arange(50)
    xx, yy = np.meshgrid(x, y)
    return make_dataset({"NO2": linear(xx, yy)}, x, y, source="linear")["NO2"]


# --- sample_points -----------------------------------------------------------------------------

def test_bilinear_is_exact_on_a_linear_gradient(gradient):
    rng = np.random.default_rng(20261129)
    x = rng.uniform(gradient.x[0], gradient.x[-1], 500)
    y = rng.uniform(gradient.y[0], gradient.y[-1], 500)
    np.testing.assert_allclose(sample_points(gradient, x, y), linear(x, y), rtol=0, atol=1e-10)


def test_sample_at_cell_centres_returns_cell_values(gradient):
    x = gradient.x.values[[0, 7, 59]]
    y = gradient.y.values[[0, 30, 49]]
    np.testing.assert_allclose(sample_points(gradient, x, y),
                               [gradient.sel(x=a, y=b).item() for a, b in zip(x, y)], atol=1e-12)


def test_sample_ignores_dimension_order(gradient):
    x, y = [545_123.4], [184_321.0]
    assert sample_points(gradient.transpose("x", "y"), x, y) == pytest.approx(
        sample_points(gradient, x, y), abs=1e-12)


def test_sample_within_half_a_cell_of_the_edge_takes_the_edge_value(gradient):
    x0 = gradient.x.values[0]
    y = gradient.y.values[10]
    assert sample_points(gradient, [x0 - STEP / 2], [y])[0] == pytest.approx(linear(x0, y))


def test_sample_outside_nan_or_raise(gradient):
    x = [545_100.0, 500_000.0]
    y = [184_100.0, 184_100.0]
    out = sample_points(gradient, x, y)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    with pytest.raises(ScanInputError, match=r"field 'x, y': point 1 \(x=500000, y=184100\) is "
                                             r"outside the grid x 545010\.\.546190, y 184010\.\."
                                             r"184990; read a larger bbox or pass outside='nan'"):
        sample_points(gradient, x, y, outside="raise")


def test_sample_bad_options(gradient):
    with pytest.raises(ScanParameterError, match=r"parameter 'outside' must be one of 'nan', "
                                                 r"'raise'; got 'clip'"):
        sample_points(gradient, [1], [1], outside="clip")
    with pytest.raises(ScanParameterError, match=r"parameter 'y' must be the same length as x"):
        sample_points(gradient, [1, 2], [1])


# --- polygon_means -----------------------------------------------------------------------------

def test_polygon_means_are_the_centroid_value_for_symmetric_shapes(gradient):
    cx, cy = gradient.x.values[20], gradient.y.values[25]  # a cell centre
    disc = Point(cx, cy).buffer(150.0, quad_segs=64)
    square = box(545_200.0, 184_200.0, 545_600.0, 184_400.0)  # aligned with cell edges
    means = polygon_means(gradient, [disc, square])
    np.testing.assert_allclose(means, [linear(cx, cy), linear(545_400.0, 184_300.0)], atol=1e-10)


def test_polygon_smaller_than_a_cell_gets_the_centroid_value(gradient):
    tiny = box(545_101.0, 184_101.0, 545_105.0, 184_105.0)  # holds no cell centre
    assert polygon_means(gradient, [tiny])[0] == pytest.approx(linear(545_103.0, 184_103.0))


def test_polygon_means_skip_nan_cells(gradient):
    g = gradient.copy()
    g[0, 0] = np.nan
    square = box(545_000.0, 184_000.0, 545_040.0, 184_040.0)  # the 4 south-west cells
    expected = np.mean([linear(545_030, 184_010), linear(545_010, 184_030),
                        linear(545_030, 184_030)])
    assert polygon_means(g, [square])[0] == pytest.approx(expected)


# --- read_location_table -------------------------------------------------------------------

def test_location_table_with_aliases_and_blanks():
    table = read_location_table(DATA / "locations.csv")
    assert list(table.columns) == ["NO2", "PM25"]
    assert list(table.index) == ["A", "B", "C"]
    assert table.loc["B", "NO2"] == 41.0
    assert np.isnan(table.loc["C", "NO2"])
    assert table.attrs["units"] == "µg/m³"


@pytest.mark.parametrize("text, match", [
    ("id,NO2\nA,1\nA,2\n", r"t\.csv, line 3, field 'id': duplicate id 'A'"),
    ("id,NO2\nA,1\nB,lots\n", r"t\.csv, line 3, field 'NO2': not a number: 'lots'"),
    ("id,NO2,SO2\nA,1,2\n", r"t\.csv, line 1, field 'SO2': unknown pollutant column 'SO2'; "
                            r"allowed: NO2, PM10, PM25"),
])
def test_location_table_errors(tmp_path, text, match):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ScanInputError, match=match):
        read_location_table(path)


def test_location_table_from_laei_summary_format(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text("LSOA11CD,NO2-2013-mean,NO2-2019-mean,NOx-2019-mean,PM2.5-2019-mean,"
                    "NO2-2019-max\nE1,30,25,40,10.5,60\nE2,31,26,41,10.7,45\n")
    table = read_location_table(path, year=2019)
    assert list(table.columns) == ["NO2", "PM25"]
    assert table.loc["E2", "NO2"] == 26.0
    assert read_location_table(path, year=2019, statistic="max").loc["E1", "NO2"] == 60.0
    with pytest.raises(ScanParameterError, match=r"parameter 'year' must be one of 2013, 2019; "
                                                 r"got None\. the file .*summary\.csv summarises "
                                                 r"several LAEI years"):
        read_location_table(path)
    with pytest.raises(ScanParameterError, match=r"parameter 'year' must be one of 2013, 2019; "
                                                 r"got 2016"):
        read_location_table(path, year=2016)


@pytest.mark.skipif(not REAL.is_file(), reason="real LBBD data not available")
def test_location_table_from_the_real_lsoa_summary():
    table = read_location_table(REAL, year=2019)
    assert table.shape == (110, 3)
    assert table.loc["E01000006", "NO2"] == 26.621
    assert table["PM25"].between(9, 12).all()


# --- cluster_exposure --------------------------------------------------------------------------

VALUES = np.array([50.0, 30.0, 20.0, 45.0, 10.0])
POP = np.array([100.0, 300.0, 200.0, 400.0, 1000.0])


def test_cluster_exposure_hand_computed():
    r = cluster_exposure(VALUES, POP, [0, 1], pollutant="NO2")
    # inside: (50*100 + 30*300) / 400 = 35;  outside: (20*200 + 45*400 + 10*1000) / 1600 = 20
    assert r["mean_inside"] == pytest.approx(35.0)
    assert r["mean_outside"] == pytest.approx(20.0)
    assert r["difference"] == pytest.approx(15.0)
    assert r["ratio"] == pytest.approx(1.75)
    assert r["max_inside"] == 50.0
    assert r["share_above_uk_limit"] == pytest.approx(0.25)   # 100 of 400 above 40
    assert r["share_above_who_guideline"] == pytest.approx(1.0)
    assert (r["n_inside"], r["population_inside"], r["units"]) == (2, 400.0, "µg/m³")


def test_cluster_members_as_mask_equal_indices():
    mask = np.array([True, True, False, False, False])
    assert cluster_exposure(VALUES, POP, mask, pollutant="NO2") == \
        cluster_exposure(VALUES, POP, np.array([1, 0]), pollutant="NO2")


def test_limit_shares_are_strictly_above():
    pm25 = np.array([22.0, 18.0, 5.0, 6.0, 4.9])
    r = cluster_exposure(pm25, POP, [0, 2], pollutant="PM2.5")
    # inside: 22 (100 people), 5 (200 people); "above" means strictly greater than the value
    assert r["mean_inside"] == pytest.approx((2200 + 1000) / 300)
    assert r["share_above_uk_limit"] == pytest.approx(1 / 3)      # 22 > 20
    assert r["share_above_who_guideline"] == pytest.approx(1 / 3)  # 5 is not above 5
    assert r["pollutant"] == "PM25"


def test_limits_table():
    assert AIR_QUALITY_LIMITS == {"NO2": {"uk_limit": 40.0, "who_2021": 10.0},
                                  "PM10": {"uk_limit": 40.0, "who_2021": 15.0},
                                  "PM25": {"uk_limit": 20.0, "who_2021": 5.0}}


def test_nan_locations_are_left_out():
    v = VALUES.copy()
    v[1] = np.nan
    r = cluster_exposure(v, POP, [0, 1], pollutant="NO2")
    assert r["mean_inside"] == 50.0
    assert r["share_above_uk_limit"] == 1.0


def test_without_pollutant_shares_are_nan():
    r = cluster_exposure(VALUES, POP, [0])
    assert np.isnan(r["share_above_uk_limit"]) and r["pollutant"] is None


def test_whole_area_cluster_has_no_outside():
    r = cluster_exposure(VALUES, POP, np.arange(5), pollutant="NO2")
    assert np.isnan(r["mean_outside"]) and np.isnan(r["ratio"])


def test_inputs_are_not_mutated():
    v, p, m = VALUES.copy(), POP.copy(), np.array([0, 1])
    cluster_exposure(v, p, m, pollutant="NO2")
    np.testing.assert_array_equal(v, VALUES)
    np.testing.assert_array_equal(p, POP)
    np.testing.assert_array_equal(m, [0, 1])


@pytest.mark.parametrize("kwargs, match", [
    ({"members": [0, 5]}, r"parameter 'members' must be indices in 0\.\.4; got '0\.\.5'"),
    ({"members": np.array([True, False])}, r"parameter 'members' must be a boolean mask of "
                                           r"length 5"),
    ({"members": []}, r"parameter 'members' must be at least one location; got 'an empty "
                      r"cluster'"),
    ({"members": [0.5]}, r"parameter 'members' must be an integer index array or a boolean mask"),
    ({"population": POP[:3]}, r"parameter 'population' must be an array of the same length as "
                              r"values \(5\)"),
    ({"population": -POP}, r"parameter 'population' must be non-negative numbers"),
    ({"pollutant": "O3"}, r"parameter 'pollutant' must be one of 'NO2'"),
])
def test_cluster_exposure_errors(kwargs, match):
    args = {"values": VALUES, "population": POP, "members": [0], "pollutant": "NO2"} | kwargs
    with pytest.raises(ScanParameterError, match=match):
        cluster_exposure(**args)


def test_exposure_table_rows():
    rows = exposure_table({"NO2": VALUES, "PM10": VALUES / 2}, POP, [[0, 1], [3]])
    assert [(r["cluster"], r["pollutant"]) for r in rows] == [
        (1, "NO2"), (1, "PM10"), (2, "NO2"), (2, "PM10")]
    assert rows[1]["mean_inside"] == pytest.approx(17.5)
    assert rows[2]["mean_inside"] == 45.0
    assert rows[2]["share_above_uk_limit"] == 1.0
