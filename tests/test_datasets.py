"""The embedded synthetic borough: determinism, geometry, populations and planted signals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

from scan import datasets
from scan.datasets import (
    AGE_BANDS,
    CANCER,
    CANCER_CLUSTER_IDS,
    CANCER_RELATIVE_RISK,
    EXTENT,
    FLU_OUTBREAK_IDS,
    FLU_OUTBREAK_RELATIVE_RISK,
    FLU_OUTBREAK_WEEKS,
    RESPIRATORY,
    STRATA,
    borough_study_area,
    borough_weekly,
    load_borough,
    write_borough_csv,
)
from scan.errors import ScanParameterError

REAL_POP = Path("/work/shared/data/real/lbbd_lsoa11_pop_mid2019.csv")
#: Tolerance of an observed/expected ratio, in standard errors of a Poisson count.
Z = 4.0


@pytest.fixture(scope="module")
def borough():
    return load_borough()


def _true_expected(areas: pd.DataFrame, outcome) -> np.ndarray:
    """Expected counts from the generating rates, with no excess."""
    pops = areas[[f"pop_{s}" for s in STRATA]].to_numpy(float)
    return pops @ outcome.rates() * outcome.periods


# -- determinism and copies --------------------------------------------------------------------

def test_two_loads_are_equal_and_independent():
    a, b = load_borough(), load_borough()
    pd.testing.assert_frame_equal(a.areas, b.areas)
    assert a.outline.equals(b.outline) and a.thames.equals(b.thames)
    assert all(p.equals(q) for p, q in zip(a.polygons, b.polygons))
    assert a.planted == b.planted and a.strata == b.strata
    a.areas.loc[0, "cancer"] = -1
    a.planted["cancer"] = None
    a.strata.append("oops")
    c = load_borough()
    pd.testing.assert_frame_equal(c.areas, b.areas)
    assert c.planted["cancer"] is not None and c.strata == list(STRATA)


def test_weekly_is_deterministic_and_a_fresh_copy():
    w1 = borough_weekly()
    w1.loc[0, "cases"] = -1
    pd.testing.assert_frame_equal(borough_weekly(), borough_weekly())
    assert borough_weekly().loc[0, "cases"] >= 0


# -- geography ---------------------------------------------------------------------------------

def test_counts_and_ranges(borough):
    areas = borough.areas
    assert 105 <= len(areas) <= 115
    assert areas["id"].tolist() == [f"SYN{i:03d}" for i in range(1, len(areas) + 1)]
    assert areas["population"].between(1_200, 3_000).all()
    assert borough.crs == "EPSG:27700"
    assert borough.strata == list(STRATA) and len(STRATA) == 10


def test_points_inside_outline_and_extent(borough):
    x, y = borough.areas["x"].to_numpy(), borough.areas["y"].to_numpy()
    assert shapely.contains_xy(borough.outline, x, y).all()
    x0, y0, x1, y1 = EXTENT
    bx0, by0, bx1, by1 = borough.outline.bounds
    assert x0 <= bx0 and y0 <= by0 and bx1 <= x1 and by1 <= y1
    assert borough.outline.is_valid and 15 <= len(borough.outline.exterior.coords) <= 30


def test_polygons_tile_the_outline(borough):
    polys = borough.polygons
    assert len(polys) == len(borough.areas)
    assert all(p.is_valid and p.geom_type == "Polygon" for p in polys)
    total = sum(p.area for p in polys)
    assert total == pytest.approx(borough.outline.area, rel=1e-9)
    assert shapely.union_all(polys).symmetric_difference(borough.outline).area < 1e-3
    for i, (x, y) in enumerate(borough.areas[["x", "y"]].to_numpy()):
        inside = shapely.contains_xy(np.array(polys, dtype=object), x, y)
        assert np.flatnonzero(inside).tolist() == [i]


def test_thames_is_the_southern_edge(borough):
    assert borough.thames.geom_type == "LineString"
    assert borough.thames.distance(borough.outline.boundary) == 0
    assert borough.outline.boundary.buffer(1).contains(borough.thames)
    assert borough.thames.bounds[1] == borough.outline.bounds[1]


def test_denser_in_the_west_and_centre_than_the_industrial_south_east(borough):
    areas = borough.areas
    west_centre = areas[(areas["x"] < 549_000) & (areas["y"].between(183_500, 187_000))]
    south_east = areas[(areas["x"] > 547_000) & (areas["y"] < 183_300)]
    assert len(west_centre) > 10 * max(len(south_east), 1)


# -- populations -------------------------------------------------------------------------------

def test_strata_add_up(borough):
    areas = borough.areas
    pops = areas[[f"pop_{s}" for s in STRATA]]
    assert (pops.sum(axis=1) == areas["population"]).all()
    for outcome in ("cancer", "respiratory"):
        assert (areas[[f"{outcome}_{s}" for s in STRATA]].sum(axis=1) == areas[outcome]).all()
    assert "pop_m_0_15" in areas and "cancer_m_65_plus" in areas and "pop_f_65_plus" in areas


@pytest.mark.skipif(not REAL_POP.exists(), reason="real LBBD data not available")
def test_age_structure_close_to_the_real_borough(borough):
    real = pd.read_csv(REAL_POP)
    real_share = [real[f"Persons_{b}"].sum() / real["Persons_All-Ages"].sum()
                  for b in ("0-15", "16-29", "30-44", "45-64", "65+")]
    areas = borough.areas
    syn_share = [(areas[f"pop_m_{b}"] + areas[f"pop_f_{b}"]).sum() / areas["population"].sum()
                 for b in AGE_BANDS]
    np.testing.assert_allclose(syn_share, real_share, atol=0.05)


def test_age_structure_varies_between_areas(borough):
    areas = borough.areas
    child_share = (areas["pop_m_0_15"] + areas["pop_f_0_15"]) / areas["population"]
    assert 0.02 < child_share.std() < 0.06


# -- outcomes ----------------------------------------------------------------------------------

def test_planted_ids_are_documented_and_adjacent(borough):
    assert borough.planted["cancer"].ids == CANCER_CLUSTER_IDS
    assert borough.planted["cancer"].relative_risk == CANCER_RELATIVE_RISK
    assert borough.planted["flu_like"].ids == FLU_OUTBREAK_IDS
    assert "respiratory" not in borough.planted
    for key in ("cancer", "flu_like"):
        idx = borough.areas.index[borough.areas["id"].isin(borough.planted[key].ids)]
        union = shapely.union_all([borough.polygons[i] for i in idx])
        assert union.geom_type == "Polygon", f"{key} areas are not contiguous"
    centre = Point(548_000, 186_000)
    idx = borough.areas.index[borough.areas["id"].isin(CANCER_CLUSTER_IDS)]
    assert all(borough.polygons[i].distance(centre) < 1_000 for i in idx)


def test_cancer_excess_in_planted_areas_only(borough):
    sa = borough_study_area("cancer")
    oe = sa.cases / sa.expected
    planted = np.isin(sa.ids, CANCER_CLUSTER_IDS)
    assert (oe[planted] > 1.4).all()
    # Against the generating rates: planted areas at the planted RR, the rest at 1, within
    # Z Poisson standard errors of the pooled counts.
    true_e = _true_expected(borough.areas, CANCER)
    o, e = sa.cases[planted].sum(), true_e[planted].sum()
    assert abs(o / e - CANCER_RELATIVE_RISK) < Z * np.sqrt(o) / e
    o, e = sa.cases[~planted].sum(), true_e[~planted].sum()
    assert abs(o / e - 1) < Z / np.sqrt(e)
    # No unplanted area looks like the cluster.
    assert (oe[~planted] < 1.4).all()


def _most_likely_circle(sa) -> tuple[float, set]:
    """Brute-force Poisson circular scan (windows up to half the population): best LLR, ids."""
    total_c, half_p = sa.total_cases, sa.population.sum() / 2
    best = (0.0, set())
    for centre in sa.coords:
        order = np.argsort(np.hypot(*(sa.coords - centre).T), kind="stable")
        c, e = np.cumsum(sa.cases[order]), np.cumsum(sa.expected[order])
        for k in np.flatnonzero((np.cumsum(sa.population[order]) <= half_p) & (c > e)):
            llr = c[k] * np.log(c[k] / e[k]) + (total_c - c[k]) * np.log(
                (total_c - c[k]) / (total_c - e[k]))
            if llr > best[0]:
                best = (llr, set(sa.ids[order[:k + 1]]))
    return best


def test_adjusted_circular_scan_finds_the_planted_cluster():
    llr, ids = _most_likely_circle(borough_study_area("cancer"))
    overlap = len(ids & set(CANCER_CLUSTER_IDS)) / len(ids | set(CANCER_CLUSTER_IDS))
    assert overlap >= 0.6 and llr > 30


def test_respiratory_has_no_excess(borough):
    sa = borough_study_area("respiratory")
    true_e = _true_expected(borough.areas, RESPIRATORY)
    assert abs(sa.total_cases / true_e.sum() - 1) < Z / np.sqrt(true_e.sum())
    z = (sa.cases - true_e) / np.sqrt(true_e)
    assert np.abs(z).max() < Z


def test_study_area_with_strata(borough):
    sa = borough_study_area()
    assert sa.n_locations == len(borough.areas)
    assert sa.strata_names == tuple(STRATA)
    assert sa.case_strata.shape == (sa.n_locations, 10)
    assert sa.expected.sum() == pytest.approx(sa.total_cases)
    assert sa.total_cases == borough.areas["cancer"].sum()
    assert sa.crs == "EPSG:27700"
    plain = borough_study_area(adjust_for_age_sex=False)
    assert plain.case_strata is None
    assert plain.expected.sum() == pytest.approx(plain.total_cases)
    # The age structure varies, so adjusting changes the expected counts.
    assert np.abs(plain.expected / sa.expected - 1).max() > 0.1


def test_study_area_rejects_unknown_outcome():
    with pytest.raises(ScanParameterError, match="parameter 'outcome' must be one of 'cancer', "
                                                 "'respiratory'; got 'flu'"):
        borough_study_area("flu")


# -- weekly surveillance -----------------------------------------------------------------------

def test_weekly_shape_and_dates(borough):
    w = borough_weekly()
    assert list(w.columns) == ["id", "week_start", "cases", "population"]
    assert len(w) == len(borough.areas) * 52
    assert np.issubdtype(w["week_start"].dtype, np.datetime64)
    weeks = np.sort(w["week_start"].unique())
    assert len(weeks) == 52 and pd.Timestamp(weeks[0]) == pd.Timestamp("2023-01-02")
    assert (pd.DatetimeIndex(weeks).day_of_week == 0).all()
    assert (pd.DatetimeIndex(weeks).isocalendar()["week"].to_numpy() == np.arange(1, 53)).all()
    assert (w["cases"] >= 0).all()
    pops = w.groupby("id")["population"].first()
    assert (pops.to_numpy() == borough.areas.set_index("id")["population"].to_numpy()).all()


def test_weekly_outbreak_in_last_weeks(borough):
    w = borough_weekly()
    outbreak_weeks = borough.planted["flu_like"].weeks
    assert len(outbreak_weeks) == FLU_OUTBREAK_WEEKS
    in_area = w["id"].isin(FLU_OUTBREAK_IDS)
    late = w["week_start"].isin(pd.to_datetime(list(outbreak_weeks)))
    # Compare with the same weeks elsewhere, per resident, so the season cancels out.
    def rate(mask):
        return w.loc[mask, "cases"].sum() / w.loc[mask, "population"].sum()

    ratio_late = rate(in_area & late) / rate(~in_area & late)
    ratio_before = rate(in_area & ~late) / rate(~in_area & ~late)
    assert ratio_late > 2.0
    assert 0.8 < ratio_before < 1.25
    assert FLU_OUTBREAK_RELATIVE_RISK > 2.0


def test_weekly_other_lengths_and_errors():
    w = borough_weekly(weeks=10)
    assert w["week_start"].nunique() == 10
    with pytest.raises(ScanParameterError, match="parameter 'weeks' must be a whole number"):
        borough_weekly(weeks=2)
    with pytest.raises(ScanParameterError, match="parameter 'weeks' must be a whole number"):
        borough_weekly(weeks=5.5)
    with pytest.raises(ScanParameterError, match="parameter 'outcome' must be one of 'flu_like'"):
        borough_weekly("cancer")


# -- CSV ---------------------------------------------------------------------------------------

def test_write_borough_csv_round_trip(tmp_path, borough):
    path = write_borough_csv(tmp_path / "borough.csv")
    assert path == tmp_path / "borough.csv"
    assert path.read_text().splitlines()[0] == "id,x,y,cases,population"
    back = pd.read_csv(path)
    areas = borough.areas
    assert (back["id"] == areas["id"]).all()
    np.testing.assert_array_equal(back[["x", "y"]].to_numpy(), areas[["x", "y"]].to_numpy())
    assert (back["cases"] == areas["cancer"]).all()
    assert (back["population"] == areas["population"]).all()
    other = pd.read_csv(write_borough_csv(tmp_path / "resp.csv", outcome="respiratory"))
    assert (other["cases"] == areas["respiratory"]).all()


def test_module_uses_no_global_random_state():
    state = np.random.get_state()[1].copy()
    datasets._build_borough.cache_clear()
    datasets._weekly.cache_clear()
    load_borough()
    borough_weekly()
    np.testing.assert_array_equal(np.random.get_state()[1], state)
