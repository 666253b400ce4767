"""Gini clusters (SaTScan's Gini-optimised collections, purely spatial): the coefficient by
hand, the collections against the brute-force reference, the choice of collection, the outputs,
and SaTScan's own Gini run."""
import json

import numpy as np
import pytest
import reference
from conftest import SATSCAN_BUILD, random_dataset

import scan
from scan import secondary as sec
from scan.errors import ScanParameterError
from scan.spatial import model_arrays


# --- the coefficient ----------------------------------------------------------------------------

def test_coefficient_by_hand():
    """The spec's checks: Poisson C = 100 (total expected 100)."""
    g = sec.gini_coefficient([30], [10], [5.0], total_cases=100, total_measure=100)
    assert g == pytest.approx(0.2, abs=1e-12)
    g = sec.gini_coefficient([20, 15], [5, 10], [6.0, 2.0], total_cases=100, total_measure=100)
    assert g == pytest.approx(0.2125, abs=1e-12)
    assert sec.gini_coefficient([], [], [], total_cases=100, total_measure=100) == 0.0


def test_bernoulli_quirk():
    """SaTScan's Bernoulli coefficient: expected = n C / N but the x axis is divided by N, so a
    cluster of n = 20 (O = 15) among N = 200 (C = 50) gives 0.275, not the share formula's 0.2."""
    g = sec.gini_coefficient([15], [20], [3.0], total_cases=50, total_measure=200,
                             adjustment=50 / 200)
    assert g == pytest.approx(0.275, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_coefficient_equals_reference(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    measure = rng.uniform(1, 20, k)
    observed = np.floor(measure * rng.uniform(0.5, 3, k))
    stat = rng.uniform(0.1, 10, k)
    total_measure = measure.sum() + rng.uniform(10, 200)
    total_cases = observed.sum() + rng.integers(5, 200)
    adj = rng.uniform(0.1, 1.0) if seed % 2 else 1.0
    got = sec.gini_coefficient(observed, measure, stat, total_cases=total_cases,
                               total_measure=total_measure, adjustment=adj)
    want = reference.gini_index(list(zip(observed, measure, stat)), total_cases,
                                total_measure, adj)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


# --- a tiny scan, by hand ---------------------------------------------------------------------

def _line_area():
    """Ten locations of 100 people each (10% of the population each) far apart on a line, two
    of them close together; 30 and 15 cases there, 7 everywhere else (C = 101)."""
    x = [0.0, 1.0] + [10.0 * k for k in range(1, 9)]
    cases = [30, 15] + [7] * 8
    return scan.study_area([f"L{k}" for k in range(10)], x, [0.0] * 10, cases, [100] * 10,
                           crs=None)


def test_tiny_example_by_hand():
    """Below 10% no window fits (every location holds 10%): coefficient 0.  From 10% to 15%:
    clusters {L0} (30 / 10.1) and {L1} (15 / 10.1), G = 26.3 / 101.  From 20%: {L0, L1}
    (45 / 20.2) beats them, G = 24.8 / 101.  With no replications every cluster counts; the
    optimum is 10%, the first of the equal largest."""
    res = scan.circular_scan(_line_area(), n_replications=0, gini=True)
    g = res.gini
    assert [c.percent for c in g.collections] == list(map(float, sec.GINI_MAXIMA))
    coeff = {c.percent: c.coefficient for c in g.collections}
    for q in (1, 2, 3, 4, 5, 6, 8):
        assert coeff[q] == 0.0
    for q in (10, 12, 15):                # still one location per window
        assert coeff[q] == pytest.approx(26.3 / 101, rel=1e-12)
    for q in (20, 25, 30, 40, 50):
        assert coeff[q] == pytest.approx(24.8 / 101, rel=1e-12)
    assert g.optimal == 10.0 and g.chosen == (10.0,)
    assert [c.members for c in g.clusters] == [("L0",), ("L1",)]
    assert g.gini_cluster == (True, True)
    # the hierarchical clusters come from the largest maximum (50%): {L0, L1} first
    assert sorted(res.clusters[0].members) == ["L0", "L1"]
    d = res.to_json_dict()["gini"]
    assert d["optimal_percent"] == 10.0
    assert [c["members"] for c in d["clusters"]] == [["L0"], ["L1"]]
    assert d["coefficients"][7] == {"percent": 10.0, "coefficient": coeff[10],
                                    "n_clusters": 2, "n_counted": 2}
    assert "optimal Gini coefficient at 10%" in res.summary()
    every = scan.circular_scan(_line_area(), n_replications=0, gini=True,
                               gini_collections="all")
    assert every.gini.chosen == tuple(float(q) for q in sec.GINI_MAXIMA)
    assert [c.members for c in every.gini.clusters] == [("L0", "L1"), ("L0",), ("L1",)]


def test_choice_of_collection():
    # the largest coefficient, the first on a tie
    assert sec.choose_gini([0.0, 0.3, 0.3, 0.1], [1, 2, 2, 1], "optimal") == ([1], 1)
    # none positive: the largest maximum size with a cluster
    assert sec.choose_gini([0.0, 0.0, 0.0], [2, 1, 0], "optimal") == ([1], None)
    assert sec.choose_gini([0.0, 0.0], [0, 0], "optimal") == ([], None)
    assert sec.choose_gini([0.1, 0.2], [1, 1], "all") == ([0, 1], 1)
    # counted clusters: p < cutoff and not within 1e-9 of it; all of them below 99 replications
    assert sec.counted_for_gini([0.01, 0.05, 0.05 - 1e-12, 0.2], 0.05, 999) == \
        [True, False, False, False]
    assert sec.counted_for_gini([0.5, 1.0], 0.05, 98) == [True, True]
    assert sec.gini_maxima(35.0) == (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
    assert sec.gini_maxima(0.5) == ()


# --- against the reference ------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(16))
def test_collections_equal_reference(seed):
    """Each collection: the non-overlapping clusters (SaTScan's overlap test, order and cap) of
    windows up to q% of the population at risk; its coefficient from its clusters."""
    model = "poisson" if seed % 2 else "bernoulli"
    area = random_dataset(700 + seed, model, n=int(12 + seed))
    fraction = [0.5, 0.3, 0.25][seed % 3]
    res = scan.circular_scan(area, model=model, n_replications=0, gini=True,
                             max_population_fraction=fraction)
    weights, C, W = model_arrays(area, model)
    adjustment = 1.0 if model == "poisson" else C / W
    for col in res.gini.collections:
        want = reference.satscan_clusters(area.coords, area.cases, weights, area.ids, model,
                                          max_fraction=col.percent / 100.0)
        got = [(c.llr, c.center_index, sorted(c.member_indices.tolist())) for c in col.clusters]
        assert len(got) == len(want)
        for (gl, gc, gm), (wl, wc, wm) in zip(got, want):
            assert gl == pytest.approx(wl, rel=1e-9, abs=0)
            assert (gc, gm) == (wc, wm)
        groups = [(c.observed, c.expected if model == "poisson" else c.population,
                   c.test_statistic) for c in col.clusters]
        assert col.coefficient == pytest.approx(
            reference.gini_index(groups, C, W, adjustment), rel=1e-12, abs=1e-15)
    # the hierarchical list is the largest collection's, under the criterion
    assert [c.members for c in res.clusters] == \
        [c.members for c in res.gini.collections[-1].clusters]


def test_refused_outside_purely_spatial_and_tiny_windows():
    area = random_dataset(3, n=10)
    with pytest.raises(ScanParameterError, match=r"parameter 'gini' must be used with windows "
                       r"of at least 1% of the population at risk"):
        scan.circular_scan(area, n_replications=0, gini=True, max_population_fraction=0.005)
    from scan.pipeline import Inference, check_inference

    with pytest.raises(ScanParameterError, match="parameter 'gini' must be False outside "
                       "purely spatial scans"):
        check_inference(Inference(gini=True), analysis="retrospective", model="poisson",
                        n_replications=0)


def test_gini_through_the_cli(tmp_path):
    import pandas as pd

    from scan.cli import main

    area = _line_area()
    csv = tmp_path / "line.csv"
    pd.DataFrame({"id": area.ids, "x": area.coords[:, 0], "y": area.coords[:, 1],
                  "cases": area.cases, "population": area.population}).to_csv(csv, index=False)
    out = tmp_path / "out"
    assert main(["spatial", str(csv), "--out", str(out), "--crs", "none", "--replications", "0",
                 "--gini", "--quiet", "--formats", "summary"]) == 0
    d = json.loads((out / "result.json").read_text())
    assert d["gini"]["optimal_percent"] == 10.0
    assert d["parameters"]["gini"] is True
    assert "Gini coefficients" in (out / "summary.txt").read_text()


# --- SaTScan's own Gini run ---------------------------------------------------------------------

def test_equals_satscan_gini_run():
    """New Mexico, purely spatial Poisson, Gini "all values", 999 replications: coefficients
    0.04831 (40%) and 0.05391 (50%), 0 below; the reported list (hierarchical and Gini clusters,
    duplicates once, most likely first) equals SaTScan's, with the same Gini flags."""
    samples = SATSCAN_BUILD / "samples"
    parsed = SATSCAN_BUILD / "sample-outputs" / "variants" / "NewMexico_purelyspatial_gini" / \
        "parsed.json"
    if not parsed.is_file():
        pytest.skip("SaTScan sample outputs absent")
    want = json.loads(parsed.read_text())
    area = scan.read_satscan(samples / "nm.cas", geo=samples / "nm.geo", pop=samples / "nm.pop",
                             coordinates="latlong", start="1973/1/1", end="1991/12/31")
    res = scan.circular_scan(area, n_replications=999, rng=2, gini=True,
                             gini_collections="all")
    got = {f"{c.percent:.1f}": float(f"{c.coefficient:.4g}") for c in res.gini.collections}
    assert got == want["gini_indexes"]
    merged, seen = [], set()
    for c, flag in [(c, None) for c in res.clusters] + list(zip(res.gini.clusters,
                                                                 res.gini.gini_cluster)):
        key = frozenset(c.members)
        if key not in seen:
            seen.add(key)
            merged.append(c)
    flags = {frozenset(c.members): f for c, f in zip(res.gini.clusters, res.gini.gini_cluster)}
    merged.sort(key=lambda c: -c.test_statistic)
    for got_c, w in zip(merged, want["clusters"]):
        assert sorted(got_c.members) == sorted(w["locations"])
        assert got_c.llr == pytest.approx(w["llr"], abs=1e-6)
        assert flags.get(frozenset(got_c.members), False) == w["gini_cluster"]
    assert len(merged) >= len(want["clusters"])
