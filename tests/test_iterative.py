"""The iterative scan: SaTScan's removal rules, its stopping rules, the same seeds at every
iteration, exact p-values of the second iteration by enumeration, thread invariance, null
calibration of the first iteration, and SaTScan's own iterative run."""
import dataclasses
import json
import math

import numba
import numpy as np
import pytest
import reference
from conftest import SATSCAN_BUILD, random_dataset

import scan
from scan.errors import ScanParameterError


def _compositions(total, parts, caps=None):
    if parts == 0:
        if total == 0:
            yield ()
        return
    top = total if caps is None else min(total, caps[0])
    for first in range(top + 1):
        for rest in _compositions(total - first, parts - 1, None if caps is None else caps[1:]):
            yield (first,) + rest


def _exact_p(coords, cases, weights, model, observed, alive):
    """P(max LLR >= observed) under the null of the data left, every allocation of its cases
    over the locations still holding data (multinomial on the expected counts for Poisson,
    hypergeometric on the populations for Bernoulli)."""
    wins = reference.windows(coords, weights, max_fraction=0.5)
    C = int(round(cases.sum()))
    idx = np.flatnonzero(alive)
    p = 0.0
    if model == "poisson":
        probs = weights[idx] / weights[idx].sum()
        allocs = _compositions(C, len(idx))
        pmf = lambda a: math.factorial(C) * math.prod(q ** k / math.factorial(k)  # noqa: E731
                                                      for q, k in zip(probs, a))
    else:
        pops = weights[idx].astype(int)
        allocs = _compositions(C, len(idx), tuple(pops))
        N = int(pops.sum())
        pmf = lambda a: (math.prod(math.comb(n, k) for n, k in zip(pops, a))  # noqa: E731
                         / math.comb(N, C))
    for a in allocs:
        full = np.zeros(len(cases))
        full[idx] = a
        if reference.max_llr(wins, full, weights, model, "high") >= observed * (1 - 1e-9):
            p += pmf(a)
    return p


CASES = {
    "poisson": dict(x=[0.0, 1.0, 2.5, 6.0, 7.0, 9.5], cases=[5, 3, 0, 3, 2, 0],
                    population=[10, 9, 12, 11, 8, 10]),
    "bernoulli": dict(x=[0.0, 1.0, 2.5, 6.0, 7.0, 9.5], cases=[4, 3, 0, 2, 2, 1],
                      population=[5, 6, 7, 6, 5, 7]),
}


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_second_iteration_p_value_matches_exact_enumeration(model):
    c = CASES[model]
    n = len(c["x"])
    area = scan.study_area([f"L{i}" for i in range(n)], c["x"], [0.0] * n, c["cases"],
                           c["population"], crs=None, model=model)
    R = 9999
    res = scan.circular_scan(area, model=model, n_replications=R, rng=2025, iterative=True,
                             iterative_max=2, iterative_cutoff=1.0)
    assert [cl.iteration for cl in res.clusters] == [1, 2]
    first, second = res.clusters
    # the data of the second iteration, by SaTScan's rule
    cases, expected, population = reference.remove_cluster(
        area.cases, area.expected, area.population, first.member_indices, model)
    weights = expected if model == "poisson" else population
    wins = reference.windows(area.coords, weights, max_fraction=0.5)
    assert second.llr == pytest.approx(
        reference.max_llr(wins, cases, weights, model, "high"), rel=1e-12)
    assert res.iterations[1].total_cases == cases.sum()
    alive = np.ones(n, dtype=bool)
    alive[first.member_indices] = False
    p_exact = _exact_p(area.coords, cases, weights, model, second.test_statistic, alive)
    assert 0.02 < p_exact < 0.9      # the check has power
    mean = (1 + R * p_exact) / (R + 1)
    se = math.sqrt(p_exact * (1 - p_exact) / R) * R / (R + 1)
    assert abs(second.p_value - mean) < 3 * se, (second.p_value, p_exact)


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_every_iteration_replays_the_same_seeds(model):
    """Iteration 2 draws replication r from the same stream as iteration 1: its null is the
    null of a plain scan of the data left, with the same seed, bit for bit."""
    area = random_dataset(21, model, n=25)
    res = scan.circular_scan(area, model=model, n_replications=199, rng=8, iterative=True,
                             iterative_max=2, iterative_cutoff=1.0)
    assert len(res.iterations) == 2
    cases, expected, population = reference.remove_cluster(
        area.cases, area.expected, area.population, res.clusters[0].member_indices, model)
    left = dataclasses.replace(area, cases=cases.astype(np.int64), expected=expected,
                               population=population)
    plain = scan.circular_scan(left, model=model, n_replications=199, rng=8)
    assert plain.null_distribution.tobytes() == res.iterations[1].null_distribution.tobytes()
    assert plain.clusters[0].members == res.clusters[1].members
    assert plain.clusters[0].p_value == res.clusters[1].p_value


def test_poisson_removal_rescales_the_expected_counts():
    area = random_dataset(4, "poisson", n=20)
    res = scan.circular_scan(area, n_replications=0, iterative=True, iterative_max=2)
    first = res.clusters[0]
    c, E = first.observed, first.expected
    C = area.total_cases
    assert res.iterations[1].total_cases == C - c
    # each location left keeps its expected count times (C - c) / (C - E)
    cases, expected, _ = reference.remove_cluster(area.cases, area.expected, area.population,
                                                  first.member_indices, "poisson")
    inside = np.zeros(area.n_locations, dtype=bool)
    inside[first.member_indices] = True
    np.testing.assert_allclose(expected[~inside], area.expected[~inside] * (C - c) / (C - E),
                               rtol=1e-12)
    assert expected.sum() == pytest.approx(C - c)
    second = res.clusters[1]
    assert second.expected == pytest.approx(expected[second.member_indices].sum(), rel=1e-12)


def test_stops_after_the_first_cluster_above_the_cutoff():
    """The last, non-significant cluster is reported, and no further iteration runs."""
    area = random_dataset(9, "poisson", n=30)
    res = scan.circular_scan(area, n_replications=99, rng=3, iterative=True, iterative_max=10,
                             iterative_cutoff=0.05)
    ps = [c.p_value for c in res.clusters]
    assert all(p <= 0.05 for p in ps[:-1]) and (ps[-1] > 0.05 or len(ps) == 10)
    assert [c.iteration for c in res.clusters] == list(range(1, len(ps) + 1))
    assert [c.rank for c in res.clusters] == list(range(1, len(ps) + 1))
    # a p equal to the cutoff goes on (SaTScan compares p > cutoff)
    at = scan.circular_scan(area, n_replications=99, rng=3, iterative=True, iterative_max=3,
                            iterative_cutoff=ps[0])
    assert len(at.clusters) >= 2
    # no replications: no p-value test, the iterations run to the maximum
    none = scan.circular_scan(area, n_replications=0, iterative=True, iterative_max=4)
    assert len(none.clusters) == 4
    d = res.to_json_dict()
    assert [it["iteration"] for it in d["iterations"]] == [c.iteration for c in res.clusters]
    assert d["clusters"][-1]["iteration"] == len(ps)
    assert "Iterative scan:" in res.summary()


def test_removed_locations_stay_as_a_lake():
    """Removed locations keep no data but remain centres and members of later windows; a window
    of removed locations only is never a cluster."""
    area = random_dataset(12, "poisson", n=25)
    res = scan.circular_scan(area, n_replications=0, iterative=True, iterative_max=6)
    removed = set()
    for c in res.clusters:
        assert not set(c.member_indices.tolist()) <= removed
        removed |= set(c.member_indices.tolist())


def test_space_time_permutation_removes_whole_period():
    from scan.datasets import borough_spacetime

    data = borough_spacetime(weeks=10)
    res = scan.spacetime_scan(data, model="permutation", n_replications=0, iterative=True,
                              iterative_max=3)
    assert len(res.clusters) >= 2
    first = res.clusters[0]
    left = data.cases.sum() - data.cases[first.member_indices].sum()  # every interval
    assert res.iterations[1].total_cases == left
    assert not set(res.clusters[1].member_indices.tolist()) <= set(first.member_indices.tolist())


def test_purely_temporal_removes_the_time_window():
    from scan.datasets import borough_spacetime

    data = borough_spacetime(weeks=10)
    res = scan.spacetime_scan(data, analysis="temporal", n_replications=0, iterative=True,
                              iterative_max=2)
    first = res.clusters[0]
    assert res.iterations[1].total_cases == data.cases.sum() - first.observed
    assert (res.clusters[1].start, res.clusters[1].end) != (first.start, first.end)


def test_refused_combinations():
    from scan.datasets import borough_spacetime

    with pytest.raises(ScanParameterError, match=r"parameter 'iterative' must "
                       "be False for space-time Poisson scans"):
        scan.spacetime_scan(borough_spacetime(weeks=10), n_replications=0, iterative=True)
    area = random_dataset(3, n=10)
    with pytest.raises(ScanParameterError, match=r"parameter 'gini' must be False "
                       "with the iterative scan"):
        scan.circular_scan(area, n_replications=0, iterative=True, gini=True)
    with pytest.raises(ScanParameterError, match=r"parameter 'windows' must be None with "
                       "iterative=True"):
        scan.circular_scan(area, n_replications=0, iterative=True,
                           windows=scan.windows.build_windows(area.coords, area.expected))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one thread only: thread invariance cannot be shown here")
def test_identical_for_1_and_2_threads():
    area = random_dataset(21, "bernoulli", n=25)
    kw = dict(model="bernoulli", n_replications=300, rng=8, iterative=True, iterative_max=3,
              iterative_cutoff=1.0, early_termination=True)
    one = scan.circular_scan(area, threads=1, **kw)
    two = scan.circular_scan(area, threads=2, **kw)
    assert [(c.members, c.p_value) for c in one.clusters] == \
        [(c.members, c.p_value) for c in two.clusters]
    for a, b in zip(one.iterations, two.iterations):
        assert a.null_distribution.tobytes() == b.null_distribution.tobytes()


def _binomial_band(n, p, level=0.99):
    from scipy.stats import binom

    return binom.ppf((1 - level) / 2, n, p), binom.ppf(1 - (1 - level) / 2, n, p)


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_first_iteration_calibrated_under_the_null(model):
    """Under the null, the first iteration's p <= 0.05 in 5% of data sets (exactly 5/100 with
    R = 99): the count stays in the binomial 99% band."""
    rng = np.random.default_rng(31 if model == "poisson" else 32)
    n, n_datasets = 30, 400
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    population = rng.integers(50, 500, n)
    rejections = 0
    for k in range(n_datasets):
        if model == "poisson":
            cases = rng.multinomial(50, population / population.sum())
        else:
            cases = rng.multivariate_hypergeometric(population, 50)
        area = scan.study_area(np.arange(n), x, y, cases, population, crs=None, model=model)
        res = scan.circular_scan(area, model=model, n_replications=99, rng=k, iterative=True,
                                 iterative_max=2, iterative_cutoff=0.05)
        rejections += res.clusters[0].p_value <= 0.05
    lo, hi = _binomial_band(n_datasets, 0.05)
    assert lo <= rejections <= hi, rejections


# --- SaTScan's own iterative run -----------------------------------------------------------------

def test_equals_satscan_iterative_run():
    """NHumberside, Bernoulli, iterative (3 iterations, cutoff 1, SaTScan's default early
    termination): the same three clusters, locations, counts and LLRs."""
    samples = SATSCAN_BUILD / "samples"
    parsed = SATSCAN_BUILD / "sample-outputs" / "variants" / "NHumberside_iterative" / \
        "parsed.json"
    if not parsed.is_file():
        pytest.skip("SaTScan sample outputs absent")
    want = json.loads(parsed.read_text())["clusters"]
    area = scan.read_satscan(samples / "NHumberside.cas", geo=samples / "NHumberside.geo",
                             ctl=samples / "NHumberside.ctl", model="bernoulli")
    res = scan.circular_scan(area, model="bernoulli", n_replications=999, rng=1,
                             iterative=True, iterative_max=3, iterative_cutoff=1.0,
                             early_termination=True)
    assert len(res.clusters) == len(want) == 3
    for got, w in zip(res.clusters, want):
        assert got.center == w["centre"]
        assert sorted(got.members) == sorted(w["locations"])
        assert got.observed == w["observed"]
        assert round(got.expected, 2) == w["expected"]
        assert got.llr == pytest.approx(w["llr"], abs=1e-6)
    assert [it.total_cases for it in res.iterations] == [62, 58, 54]
    assert [it.n_locations for it in res.iterations] == [191, 187, 183]
