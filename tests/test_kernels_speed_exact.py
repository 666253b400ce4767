"""The fast Monte Carlo kernel returns exactly the exhaustive maxima.

``block_maxima`` skips almost every window by a bound and works on compact counts (uint16) in
blocks of replicates; none of that may change a single bit of the maxima.  The exhaustive
maximum here is the observed-data kernel ``best_window_per_centre`` (every window's LLR, no
bound) on each replicate's counts, maximised over rows; both kernels evaluate the same LLR
formula, so the maxima must be equal, not just close.  The brute-force pure-Python reference
checks the same kernels in test_reference_agreement.py.
"""
import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scan import _kernels as K
from scan import _random as rnd
from scan import montecarlo as mc
from scan.windows import build_windows

DIRECTIONS = ("high", "low", "both")


def _area(seed, model, n):
    """Random locations; integer coordinates and repeated populations for ties."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 12, (n, 2)).astype(float) if seed % 2 else rng.uniform(0, 100, (n, 2))
    population = rng.choice([50, 120, 300, 800], n).astype(np.int64)
    cases_total = int(population.sum() * 0.03)
    if model == "poisson":
        weights = population * (cases_total / population.sum())
        W = float(weights.sum())
    else:
        weights = population.astype(float)
        W = float(population.sum())
    return xy, population, weights, float(cases_total), W


def _draws(rng, model, population, weights, C, B, dtype):
    if model == "poisson":
        d = rng.multinomial(int(C), weights / weights.sum(), size=B).T
    else:
        d = np.stack([rng.multivariate_hypergeometric(population, int(C)) for _ in range(B)], 1)
    return np.ascontiguousarray(d, dtype=dtype)


def _exhaustive(offsets, neighbors, weights, draws, C, W, model, direction, scale, min_cases=2):
    """max over rows of the best window's LLR x scale, every window evaluated."""
    n_rows = len(offsets) - 1
    out = np.zeros(draws.shape[1])
    best = np.zeros(n_rows)
    size = np.zeros(n_rows, dtype=np.int64)
    for b in range(draws.shape[1]):
        K.best_window_per_centre(offsets, neighbors, weights, draws[:, b].astype(np.float64), C,
                                 W, model, direction, min_cases, scale, best, size)
        out[b] = best.max(initial=0.0)
    return out


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("neighbor_dtype,count_dtype",
                         [(np.uint16, np.uint16), (np.int32, np.uint32), (np.int32, np.int32),
                          (np.uint16, np.uint32)])
def test_block_maxima_equal_the_exhaustive_maxima(model, direction, neighbor_dtype, count_dtype):
    xy, population, weights, C, W = _area(5, model, 60)
    wins = build_windows(xy, weights, max_population_fraction=0.5)
    offsets, neighbors = wins.offsets, wins.neighbors.astype(neighbor_dtype)
    rng = np.random.default_rng(17)
    scale = np.ones(wins.n_rows)
    code, dcode = K.MODEL_CODES[model], K.DIRECTION_CODES[direction]
    for B in (1, 7, 64, 128, 200):
        draws = _draws(rng, model, population, weights, C, B, count_dtype)
        out = np.zeros(B)
        K.block_maxima(offsets, neighbors, weights, draws, C, W, code, dcode, 2, scale, out)
        want = _exhaustive(offsets, neighbors, weights, draws, C, W, code, dcode, scale)
        assert out.tobytes() == want.tobytes(), (B, np.abs(out - want).max())


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_block_maxima_with_row_scales_and_ties_equal_the_exhaustive_maxima(model, direction):
    """Per-row scales (ellipses' penalty), several data sets with distance and count ties."""
    for seed in range(4):
        xy, population, weights, C, W = _area(100 + seed, model, 25 + 10 * seed)
        wins = build_windows(xy, weights, max_population_fraction=[0.5, 0.25][seed % 2])
        rng = np.random.default_rng(seed)
        scale = rng.choice([1.0, 0.8, 0.64, 0.5], wins.n_rows)
        code, dcode = K.MODEL_CODES[model], K.DIRECTION_CODES[direction]
        draws = _draws(rng, model, population, weights, C, 64, np.uint16)
        out = np.zeros(64)
        K.block_maxima(wins.offsets, wins.neighbors, weights, draws, C, W, code, dcode, 2, scale,
                       out)
        want = _exhaustive(wins.offsets, wins.neighbors, weights, draws, C, W, code, dcode, scale)
        assert out.tobytes() == want.tobytes()


def test_uint16_counts_hold_the_largest_total():
    """Counts up to 65,535 in uint16 (the whole total in one window included), no overflow."""
    assert K.count_dtype(65_535.0) is np.uint16
    assert K.count_dtype(65_536.0) is np.uint32
    C = 65_535.0
    weights = np.array([0.25, 0.25, 0.25, 0.25]) * C
    offsets = np.array([0, 2, 4, 6, 8])
    neighbors = np.array([0, 1, 1, 2, 2, 3, 3, 0], dtype=np.uint16)
    draws = np.array([[65_535, 0, 30_000], [0, 65_535, 30_000], [0, 0, 5_535], [0, 0, 0]],
                     dtype=np.uint16)
    out = np.zeros(3)
    scale = np.ones(4)
    K.block_maxima(offsets, neighbors, weights, draws, C, C, K.POISSON, K.BOTH, 2, scale, out)
    want = _exhaustive(offsets, neighbors, weights, draws, C, C, K.POISSON, K.BOTH, scale)
    assert out.tobytes() == want.tobytes()
    assert out[0] == pytest.approx(65_535 * math.log(4) + 0.0)  # all cases in one quarter


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["poisson", "bernoulli"]), st.integers(2, 5000), st.floats(0.001, 0.999),
       st.floats(0.01, 0.99), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_division_free_bound_is_never_below_the_llr(model, C, share, rate, u, v):
    """The bound behind every skip: False only when the window's computed LLR is at most t."""
    if model == "poisson":
        W = float(C)
        w = share * C
        e = w
        top, bottom = C, 0
    else:
        W = float(math.ceil(C / rate))
        w = float(max(1, round(share * W)))
        if w >= W:
            return
        e = w * (C / W)
        top, bottom = min(C, int(w)), max(0, C - int(W - w))
    x_high = min(top, math.ceil(e + u * (top - e)))
    x_low = max(bottom, math.floor(e - u * (e - bottom)))
    for x, high in ((x_high, True), (x_low, False)):
        if x == e or not (x > e if high else x < e):
            continue
        llr = K._llr(K.MODEL_CODES[model], float(x), w, float(C), W)
        t = v * 2 * llr
        may = (K._high_may_exceed if high else K._low_may_exceed)(
            K.MODEL_CODES[model], float(x), w, e, float(C), W, t)
        if llr > t:
            assert may


def test_spatial_block_leaves_no_thread_idle():
    assert K.spatial_block(999, 2) == K.SPATIAL_BLOCK
    assert K.spatial_block(100, 2) == 64
    assert K.spatial_block(100, 4) == 32
    assert K.spatial_block(5, 8) == 16


def _problem(model, n=70, seed=3):
    xy, population, weights, C, W = _area(seed, model, n)
    wins = build_windows(xy, weights, max_population_fraction=0.5)
    return mc.null_problem(wins, weights, C, population, K.MODEL_CODES[model], K.BOTH, 11)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least 2 Numba threads")
@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_maxima_do_not_depend_on_threads_or_block_size(model, monkeypatch):
    problem = _problem(model)
    with mc.numba_threads(1):
        one = problem.run(0, 300)
    with mc.numba_threads(2):
        two = problem.run(0, 300)
    assert one.tobytes() == two.tobytes()
    assert problem.run(100, 300).tobytes() == one[100:].tobytes()
    monkeypatch.setattr(K, "SPATIAL_BLOCK", 16)  # blocks of 16: the same maxima
    assert problem.run(0, 300).tobytes() == one.tobytes()


def test_replicate_maxima_equal_the_exhaustive_maxima_of_the_same_draws():
    """The whole Monte Carlo step (draws, compact counts, blocks over threads) against the
    exhaustive maxima of the same data sets, drawn one by one."""
    for model in ("poisson", "bernoulli"):
        problem = _problem(model, n=50, seed=8)
        got = problem.run(0, 150)
        n = len(problem.weights)
        col = np.zeros(n, dtype=np.int32)
        marks = np.zeros(max(1, int(problem.cum_pop[-1])), dtype=np.bool_)
        draws = np.zeros((n, 150), dtype=np.int32)
        for b, s in enumerate(mc.replicate_states(problem.entropy, 0, 150)):
            if model == "poisson":
                rnd._draw_multinomial(s.copy(), int(problem.total_cases), problem.prob,
                                      problem.alias, col)
            else:
                rnd._draw_labels(s.copy(), int(problem.total_cases), problem.cum_pop, marks, col)
            draws[:, b] = col
        want = _exhaustive(problem.offsets, problem.neighbors, problem.weights, draws,
                           problem.total_cases, problem.total_weight, problem.model,
                           problem.direction, problem.scale)
        assert got.tobytes() == want.tobytes()


# --- Bernoulli null: the memory-bounded draw picks the same people ------------------------------

@pytest.mark.parametrize("pops,cases", [
    ([3, 5, 2, 10], 4), ([3, 5, 2, 10], 15), ([1, 1, 1], 0), ([1, 1, 1], 3), ([7], 3),
    ([1000, 20, 5000, 1, 300], 2000), ([1000, 20, 5000, 1, 300], 5000),
    ([100_000, 250_000, 40_000], 17)])
def test_hashed_label_draws_equal_the_marks_draws(pops, cases):
    cum_pop = np.concatenate([[0], np.cumsum(pops)]).astype(np.int64)
    N = int(cum_pop[-1])
    marks = np.zeros(N, dtype=np.bool_)
    table = np.empty(rnd.label_table_size(N, cases), dtype=np.int64)
    a = np.zeros(len(pops), dtype=np.int32)
    b = np.zeros(len(pops), dtype=np.int32)
    for s in mc.replicate_states(9, 0, 200):
        s1, s2 = s.copy(), s.copy()
        rnd._draw_labels(s1, cases, cum_pop, marks, a)
        rnd._draw_labels_hashed(s2, cases, cum_pop, table, b)
        assert a.tolist() == b.tolist()
        assert s1.tolist() == s2.tolist()  # the same calls to the generator
        assert a.sum() == cases
    assert not marks.any()


def test_label_scratch_is_bounded_by_the_picks_for_large_populations():
    assert not rnd.labels_hashed(rnd.LABEL_MARKS_MAX, 10)
    assert rnd.labels_hashed(10**9, 50_000)
    assert rnd.label_table_size(10**9, 50_000) * 8 <= 4 * 8 * 50_000
    assert not rnd.labels_hashed(10**8, 5 * 10**7)  # a table would be larger than the marks
    assert rnd.label_table_size(10, 0) == 16


def test_bernoulli_null_on_a_population_of_a_trillion():
    """N = 10^12 people: one mark per person would need a terabyte per thread."""
    pops = np.array([4 * 10**11, 3 * 10**11, 2 * 10**11, 10**11], dtype=np.int64)
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]])
    wins = build_windows(xy, pops.astype(float), max_population_fraction=0.5)
    problem = mc.null_problem(wins, pops.astype(float), 40, pops, K.BERNOULLI, K.HIGH, 5)
    got = problem.run(0, 64)
    n = len(pops)
    col = np.zeros(n, dtype=np.int32)
    table = np.empty(rnd.label_table_size(int(pops.sum()), 40), dtype=np.int64)
    draws = np.zeros((n, 64), dtype=np.int32)
    for b, s in enumerate(mc.replicate_states(5, 0, 64)):
        rnd._draw_labels_hashed(s.copy(), 40, problem.cum_pop, table, col)
        draws[:, b] = col
    assert (draws.sum(axis=0) == 40).all()
    want = _exhaustive(problem.offsets, problem.neighbors, problem.weights, draws, 40.0,
                       float(pops.sum()), K.BERNOULLI, K.HIGH, problem.scale)
    assert got.tobytes() == want.tobytes()
    assert (got > 0).any()
