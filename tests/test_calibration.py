"""Null calibration: under the null the test rejects at 5% about 5% of the time."""

import numpy as np
import pytest

import scan


def _binomial_band(n, p, level=0.99):
    """Central binomial interval (exact quantiles) for the number of rejections."""
    from scipy.stats import binom

    lo = binom.ppf((1 - level) / 2, n, p)
    hi = binom.ppf(1 - (1 - level) / 2, n, p)
    return lo, hi


def null_rejections(model, n_datasets=500, R=199, alpha=0.05, seed=None):
    """Number of null data sets (40 random locations, 60 cases) with p <= alpha."""
    rng = np.random.default_rng((11 if model == "poisson" else 12) if seed is None else seed)
    n = 40
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    population = rng.integers(50, 500, n)
    rejections = 0
    for k in range(n_datasets):
        if model == "poisson":
            cases = rng.multinomial(60, population / population.sum())
        else:
            cases = rng.multivariate_hypergeometric(population, 60)
        area = scan.study_area(np.arange(n), x, y, cases, population, crs=None, model=model)
        res = scan.circular_scan(area, model=model, n_replications=R, rng=k)
        rejections += res.p_value <= alpha
    return rejections


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_rejection_rate_at_005_is_in_the_binomial_99_band(model):
    n_datasets = 500
    rejections = null_rejections(model, n_datasets)
    # with R = 199, P(p <= 0.05) = 10/200 exactly under the null (continuous LLRs)
    lo, hi = _binomial_band(n_datasets, 0.05)
    assert lo <= rejections <= hi, rejections
