"""Exposure joined to scans: per-cluster context, the CLI contract and the adjusted scan."""
import json

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REAL, needs_real

import scan
from scan.cli import main
from scan.datasets import load_borough
from scan.exposure.adjust import adjusted_scan, fit_exposure, survives
from scan.exposure.join import with_exposure
from scan.exposure.summary import polygon_means
from scan.exposure.synthetic import synthetic_laei


@pytest.fixture(scope="module")
def borough_no2():
    borough = load_borough()
    grid = synthetic_laei()
    return borough, polygon_means(grid["NO2"], borough.polygons)


def _area(borough, cases):
    a = borough.areas
    return scan.study_area(a["id"], a["x"], a["y"], cases, a["population"], source="synthetic")


def test_poisson_regression_recovers_a_known_slope():
    rng = np.random.default_rng(4)
    x = rng.uniform(10, 60, 4000)
    e = rng.uniform(5, 50, 4000)
    y = rng.poisson(e * np.exp(-0.3 + 0.02 * x))
    fit = fit_exposure(y, e, x, "NO2")
    assert abs(fit.slope - 0.02) < 4 * fit.slope_se
    # score equations at the optimum: the adjusted expected counts sum to the cases
    assert (e * np.exp(fit.intercept + fit.slope * x)).sum() == pytest.approx(y.sum(), rel=1e-9)


def test_cluster_explained_by_no2_disappears_after_adjustment(borough_no2):
    borough, no2 = borough_no2
    pop = borough.areas["population"].to_numpy(float)
    rng = np.random.default_rng(8)
    risk = np.exp(0.06 * (no2 - np.median(no2)))  # risk depends on NO2 only
    cases = rng.poisson(pop * 0.004 * risk)
    res = scan.circular_scan(_area(borough, cases), n_replications=199, rng=1)
    assert res.p_value <= 0.05
    mlc = res.most_likely
    assert no2[mlc.member_indices].mean() > np.median(no2)  # near the roads
    fit, adjusted = adjusted_scan(res, no2, "NO2")
    assert fit.slope > 3 * fit.slope_se
    assert adjusted.p_value > 0.05
    assert not survives(res, adjusted)


def test_cluster_unrelated_to_no2_survives_adjustment(borough_no2):
    borough, no2 = borough_no2
    res = scan.circular_scan(scan.datasets.borough_study_area("cancer"), n_replications=199, rng=1)
    assert res.p_value <= 0.05
    fit, adjusted = adjusted_scan(res, no2, "NO2")
    assert adjusted.p_value <= 0.05 and survives(res, adjusted)
    planted = set(borough.planted["cancer"].ids)
    assert planted & set(adjusted.most_likely.members)


def test_cluster_exposure_in_results(borough_no2):
    borough, no2 = borough_no2
    res = scan.circular_scan(scan.datasets.borough_study_area("cancer"), n_replications=19, rng=1)
    res = with_exposure(res, {"NO2": no2})
    c = res.most_likely
    pop = res.area.population
    inside = c.member_indices
    outside = np.setdiff1d(np.arange(len(pop)), inside)
    ex = c.exposure["NO2"]
    assert ex["mean_inside"] == pytest.approx(np.average(no2[inside], weights=pop[inside]))
    assert ex["mean_outside"] == pytest.approx(np.average(no2[outside], weights=pop[outside]))
    assert ex["max_inside"] == pytest.approx(no2[inside].max())
    assert ex["share_above_who_guideline"] == pytest.approx(
        pop[inside][no2[inside] > 10].sum() / pop[inside].sum())


def test_cli_exposure_grid_and_table(tmp_path, borough_no2):
    from scan.datasets import write_borough_csv
    from scan.exposure.grids import write_netcdf

    borough, no2 = borough_no2
    data = write_borough_csv(tmp_path / "cancer.csv")
    nc = write_netcdf(synthetic_laei(), tmp_path / "laei.nc")
    table = tmp_path / "no2.csv"
    pd.DataFrame({"id": borough.areas["id"], "NO2": no2}).to_csv(table, index=False)
    for spec in (str(nc), f"NO2={table}"):
        out = tmp_path / ("out" + str(len(spec)))
        assert main(["spatial", str(data), "--out", str(out), "--replications", "19", "--seed", "2",
                     "--quiet", "--exposure", spec, "--adjust-for", "NO2"]) == 0
        result = json.loads((out / "result.json").read_text())
        ex = result["clusters"][0]["exposure"]["NO2"]
        for key in ("mean_inside", "mean_outside", "max_inside", "share_above_uk_limit",
                    "share_above_who_guideline"):
            assert key in ex
        assert "NO2" in result["adjusted"]
        assert "NO2_mean_inside" in pd.read_csv(out / "clusters.csv").columns


def test_cli_exposure_laei_csv_named_by_file(tmp_path):
    """An LAEI 2019-style CSV (x, y, conc), pollutant taken from the file name."""
    from scan.datasets import write_borough_csv

    data = write_borough_csv(tmp_path / "cancer.csv")
    grid = synthetic_laei(resolution=100.0)["NO2"]
    xx, yy = np.meshgrid(grid["x"].values, grid["y"].values)
    laei = tmp_path / "laei_LAEI2019v3_CorNOx15_NO2.csv"
    pd.DataFrame({"x": xx.ravel(), "y": yy.ravel(), "conc": grid.values.ravel()}).to_csv(laei, index=False)
    out = tmp_path / "out"
    assert main(["spatial", str(data), "--out", str(out), "--replications", "9", "--seed", "2",
                 "--quiet", "--exposure", str(laei)]) == 0
    result = json.loads((out / "result.json").read_text())
    ex = result["clusters"][0]["exposure"]["NO2"]
    assert 15 < ex["mean_inside"] < 60 and ex["max_inside"] >= ex["mean_inside"]
    assert (out / "map.png").exists()


def test_cli_adjust_for_needs_the_exposure(tmp_path, capsys):
    from scan.datasets import write_borough_csv

    data = write_borough_csv(tmp_path / "cancer.csv")
    assert main(["spatial", str(data), "--out", str(tmp_path / "o"), "--quiet",
                 "--adjust-for", "NO2", "--replications", "9"]) == 2
    assert "--adjust-for" in capsys.readouterr().err


@needs_real
def test_real_lsoa_no2_joined_to_real_centroids_reproduces_borough_mean():
    pwc = pd.read_csv(REAL / "lbbd_lsoa11_pwc.csv")
    pop = pd.read_csv(REAL / "lbbd_lsoa11_pop_mid2019.csv")
    laei = pd.read_csv(REAL / "lbbd_lsoa11_laei_concentration_summary.csv")
    # independent computation: merge the files and weight by population
    merged = pwc.merge(pop, left_on="lsoa11cd", right_on="LSOA11CD").merge(laei, on="LSOA11CD")
    want = np.average(merged["NO2-2019-mean"], weights=merged["Persons_All-Ages"])
    # through scan: a study area on the real centroids, the table joined by id
    merged = merged.sort_values("x_bng")  # a different order from the table's
    area = scan.study_area(merged["lsoa11cd"], merged["x_bng"], merged["y_bng"],
                           np.ones(len(merged)), merged["Persons_All-Ages"])
    from scan.exposure.join import load_exposure

    values, grid = load_exposure(area, f"NO2={REAL / 'lbbd_lsoa11_laei_concentration_summary.csv'}",
                                 year=2019)
    assert grid is None and len(area.ids) == 110
    from scan.exposure.summary import cluster_exposure

    got = cluster_exposure(values["NO2"], area.population, np.ones(110, bool), pollutant="NO2")
    assert got["mean_inside"] == pytest.approx(want, rel=1e-12)
    assert 22 < got["mean_inside"] < 32


def test_cli_boundaries_give_polygon_means(tmp_path, borough_no2):
    """--boundaries: grid exposure averaged over each area's polygon, from WKT CSV or GeoJSON."""
    import pyproj
    import shapely

    from scan.datasets import write_borough_csv
    from scan.exposure.grids import write_netcdf

    borough, no2 = borough_no2  # polygon means of the synthetic NO2 grid, computed directly
    data = write_borough_csv(tmp_path / "cancer.csv")
    nc = write_netcdf(synthetic_laei(), tmp_path / "laei.nc")
    wkt = tmp_path / "areas.csv"
    pd.DataFrame({"id": borough.areas["id"],
                  "geometry": [p.wkt for p in borough.polygons]}).to_csv(wkt, index=False)
    t = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)

    def to_wgs84(geom):
        return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))

    gj = tmp_path / "areas.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": i},
         "geometry": shapely.geometry.mapping(to_wgs84(p))}
        for i, p in zip(borough.areas["id"], borough.polygons)]}))
    res = scan.circular_scan(scan.read_csv(data), n_replications=9, rng=4)
    want = with_exposure(res, {"NO2": no2}).most_likely.exposure["NO2"]["mean_inside"]
    for boundaries in (wkt, gj):
        out = tmp_path / boundaries.suffix.strip(".")
        assert main(["spatial", str(data), "--out", str(out), "--replications", "9", "--seed", "4",
                     "--quiet", "--exposure", str(nc), "--boundaries", str(boundaries)]) == 0
        got = json.loads((out / "result.json").read_text())["clusters"][0]["exposure"]["NO2"]
        assert got["mean_inside"] == pytest.approx(want, rel=1e-3)


def test_boundaries_must_cover_every_location(tmp_path, capsys):
    from scan.datasets import write_borough_csv

    data = write_borough_csv(tmp_path / "cancer.csv")
    (tmp_path / "b.csv").write_text('id,geometry\nSYN001,"POLYGON ((0 0, 1 0, 1 1, 0 0))"\n')
    grid = Path(__file__).parent / "data" / "exposure" / "laei_LAEI2019v3_CorNOx15_NO2.csv"
    assert main(["spatial", str(data), "--out", str(tmp_path / "o"), "--replications", "9",
                 "--quiet", "--exposure", str(grid), "--boundaries",
                 str(tmp_path / "b.csv")]) == 2
    assert "have no boundary, e.g. 'SYN002'" in capsys.readouterr().err
