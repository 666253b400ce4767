"""The Dask backend against the threaded backend, bit for bit, on a real LocalCluster.

One cluster of 2 worker processes (1 thread each) serves the module; the fault test and the
embedded-default test start their own so that killing a worker cannot disturb the others.
"""
import os
import signal

import numba
import numpy as np
import pytest
from conftest import random_dataset

import scan
from scan import distributed as sd
from scan.errors import ScanParameterError

distributed = pytest.importorskip("distributed")

R = 700  # not a multiple of any block size below: the last block is short


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        yield c


def assert_same_result(a, b):
    assert np.array_equal(a.null_distribution, b.null_distribution)
    assert a.null_distribution.tobytes() == b.null_distribution.tobytes()
    assert a.statistic == b.statistic and a.p_value == b.p_value
    assert len(a.clusters) == len(b.clusters)
    for x, y in zip(a.clusters, b.clusters):
        assert (x.center, x.members, x.llr, x.p_value, x.gumbel_p_value) == \
               (y.center, y.members, y.llr, y.p_value, y.gumbel_p_value)


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
@pytest.mark.parametrize("direction", ["high", "low", "both"])
def test_dask_equals_threads_for_any_block_size(client, model, direction):
    seed = {"poisson": 11, "bernoulli": 13}[model] + {"high": 0, "low": 1, "both": 2}[direction]
    area = random_dataset(seed, model=model, n=40)
    kw = dict(model=model, direction=direction, n_replications=R, rng=seed)
    threads = scan.circular_scan(area, backend="threads", **kw)
    assert len(threads.clusters) > 0
    for block_size in (64, 128, 320):
        dask = scan.circular_scan(area, backend="dask", client=client, block_size=block_size, **kw)
        assert_same_result(threads, dask)


@pytest.mark.parametrize("model, analysis", [("poisson", "retrospective"),
                                             ("permutation", "prospective")])
def test_spacetime_dask_equals_threads(client, model, analysis):
    from scan.datasets import borough_spacetime
    from scan.spacetime import spacetime_scan

    data = borough_spacetime(weeks=10)
    kw = dict(model=model, analysis=analysis, n_replications=300, rng=3)
    threads = spacetime_scan(data, **kw)
    dask = spacetime_scan(data, backend="dask", client=client, block_size=64, **kw)
    assert len(threads.clusters) > 0
    assert_same_result(threads, dask)


def test_default_block_size_and_latlong(client):
    area = random_dataset(4, coordinates="latlong", n=30)
    threads = scan.circular_scan(area, n_replications=R, rng=5)
    dask = scan.circular_scan(area, n_replications=R, rng=5, backend="dask", client=client)
    assert_same_result(threads, dask)


def test_embedded_local_cluster_with_one_worker():
    area = random_dataset(22, n=30)
    threads = scan.circular_scan(area, n_replications=R, rng=8)
    dask = scan.circular_scan(area, n_replications=R, rng=8, backend="dask", n_workers=1,
                              block_size=128)
    assert_same_result(threads, dask)


def test_scheduler_address(cluster, client):
    area = random_dataset(23, model="bernoulli", n=30)
    kw = dict(model="bernoulli", n_replications=R, rng=9)
    threads = scan.circular_scan(area, **kw)
    dask = scan.circular_scan(area, backend="dask", scheduler=cluster.scheduler_address,
                              block_size=64, **kw)
    assert_same_result(threads, dask)


class Arange:
    """Not a NullProblem: any object with run(start, stop) is accepted."""

    def run(self, start, stop):
        return np.sqrt(np.arange(start, stop, dtype=np.float64))


def test_any_object_with_run_and_block_order(client):
    calls = []
    out = sd.run_dask(Arange(), 1000, client=client, block_size=64,
                      progress=lambda done, total: calls.append((done, total)))
    assert out.tobytes() == np.sqrt(np.arange(1000.0)).tobytes()
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1] == (1000, 1000) and len(calls) == 16


def test_prefix_property_and_client_threads_untouched(client):
    area = random_dataset(31, n=30)
    before = numba.get_num_threads()
    long = scan.circular_scan(area, n_replications=640, rng=3, backend="dask", client=client,
                              block_size=128, threads=2)
    short = scan.circular_scan(area, n_replications=200, rng=3, backend="dask", client=client,
                               block_size=64)
    assert numba.get_num_threads() == before
    assert short.null_distribution.tobytes() == long.null_distribution[:200].tobytes()


class Failing:
    def run(self, start, stop):
        raise ValueError(f"block {start}-{stop} failed")


def test_a_failing_block_raises_its_error(client):
    with pytest.raises(ValueError, match=r"block \d+-\d+ failed"):
        sd.run_dask(Failing(), 256, client=client, block_size=64)


def test_zero_replications(client):
    assert sd.run_dask(Arange(), 0, client=client).shape == (0,)


@pytest.mark.parametrize("options, match", [
    (dict(block_size=100), r"parameter 'block_size' must be a multiple of 64; got 100. try 128"),
    (dict(block_size=0), r"parameter 'block_size' must be a whole number >= 1 or None; got 0"),
    (dict(n_workers=0), r"parameter 'n_workers' must be a whole number >= 1; got 0"),
    (dict(threads_per_worker=1.5),
     r"parameter 'threads_per_worker' must be a whole number >= 1 or None; got 1.5"),
])
def test_options_are_validated(options, match):
    with pytest.raises(ScanParameterError, match=match):
        sd.run_dask(Arange(), 10, **options)


def test_default_block_size():
    assert sd.default_block_size(9999, 2) == 1280
    assert sd.default_block_size(9999, 16) == 128
    assert sd.default_block_size(100, 4) == 64
    assert sd.default_block_size(9999, 16, threads=8) == 512
    assert sd.blocks(130, 64) == [(0, 64), (64, 128), (128, 130)]


def test_worker_killed_mid_run_gives_the_same_result():
    """SIGKILL one worker process after the first block finishes, while it holds queued work;
    the nanny restarts it, the scheduler re-runs its blocks, the null distribution is unchanged."""
    area = random_dataset(41, n=1600)
    n_rep, block = 2560, 128  # 20 blocks of ~0.1-0.3 s
    threads = scan.circular_scan(area, n_replications=n_rep, rng=17)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        killed = {}

        def kill_once(done, total):
            if killed:
                return
            processing = client.processing()
            victim = max(pids, key=lambda a: len(processing.get(a, ())))
            killed["addr"], killed["pid"], killed["busy"] = victim, pids[victim], \
                len(processing.get(victim, ()))
            os.kill(pids[victim], signal.SIGKILL)

        dask = scan.circular_scan(area, n_replications=n_rep, rng=17, backend="dask",
                                  client=client, block_size=block, progress=kill_once)
        assert killed and killed["busy"] > 0 and killed["addr"] not in client.run(os.getpid)
    assert_same_result(threads, dask)
