"""Synthetic LAEI-like grids (scan.exposure.synthetic), checked against the real borough's LSOA
summaries of the LAEI 2019 grids when /work/shared is present."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
import xarray as xr

from scan.datasets import load_borough
from scan.exposure.summary import polygon_means, sample_points
from scan.exposure.synthetic import BOROUGH_EXTENT, ROADS, synthetic_laei

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared"))
               if p.is_dir()), Path("/nonexistent"))
REAL = SHARED / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="real LBBD data not available")
POLLUTANTS = ("NO2", "PM10", "PM25")


@pytest.fixture(scope="module")
def grid():
    return synthetic_laei()


def test_layout(grid):
    assert list(grid.data_vars) == list(POLLUTANTS)
    assert grid.attrs["crs"] == "EPSG:27700" and grid.attrs["resolution_m"] == 20.0
    assert all(grid[p].attrs["units"] == "µg/m³" for p in POLLUTANTS)
    xmin, ymin, xmax, ymax = BOROUGH_EXTENT
    assert grid.x[0] == xmin - 500 + 10 and grid.x[-1] == xmax + 500 - 10
    assert grid.y[0] == ymin - 500 + 10 and grid.y[-1] == ymax + 500 - 10
    assert bool((grid.y.diff("y") > 0).all())
    assert all(bool(np.isfinite(grid[p]).all()) for p in POLLUTANTS)


def test_deterministic(grid):
    xr.testing.assert_identical(grid, synthetic_laei())


def test_smaller_extent_and_resolution():
    g = synthetic_laei(extent=(545_000, 184_000, 546_000, 185_000), resolution=50.0, margin=0.0)
    assert g.sizes == {"y": 20, "x": 20}
    assert g.attrs["resolution_m"] == 50.0


def test_roads_where_the_brief_puts_them():
    assert set(ROADS) == {"A13", "A406", "A12"}
    inside = shapely.box(*BOROUGH_EXTENT)
    a13 = shapely.get_coordinates(ROADS["A13"].intersection(inside))
    a406 = shapely.get_coordinates(ROADS["A406"].intersection(inside))
    a12 = shapely.get_coordinates(ROADS["A12"].intersection(inside))
    assert a13[:, 1].min() >= 182_900 and a13[:, 1].max() <= 184_000   # east-west, middle-south
    assert np.all(np.abs(a406[:, 0] - 543_600) <= 150)                  # north-south, west edge
    assert a12[:, 1].min() >= 189_500 and a12[:, 1].max() <= 190_500   # east-west, north


@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_concentrations_peak_on_roads_and_decay(grid, pollutant):
    for name, road in ROADS.items():
        on = road.interpolate(0.5, normalized=True)
        # step away perpendicular-ish: 100 m and 400 m in the direction away from the road
        away = (1, 0) if name == "A406" else (0, 1)
        near, far = (sample_points(grid[pollutant], [on.x + k * away[0]], [on.y + k * away[1]])[0]
                     for k in (100.0, 400.0))
        centre = sample_points(grid[pollutant], [on.x], [on.y])[0]
        assert centre > near > far, name


@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_background_rises_westwards(grid, pollutant):
    y = 186_700.0  # > 2.8 km from the A13 and A12
    west, east = sample_points(grid[pollutant], [546_000.0, 551_500.0], [y, y])
    assert west > east


# --- against the real borough: LAEI 2019 zonal statistics by LSOA ---------------------------
# Tolerances are design targets of the synthetic levels, not statistical error bars:
# the 5th percentile and median of the synthetic grid inside the borough outline must lie within
# 5% of the lowest and the median real LSOA mean; the synthetic maximum must exceed the median
# real LSOA maximum and stay below 1.2 x the highest (real PM maxima of 66 and 28 µg/m³ come from
# point sources that the synthetic grid does not model, so the PM maxima sit well below them).

@pytest.fixture(scope="module")
def real_summary():
    import pandas as pd

    return pd.read_csv(REAL / "lbbd_lsoa11_laei_concentration_summary.csv",
                       index_col="LSOA11CD")


@pytest.fixture(scope="module")
def inside_values(grid):
    xx, yy = np.meshgrid(grid.x.values, grid.y.values)
    mask = shapely.contains_xy(load_borough().outline, xx, yy)  # the embedded borough
    return {p: grid[p].values[mask] for p in POLLUTANTS}


@needs_real
@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_grid_percentiles_match_real_lsoa_means(inside_values, real_summary, pollutant):
    v = inside_values[pollutant]
    real_means = real_summary[f"{pollutant}-2019-mean"]
    p5, p50 = np.percentile(v, [5, 50])
    assert p5 == pytest.approx(real_means.min(), rel=0.05)
    assert p50 == pytest.approx(real_means.median(), rel=0.05)


@needs_real
@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_maxima_between_typical_and_highest_real(inside_values, real_summary, pollutant):
    real_max = real_summary[f"{pollutant}-2019-max"]
    assert real_max.median() < inside_values[pollutant].max() <= 1.2 * real_max.max()


@needs_real
@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_synthetic_lsoa_means_follow_real_ones(grid, real_summary, pollutant):
    """Means over the real LSOA polygons: same median (±5%) and positively correlated with the
    real LSOA means (the synthetic roads follow the real A13/A406/A12 corridors)."""
    import pandas as pd

    boundaries = pd.read_csv(REAL / "lbbd_lsoa11_boundaries_bng.csv")
    polygons = shapely.from_wkt(boundaries["geometry"].to_numpy())
    synthetic = polygon_means(grid[pollutant], list(polygons))
    real = real_summary.loc[boundaries["LSOA11CD"], f"{pollutant}-2019-mean"].to_numpy()
    assert np.median(synthetic) == pytest.approx(np.median(real), rel=0.05)
    assert np.corrcoef(synthetic, real)[0, 1] > 0.5
