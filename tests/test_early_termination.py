"""Early termination (SaTScan's sequential Monte Carlo): the stopping rule, the p-values it
reports, the same answer for any thread count, chunk, Dask block size or worker count, and
SaTScan's own replications."""
import json

import numba
import numpy as np
import pytest
from conftest import SATSCAN_BUILD, random_dataset

import scan
from scan import montecarlo as mc
from scan.errors import ScanParameterError
from scan.result import monte_carlo_p_value, sequential_p_value


class Fixed:
    """A problem whose replicate maxima are given (picklable for Dask)."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)

    def run(self, start, stop):
        return self.values[start:stop].copy()


def test_spec_stop_rule():
    """Threshold 3, observed 5.0: the maximum equal to 5.0 is not a hit; the third strict
    exceedance is replication 6, so 6 replications are kept and the MLC's p is 3/6."""
    maxima = [6, 1, 5.0, 7, 2, 8, 9, 1, 1, 1]
    stop = mc.EarlyStop(observed=5.0, threshold=3)
    assert stop.cut(np.array(maxima[:5], float)) is None
    assert stop.cut(np.array(maxima, float)) == 6
    for chunk in (1, 2, 4, 7, 64):
        null = mc.run_threads(Fixed(maxima), 10, chunk=chunk, stop=stop)
        assert null.tolist() == maxima[:6]
    null = np.array(maxima[:6], float)
    assert sequential_p_value(5.0, null, requested=10, threshold=3, most_likely=True) == 3 / 6
    # a secondary cluster: replicate maxima reaching its statistic over k (SaTScan's (rank-1)/k)
    assert sequential_p_value(2.0, null, requested=10, threshold=3, most_likely=False) == 5 / 6
    assert sequential_p_value(5.0, null, requested=10, threshold=3,
                              most_likely=False) == 4 / 6     # the tie counts here


def test_no_stop_gives_the_usual_p_value():
    maxima = np.array([1.0, 2.0, 6.0, 1.0, 0.5])
    stop = mc.EarlyStop(observed=5.0, threshold=2)
    null = mc.run_threads(Fixed(maxima), 5, chunk=2, stop=stop)
    assert null.tolist() == maxima.tolist()
    assert sequential_p_value(5.0, null, requested=5, threshold=2, most_likely=True) == \
        monte_carlo_p_value(5.0, null) == 2 / 6
    # a stop on the very last replication is no early stop: rank / (R + 1)
    maxima = np.array([0.5, 2.0, 6.0, 0.1, 3.0])
    stop = mc.EarlyStop(observed=1.0, threshold=3)
    assert stop.cut(maxima) == 5
    null = mc.run_threads(Fixed(maxima), 5, stop=stop)
    assert len(null) == 5
    assert sequential_p_value(1.0, null, requested=5, threshold=3, most_likely=True) == 4 / 6


def test_thresholds():
    assert mc.default_threshold(999) == 50
    assert mc.default_threshold(99) == 5
    assert mc.default_threshold(9999) == 500
    from scan.pipeline import Inference

    on = Inference(early_termination=True)
    assert on.threshold(999) == 50
    assert on.threshold(98) is None          # SaTScan never stops below 99 replications
    assert Inference(early_termination=True, early_termination_threshold=7).threshold(999) == 7
    assert Inference().threshold(999) is None


def test_threshold_above_replications_is_refused():
    area = random_dataset(3, n=10)
    with pytest.raises(ScanParameterError, match="'early_termination_threshold' "
                       r"\(--early-termination-threshold\) must be at most the number of "
                       r"replications \(99\)"):
        scan.circular_scan(area, n_replications=99, early_termination=True,
                           early_termination_threshold=100)


def _null_area():
    """No cluster: the replications stop early."""
    rng = np.random.default_rng(5)
    n = 30
    pop = rng.integers(100, 300, n)
    cases = rng.multinomial(80, pop / pop.sum())
    return scan.study_area([f"L{i}" for i in range(n)], rng.uniform(0, 10, n),
                           rng.uniform(0, 10, n), cases, pop, crs=None)


def test_scan_stops_early_and_reports_threshold_over_k():
    area = _null_area()
    full = scan.circular_scan(area, n_replications=999, rng=4)
    early = scan.circular_scan(area, n_replications=999, rng=4, early_termination=True)
    k = len(early.null_distribution)
    assert k < 999
    # the first k replications are the full run's: stopping changes nothing before it
    assert early.null_distribution.tobytes() == full.null_distribution[:k].tobytes()
    exceed = np.flatnonzero(full.null_distribution > early.statistic * (1 + 1e-9))
    assert k == exceed[49] + 1
    assert early.p_value == early.clusters[0].p_value == 50 / k
    for c in early.clusters[1:]:
        hits = np.count_nonzero(early.null_distribution >= c.test_statistic * (1 - 1e-9))
        assert c.p_value == hits / k
    assert early.early_termination.to_dict() == {"threshold": 50, "replications_requested": 999,
                                                 "replications_run": k, "stopped": True}
    d = early.to_json_dict()
    assert d["early_termination"]["replications_run"] == k == d["n_replications"]
    assert d["parameters"]["early_termination_threshold"] == 50
    assert "stopped after" in early.summary()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one thread only: thread invariance cannot be shown here")
def test_identical_for_1_and_2_threads_and_any_chunk():
    area = _null_area()
    one = scan.circular_scan(area, n_replications=999, rng=4, early_termination=True,
                             threads=1)
    two = scan.circular_scan(area, n_replications=999, rng=4, early_termination=True,
                             threads=2)
    assert one.null_distribution.tobytes() == two.null_distribution.tobytes()
    assert [c.p_value for c in one.clusters] == [c.p_value for c in two.clusters]


def test_identical_for_any_chunk():
    area = _null_area()
    res = scan.circular_scan(area, n_replications=999, rng=4, early_termination=True)
    analysis = scan.spatial.SpatialAnalysis(data=area, model=scan.models.get("poisson", "spatial"),
                                            direction="high", min_cases=2)
    windows = scan.windows.build_windows(area.coords, area.expected)
    problem = analysis.null_problem(windows, res.seed)
    stop = mc.EarlyStop(res.statistic, 50)
    for chunk in (1, 63, 64, 100, 999):
        null = mc.run_threads(problem, 999, chunk=chunk, stop=stop)
        assert null.tobytes() == res.null_distribution.tobytes()


def test_dask_stops_where_threads_stop():
    distributed = pytest.importorskip("distributed")
    values = np.random.default_rng(1).exponential(1.0, 700)
    stop = mc.EarlyStop(observed=2.0, threshold=40)
    want = mc.run_threads(Fixed(values), 700, stop=stop)
    assert len(want) < 700
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        for block in (64, 128, 640):
            got = mc.replicate_maxima(Fixed(values), 700, backend="dask", client=client,
                                      block_size=block, stop=stop)
            assert got.tobytes() == want.tobytes()


# --- SaTScan's own replications ---------------------------------------------------------------

SAMPLE_OUTPUTS = SATSCAN_BUILD / "sample-outputs"


def _parsed(name):
    path = SAMPLE_OUTPUTS / name / "parsed.json"
    if not path.is_file():
        pytest.skip("SaTScan sample outputs absent")
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", ["NHumbersideSpatialBernoulli", "NYCSpaceTimePermutation"])
def test_rule_on_satscans_replications(name):
    """SaTScan's replicate statistics, in its replication order: the rule stops where SaTScan
    stopped, and gives its printed p-values (T/k for the first cluster, hits/k after)."""
    d = _parsed(name)
    null = np.array(d["simulated_llrs"])
    first = d["clusters"][0]
    T = mc.default_threshold(999)
    assert mc.EarlyStop(first["statistic"], T).cut(null) == d["sequential_mc_replications"][0]
    for i, c in enumerate(d["clusters"]):
        p = sequential_p_value(c["statistic"], null, requested=999, threshold=T,
                               most_likely=i == 0)
        assert f"{p:.3f}" == c["p_value_text"]


def test_rule_on_satscans_iterative_replications():
    """NHumberside, iterative: each iteration's replications restart; SaTScan stopped after
    139, 135 and 94 with p = 50/k for every iteration's cluster."""
    d = _parsed("variants/NHumberside_iterative")
    null = np.array(d["simulated_llrs"])
    start = 0
    for k, c in zip(d["sequential_mc_replications"], d["clusters"]):
        part = null[start:start + k]
        assert mc.EarlyStop(c["statistic"], 50).cut(part) == k
        assert sequential_p_value(c["statistic"], part, requested=999, threshold=50,
                                  most_likely=True) == pytest.approx(c["p_value"], abs=5e-3)
        start += k
    assert start == len(null)


def test_dask_scans_equal_threads():
    """Early termination, the iterative scan, Gini collections and a secondary criterion on a
    Dask cluster of two workers, for two block sizes: the threaded backend's result."""
    distributed = pytest.importorskip("distributed")
    area = _null_area()
    kw = dict(n_replications=999, rng=4, early_termination=True)
    cases = [dict(kw), dict(kw, iterative=True, iterative_max=3, iterative_cutoff=1.0),
             dict(kw, gini=True, secondary="no-centres-in-more-likely")]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        for options in cases:
            threads = scan.circular_scan(area, **options)
            assert len(threads.null_distribution) < 999
            for block in (64, 256):
                dask = scan.circular_scan(area, backend="dask", client=client,
                                          block_size=block, **options)
                assert dask.null_distribution.tobytes() == threads.null_distribution.tobytes()
                assert [(c.members, c.p_value) for c in dask.clusters] == \
                    [(c.members, c.p_value) for c in threads.clusters]
                assert [it.null_distribution.tobytes() for it in dask.iterations] == \
                    [it.null_distribution.tobytes() for it in threads.iterations]
                if threads.gini is not None:
                    assert dask.gini.to_dict() == threads.gini.to_dict()
