"""Published results on public reference data (skipped when ../shared is absent)."""
import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, needs_reference

import scan


@needs_reference
def test_ny_leukaemia_published_clusters():
    """smerc's check against SaTScan: cases floored, Poisson, 10% of the population, Euclidean
    distances on lon/lat taken as plain numbers."""
    df = pd.read_csv(REFERENCE / "ny_leukemia_nydf.csv")
    area = scan.study_area(df["id"], df["lon"], df["lat"], np.floor(df["cases"]), df["population"],
                           crs=None, source="ny_leukemia_nydf.csv")
    res = scan.circular_scan(area, max_population_fraction=0.1, n_replications=99, rng=1)
    first, second = res.clusters[0], res.clusters[1]
    assert first.n_locations == 26
    assert first.population == 95_249
    assert first.observed == 85
    assert round(first.expected, 2) == 49.71
    assert first.llr == pytest.approx(11.577255, abs=1e-6)
    assert second.n_locations == 8
    assert second.observed == 38
    assert round(second.expected, 2) == 17.79
    assert second.llr == pytest.approx(9.019716, abs=1e-6)


@needs_reference
def test_ny_leukaemia_through_the_cli(tmp_path):
    import json

    from scan.cli import main

    df = pd.read_csv(REFERENCE / "ny_leukemia_nydf.csv")
    csv = tmp_path / "ny.csv"
    pd.DataFrame({"id": df["id"], "x": df["lon"], "y": df["lat"], "cases": np.floor(df["cases"]).astype(int),
                  "population": df["population"]}).to_csv(csv, index=False)
    assert main(["spatial", str(csv), "--out", str(tmp_path / "out"), "--crs", "none",
                 "--max-population-fraction", "0.1", "--replications", "99", "--seed", "1",
                 "--quiet"]) == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    top = result["clusters"][0]
    assert len(top["members"]) == 26 and top["observed"] == 85
    assert top["llr"] == pytest.approx(11.577255, abs=1e-6)
    assert result["seed"] == 1 and len(result["null_distribution"]) == 99


@needs_reference
def test_new_mexico_satscan_files_scan_with_covariates():
    d = REFERENCE / "satscan_samples"
    area = scan.read_satscan(d / "nm.cas", geo=d / "nm.geo", pop=d / "nm.pop", coordinates="latlong")
    assert area.n_locations == 32 and area.total_cases == 1175
    assert area.population_strata is not None and area.population_strata.shape[1] > 1
    assert area.expected.sum() == pytest.approx(1175)
    res = scan.circular_scan(area, n_replications=99, rng=3)
    assert res.most_likely.llr > 0 and res.most_likely.radius >= 0


@needs_reference
def test_north_humberside_bernoulli():
    d = REFERENCE / "satscan_samples"
    area = scan.read_satscan(d / "NHumberside.cas", geo=d / "NHumberside.geo", ctl=d / "NHumberside.ctl",
                             model="bernoulli")
    res = scan.circular_scan(area, model="bernoulli", n_replications=99, rng=3)
    assert area.n_locations == 191
    assert res.most_likely.observed <= res.most_likely.population


@pytest.mark.skipif(not (REFERENCE.parent / "real").is_dir(), reason="../shared/data/real absent")
def test_real_lsoa_centroids_lonlat_projected_equal_bng_route(tmp_path):
    """The real LBBD centroids given as lon/lat and reprojected with pyproj scan like the BNG
    coordinates of the same file (computed with pyproj too, per SOURCES.md)."""
    real = REFERENCE.parent / "real"
    pwc = pd.read_csv(real / "lbbd_lsoa11_pwc.csv")
    pop = pd.read_csv(real / "lbbd_lsoa11_pop_mid2019.csv").set_index("LSOA11CD")
    population = pop.loc[pwc["lsoa11cd"], "Persons_All-Ages"].to_numpy()
    cases = np.random.default_rng(3).poisson(population * 0.01)
    bng = scan.study_area(pwc["lsoa11cd"], pwc["x_bng"], pwc["y_bng"], cases, population)
    ll = scan.study_area(pwc["lsoa11cd"], pwc["lon"], pwc["lat"], cases, population,
                         coordinates="latlong", project_to="EPSG:27700")
    assert np.abs(ll.coords - bng.coords).max() < 1.0  # the file's BNG values are rounded to 0.1 m
    a = scan.circular_scan(bng, n_replications=99, rng=5)
    b = scan.circular_scan(ll, n_replications=99, rng=5)
    assert a.most_likely.members == b.most_likely.members
    assert a.most_likely.llr == pytest.approx(b.most_likely.llr, rel=1e-12)
