"""Monte Carlo inference: exact p-values by enumeration, reproducibility across threads and runs."""
import math

import numba
import numpy as np
import pytest
import reference

import scan
from scan import _random as rnd
from scan import montecarlo as mc
from scan.result import monte_carlo_p_value


def _compositions(total, parts, caps=None):
    if parts == 1:
        if caps is None or total <= caps[0]:
            yield (total,)
        return
    top = total if caps is None else min(total, caps[0])
    for first in range(top + 1):
        for rest in _compositions(total - first, parts - 1, None if caps is None else caps[1:]):
            yield (first,) + rest


def _exact_p(area, model, observed_llr, max_fraction):
    """P(max LLR >= observed) under the null, by enumerating every allocation of the cases."""
    weights = area.expected if model == "poisson" else area.population
    wins = reference.windows(area.coords, weights, max_fraction=max_fraction)
    C = area.total_cases
    p = 0.0
    if model == "poisson":
        probs = area.expected / area.expected.sum()
        allocations = _compositions(C, area.n_locations)
        pmf = lambda a: math.factorial(C) * math.prod(q ** k / math.factorial(k) for q, k in zip(probs, a))
    else:
        pops = area.population.astype(int)
        allocations = _compositions(C, area.n_locations, tuple(pops))
        N = int(pops.sum())
        pmf = lambda a: math.prod(math.comb(n, k) for n, k in zip(pops, a)) / math.comb(N, C)
    for alloc in allocations:
        m = reference.max_llr(wins, np.array(alloc, dtype=float), weights, model, "high")
        if m >= observed_llr * (1 - 1e-9):
            p += pmf(alloc)
    return p


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_monte_carlo_p_value_matches_exact_enumeration(model):
    if model == "poisson":
        area = scan.study_area(list("abcd"), [0.0, 1.0, 3.0, 7.0], [0.0, 0.0, 0.0, 0.0],
                               [4, 1, 1, 2], [10, 12, 9, 14], crs=None)
    else:
        area = scan.study_area(list("abcd"), [0.0, 1.0, 3.0, 7.0], [0.0, 0.0, 0.0, 0.0],
                               [3, 1, 0, 2], [6, 7, 5, 8], crs=None, model="bernoulli")
    R = 9999
    res = scan.circular_scan(area, model=model, max_population_fraction=0.5, n_replications=R, rng=2024)
    p_exact = _exact_p(area, model, res.statistic, 0.5)
    assert 0.02 < p_exact < 0.9  # a problem where the check has power
    # E[(1 + hits) / (R + 1)] = (1 + R p) / (R + 1); its standard error is sqrt(p (1-p) / R) R / (R + 1)
    mean = (1 + R * p_exact) / (R + 1)
    se = math.sqrt(p_exact * (1 - p_exact) / R) * R / (R + 1)
    assert abs(res.p_value - mean) < 3 * se, (res.p_value, p_exact)


def _small_area(seed=11, model="poisson"):
    from conftest import random_dataset

    return random_dataset(seed, model, n=15)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one thread only: thread invariance cannot be shown here")
@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_null_distribution_identical_for_1_and_2_threads(model):
    area = _small_area(model=model)
    before = numba.get_num_threads()
    one = scan.circular_scan(area, model=model, n_replications=300, rng=5, threads=1)
    two = scan.circular_scan(area, model=model, n_replications=300, rng=5, threads=2)
    assert numba.get_num_threads() == before          # restored
    assert one.null_distribution.tobytes() == two.null_distribution.tobytes()
    assert [c.p_value for c in one.clusters] == [c.p_value for c in two.clusters]


def test_first_999_of_1999_equal_the_999_run():
    area = _small_area()
    short = scan.circular_scan(area, n_replications=999, rng=77)
    long = scan.circular_scan(area, n_replications=1999, rng=77)
    assert short.null_distribution.tobytes() == long.null_distribution[:999].tobytes()


def test_chunking_and_block_boundaries_do_not_change_replicates():
    area = _small_area()
    res = scan.circular_scan(area, n_replications=200, rng=3)
    weights = area.expected
    problem = mc.null_problem(scan.windows.build_windows(area.coords, weights), weights,
                              area.total_cases, area.population, 0, 0, 3)
    pieces = np.concatenate([problem.run(0, 5), problem.run(5, 133), problem.run(133, 200)])
    assert pieces.tobytes() == res.null_distribution.tobytes()
    assert mc.run_threads(problem, 200, chunk=17).tobytes() == res.null_distribution.tobytes()


def test_seed_is_recorded_and_replays():
    area = _small_area()
    first = scan.circular_scan(area, n_replications=99, rng=None)
    again = scan.circular_scan(area, n_replications=99, rng=first.seed)
    assert again.null_distribution.tobytes() == first.null_distribution.tobytes()
    ss = np.random.SeedSequence(123)
    assert scan.circular_scan(area, n_replications=9, rng=ss).seed == 123


def test_rng_rejects_bad_values():
    with pytest.raises(ValueError, match="parameter 'rng' must be a non-negative int"):
        mc.normalise_seed(-1)
    with pytest.raises(ValueError, match="parameter 'rng'"):
        mc.normalise_seed("seven")


def test_multinomial_draws_follow_the_expected_counts():
    weights = np.array([1.0, 0.0, 2.0, 3.0])  # a zero-weight location in second place
    prob, alias = mc.alias_table(weights)
    counts = np.zeros(4, dtype=np.int32)
    totals = np.zeros(4)
    states = mc.replicate_states(99, 0, 2000)
    for s in states:
        rnd._draw_multinomial(s.copy(), 30, prob, alias, counts)
        assert counts.sum() == 30 and counts[1] == 0
        totals += counts
    expected = 2000 * 30 * weights / 6.0
    chi2 = (((totals - expected) ** 2)[expected > 0] / expected[expected > 0]).sum()
    assert chi2 < 13.8  # chi-square, 2 degrees of freedom, upper 0.001 point


def test_bernoulli_label_draws_are_hypergeometric():
    pops = np.array([3, 5, 2, 10])
    cum_pop = np.concatenate([[0], np.cumsum(pops)]).astype(np.int64)
    out = np.zeros(4, dtype=np.int32)
    marks = np.zeros(20, dtype=np.bool_)
    for cases in (4, 15):  # fewer, and more, cases than controls
        totals = np.zeros(4)
        for s in mc.replicate_states(5, 0, 3000):
            rnd._draw_labels(s.copy(), cases, cum_pop, marks, out)
            assert out.sum() == cases and (out <= pops).all() and (out >= 0).all()
            totals += out
        expected = 3000 * cases * pops / pops.sum()
        # variance of a hypergeometric margin: n p (1 - p) (N - n) / (N - 1)
        var = 3000 * cases * (pops / 20) * (1 - pops / 20) * (20 - cases) / 19
        assert (np.abs(totals - expected) < 4 * np.sqrt(var)).all()
        assert not marks.any()


def test_p_value_convention():
    null = np.array([1.0, 2.0, 3.0, 3.0 * (1 - 1e-12), 5.0])
    assert monte_carlo_p_value(3.0, null) == (1 + 3) / 6
    assert monte_carlo_p_value(6.0, null) == 1 / 6
    assert monte_carlo_p_value(0.0, null) == 1.0
