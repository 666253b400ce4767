"""Space-time scans against the slow reference, and the Monte Carlo properties of their nulls."""
import math

import numpy as np
import pytest
import reference
import reference_spacetime as ref

from scan import _st_kernels as SK
import legacy_st_kernels as legacy  # noqa: E402  (tests/: the previous kernels)
from scan.data import build_spacetime_data
from scan.montecarlo import SpaceTimeNullProblem, replicate_maxima, replicate_states
from scan.spacetime import recurrence_interval, spacetime_scan

START = np.datetime64("2020-01-01")


def random_spacetime(seed, *, with_population=True):
    """Tiny random space-time data: 4-9 locations, 3-8 daily intervals, census populations that
    change over time (so expected counts vary by interval), a planted hot spot."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 10))
    T = int(rng.integers(3, 9))
    if seed % 3 == 0:
        xy = rng.integers(0, 5, (n, 2)).astype(float)       # distance ties
    else:
        xy = rng.uniform(0, 100, (n, 2))
    pop0 = rng.integers(50, 400, n).astype(float)
    pop1 = pop0 * rng.uniform(0.5, 1.5, n)
    rate = np.full((n, T), 0.01)
    rate[rng.integers(n), rng.integers(T):] *= 4.0
    cases = rng.poisson(rate * pop0[:, None])
    if cases.sum() < 3:
        cases[0, 0] += 3
    loc, t = np.nonzero(cases)
    census = {}
    if with_population:
        census = dict(census_loc=np.r_[np.arange(n), np.arange(n)],
                      census_day=np.r_[np.full(n, START), np.full(n, START + T - 1)],
                      census_value=np.r_[pop0, pop1])
    return build_spacetime_data([f"L{i}" for i in range(n)], xy, case_loc=loc,
                                case_day=START + t, case_count=cases[loc, t], start=START,
                                end=START + T - 1, time_unit="day", coordinates="cartesian",
                                crs=None, source=f"random-{seed}", **census)


def assert_matches_reference(result, data, expected_table, **kw):
    # SaTScan's secondary selection (its order of ties and its overlap test)
    want = reference.satscan_spacetime_clusters(data.coords, data.ids, data.cases,
                                                expected_table, **kw)
    got = result.clusters
    assert len(got) == len(want)
    for c, (llr, centre, members, t1, t2) in zip(got, want):
        assert c.llr == pytest.approx(llr, rel=1e-9)
        assert c.center_index == centre
        assert sorted(c.member_indices.tolist()) == members
        assert c.start == str(data.interval_starts[t1])
        assert c.end == str(data.interval_ends[t2 - 1])


ANALYSES = [("retrospective", "poisson"), ("prospective", "poisson"),
            ("retrospective", "permutation"), ("prospective", "permutation"),
            ("temporal", "poisson")]


@pytest.mark.parametrize("analysis,model", ANALYSES)
@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_reference(seed, analysis, model):
    data = random_spacetime(seed, with_population=model == "poisson")
    fraction = [0.5, 0.3, 0.25][seed % 3]
    # the reference reports secondary clusters as SaTScan before 10.2 (one per centre, overlap
    # by location only); the 10.2 rule is checked in test_spacetime_parity.py
    result = spacetime_scan(data, model=model, analysis=analysis, n_replications=0, rng=seed,
                            max_temporal_fraction=0.5 if seed % 2 else 0.75,
                            max_population_fraction=fraction, secondary_time="ignore")
    table = data.expected if model == "poisson" else ref.permutation_expected(data.cases)
    max_len = result.parameters["max_temporal_intervals"]
    assert_matches_reference(result, data, table, max_fraction=fraction, max_len=max_len,
                             analysis=analysis)


def test_reference_with_radius_and_min_length():
    data = random_spacetime(11)
    result = spacetime_scan(data, n_replications=0, max_radius=40.0, min_temporal_length=2,
                            max_temporal_length=4, secondary_time="ignore")
    assert_matches_reference(result, data, data.expected, max_radius=40.0, min_len=2,
                             max_len=min(4, data.n_intervals))


@pytest.mark.parametrize("prospective", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_block_kernel_exact_against_numpy(seed, prospective):
    """The bound-skipping block kernel gives every replicate's exhaustive maximum."""
    data = random_spacetime(seed)
    rng = np.random.default_rng(100 + seed)
    C = data.total_cases
    p = (data.expected / data.expected.sum()).ravel()
    B = 7
    tables = [rng.multinomial(C, p).reshape(data.cases.shape) for _ in range(B)]
    tables[0] = np.asarray(data.cases)
    draws = np.zeros((data.n_locations, data.n_intervals + 1, B), dtype=np.int32)
    for b, tab in enumerate(tables):
        draws[:, 1:, b] = np.cumsum(tab, axis=1)
    from scan.windows import build_windows

    w = build_windows(data.coords, data.expected.sum(axis=1))
    cum_e = np.zeros((data.n_locations, data.n_intervals + 1))
    cum_e[:, 1:] = np.cumsum(data.expected, axis=1)
    max_len = max(1, data.n_intervals // 2)
    first_end = data.n_intervals if prospective else 1
    out = np.zeros(B)
    legacy.block_maxima_st(w.offsets, w.neighbors, draws, cum_e, float(C), 1, max_len, first_end, 2,
                       np.ones(w.n_rows), out)
    circles = reference.windows(data.coords, data.expected.sum(axis=1))
    for b, tab in enumerate(tables):
        want = ref.max_llr_numpy(circles, tab, data.expected, 1, max_len, prospective)
        assert out[b] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_numpy_reference_agrees_with_slow_reference():
    data = random_spacetime(5)
    circles = reference.windows(data.coords, data.expected.sum(axis=1))
    slow = max(b[0] for b in ref.best_per_centre(circles, data.cases, data.expected, 1, 3, False))
    assert ref.max_llr_numpy(circles, data.cases, data.expected, 1, 3, False) == \
        pytest.approx(slow, rel=1e-12)


@pytest.mark.skipif(__import__("numba").config.NUMBA_NUM_THREADS < 2,
                    reason="one thread only: thread invariance cannot be shown here")
@pytest.mark.parametrize("model", ["poisson", "permutation"])
def test_null_thread_invariance_and_prefix(model):
    data = random_spacetime(3, with_population=model == "poisson")
    full = spacetime_scan(data, model=model, n_replications=150, rng=7,
                          threads=2).null_distribution
    one = spacetime_scan(data, model=model, n_replications=150, rng=7,
                         threads=1).null_distribution
    prefix = spacetime_scan(data, model=model, n_replications=70, rng=7).null_distribution
    np.testing.assert_array_equal(full, one)
    np.testing.assert_array_equal(full[:70], prefix)
    assert (full > 0).any()


def test_problem_ranges_and_chunks_identical():
    data = random_spacetime(4)
    res = spacetime_scan(data, n_replications=0, rng=9)
    from scan.montecarlo import alias_table

    cum_e = np.zeros((data.n_locations, data.n_intervals + 1))
    cum_e[:, 1:] = np.cumsum(data.expected, axis=1)
    from scan.windows import build_windows

    w = build_windows(data.coords, data.expected.sum(axis=1))
    prob, alias = alias_table(data.expected.ravel())
    problem = SpaceTimeNullProblem(
        offsets=w.offsets, neighbors=w.neighbors, cum_expected=cum_e,
        total_cases=float(data.total_cases), min_len=1, max_len=3, first_end=1, min_cases=2,
        null_kind=SK.MULTINOMIAL, prob=prob, alias=alias, case_loc=np.zeros(0, np.int64),
        case_time=np.zeros(0, np.int64), entropy=res.seed, scale=np.ones(w.n_rows))
    whole = problem.run(0, 130)
    parts = np.concatenate([problem.run(0, 5), problem.run(5, 100), problem.run(100, 130)])
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(whole, replicate_maxima(problem, 130, chunk=64))
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(problem)).run(0, 10), whole[:10])


def test_permutation_null_keeps_both_margins():
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.5, (6, 5))
    T = counts.shape[1]
    cells = np.repeat(np.arange(counts.size), counts.ravel())
    case_loc, case_time = cells // T, cells % T
    labels = np.empty(len(cells), dtype=np.int64)
    cell = np.zeros(counts.size, dtype=np.int32)
    changed = 0
    for state in replicate_states(123, 0, 20):
        legacy._permute_times(state.copy(), case_loc, case_time, labels, T, cell)
        table = cell.reshape(counts.shape)
        np.testing.assert_array_equal(table.sum(axis=1), counts.sum(axis=1))
        np.testing.assert_array_equal(table.sum(axis=0), counts.sum(axis=0))
        changed += not np.array_equal(table, counts)
    assert changed >= 18


def test_poisson_null_spreads_all_cases():
    data = random_spacetime(2)
    from scan._random import _draw_multinomial, alias_table

    prob, alias = alias_table(data.expected.ravel())
    cell = np.zeros(data.expected.size, dtype=np.int32)
    for state in replicate_states(5, 0, 5):
        _draw_multinomial(state.copy(), data.total_cases, prob, alias, cell)
        assert cell.sum() == data.total_cases


def test_observed_maximum_equals_block_kernel_on_observed_data():
    data = random_spacetime(6)
    res = spacetime_scan(data, n_replications=0)
    from scan.windows import build_windows

    w = build_windows(data.coords, data.expected.sum(axis=1))
    draws = np.zeros((data.n_locations, data.n_intervals + 1, 1), dtype=np.int32)
    draws[:, 1:, 0] = np.cumsum(data.cases, axis=1)
    cum_e = np.zeros((data.n_locations, data.n_intervals + 1))
    cum_e[:, 1:] = np.cumsum(data.expected, axis=1)
    out = np.zeros(1)
    legacy.block_maxima_st(w.offsets, w.neighbors, draws, cum_e, float(data.total_cases), 1,
                       res.parameters["max_temporal_intervals"], 1, 2, np.ones(w.n_rows), out)
    assert out[0] == pytest.approx(res.statistic, rel=1e-12)


# --- recurrence interval ------------------------------------------------------------------------

def test_recurrence_interval_formula():
    assert recurrence_interval(0.01, "week") == pytest.approx(700.0)
    assert recurrence_interval(0.01, "day") == pytest.approx(100.0)
    assert recurrence_interval(0.5, "year") == pytest.approx(730.5)
    assert recurrence_interval(0.02, "month", 2) == pytest.approx(2 * 365.25 / 12 / 0.02)
    adj = 1 - (1 - 0.05) ** (1 / 4)
    assert recurrence_interval(0.05, "day", 1, n_analyses=4) == pytest.approx(1 / adj)
    assert recurrence_interval(1.0, "day", 1, n_analyses=4) == pytest.approx(1.0)


def test_prospective_clusters_report_recurrence_and_are_alive():
    data = random_spacetime(1)
    res = spacetime_scan(data, analysis="prospective", n_replications=49, rng=1,
                         n_earlier_analyses=2)
    assert res.clusters
    for c in res.clusters:
        assert c.end == str(data.study_end)
        adj = 1 - (1 - c.p_value) ** (1 / 3)
        assert c.recurrence_interval == pytest.approx(1.0 / adj)
    retro = spacetime_scan(data, n_replications=0)
    assert all(c.recurrence_interval is None for c in retro.clusters)
    d = res.clusters[0].to_dict()
    assert {"start", "end", "recurrence_interval"} <= set(d)


# --- parameter errors ---------------------------------------------------------------------------

def test_parameter_errors():
    from scan.errors import ScanParameterError

    data = random_spacetime(0)
    with pytest.raises(ScanParameterError, match="'model' must be 'poisson' for a purely temporal"):
        spacetime_scan(data, model="permutation", analysis="temporal", n_replications=0)
    with pytest.raises(ScanParameterError, match="'analysis' must be one of"):
        spacetime_scan(data, analysis="seasonal", n_replications=0)
    with pytest.raises(ScanParameterError, match=r"'max_temporal_fraction' \(--max-temporal-fraction\) must be a finite number in \(0, 0.9\]"):
        spacetime_scan(data, max_temporal_fraction=1.5, n_replications=0)
    with pytest.raises(ScanParameterError, match="'min_temporal_length' must be at most"):
        spacetime_scan(data, min_temporal_length=50, n_replications=0)
    with pytest.raises(ScanParameterError, match=r"'n_replications' \(--replications\) must be a whole number in \[0, 1,000,000\]"):
        spacetime_scan(data, n_replications=-1)
    case_only = random_spacetime(0, with_population=False)
    with pytest.raises(ScanParameterError, match="'permutation' for data without a population"):
        spacetime_scan(case_only, model="poisson", n_replications=0)
    with pytest.raises(ScanParameterError, match="'data' must be a SpaceTimeData"):
        spacetime_scan(np.zeros((3, 3)), n_replications=0)


def test_dask_backend_equals_threads():
    """The same SpaceTimeNullProblem runs unchanged on the Dask backend, bit for bit."""
    distributed = pytest.importorskip("distributed")
    data = random_spacetime(8, with_population=False)
    threads = spacetime_scan(data, model="permutation", n_replications=130, rng=3)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        dask = spacetime_scan(data, model="permutation", n_replications=130, rng=3,
                              backend="dask", client=client, block_size=64)
    np.testing.assert_array_equal(threads.null_distribution, dask.null_distribution)
    assert dask.clusters[0].p_value == threads.clusters[0].p_value


def test_block_size_does_not_change_maxima(monkeypatch):
    """Large tables run in smaller blocks; every replicate's maximum is unchanged."""
    data = random_spacetime(10)
    full = spacetime_scan(data, n_replications=100, rng=4).null_distribution
    assert legacy.block_size(data.n_locations, data.n_intervals) == 64
    assert legacy.block_size(5000, 365) == 8
    monkeypatch.setattr(SK, "BLOCK_BYTES", 4 * data.n_locations * (data.n_intervals + 1) * 24)
    assert legacy.block_size(data.n_locations, data.n_intervals) == 24
    small = spacetime_scan(data, n_replications=100, rng=4).null_distribution
    np.testing.assert_array_equal(full, small)


@pytest.mark.parametrize("model,analysis", [("poisson", "retrospective"),
                                            ("permutation", "prospective")])
def test_null_calibration(model, analysis):
    """Data drawn from the null: the Monte Carlo p-value is at most alpha with probability alpha
    (exactly, up to ties); tolerance 4 binomial standard errors of the number of data sets."""
    base = random_spacetime(21)
    n_sets, alpha, R = 300, 0.1, 39
    rng = np.random.default_rng(2026)
    # the null of both models: risk uniform over time, proportional to population in space
    weight = np.outer(base.expected.sum(axis=1), np.ones(base.n_intervals))
    p = (weight / weight.sum()).ravel()
    hits = 0
    for k in range(n_sets):
        table = rng.multinomial(60, p).reshape(base.cases.shape)
        loc, t = np.nonzero(table)
        data = build_spacetime_data(base.ids, base.coords, case_loc=loc,
                                    case_day=START + t, case_count=table[loc, t], start=START,
                                    end=base.study_end, time_unit="day", crs=None,
                                    census_loc=np.arange(base.n_locations),
                                    census_day=np.full(base.n_locations, START),
                                    census_value=base.expected.sum(axis=1))
        res = spacetime_scan(data, model=model, analysis=analysis, n_replications=R, rng=k)
        hits += res.p_value <= alpha
    sd = math.sqrt(alpha * (1 - alpha) / n_sets)
    assert abs(hits / n_sets - alpha) <= 4 * sd, hits / n_sets
