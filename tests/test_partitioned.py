"""The centre-partitioned Dask mode: each worker builds and keeps only its share of the centres'
windows; results bit-identical to the threaded backend for any number of partitions."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from conftest import random_dataset

import scan
from scan import distributed as sd
from scan import models
from scan.errors import ScanParameterError
from scan.spatial import SpatialAnalysis

distributed = pytest.importorskip("distributed")

R = 300   # not a multiple of the block sizes below: the last block is short


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        yield c


def assert_same_result(a, b):
    assert a.null_distribution.tobytes() == b.null_distribution.tobytes()
    assert a.statistic == b.statistic and a.p_value == b.p_value
    assert len(a.clusters) == len(b.clusters)
    for x, y in zip(a.clusters, b.clusters):
        assert (x.center, x.members, x.llr, x.test_statistic, x.p_value, x.gumbel_p_value,
                x.radius, x.observed, x.expected, x.center_x, x.center_y) == \
               (y.center, y.members, y.llr, y.test_statistic, y.p_value, y.gumbel_p_value,
                y.radius, y.observed, y.expected, y.center_x, y.center_y)
    assert a.parameters["n_windows"] == b.parameters["n_windows"]


def partitioned(area, client, *, partitions, block_size=None, progress=None, **kw):
    """The mode called directly, for partition counts other than one per worker."""
    analysis = SpatialAnalysis(data=area, model=models.get(kw.get("model", "poisson"), "spatial"),
                               direction=kw.get("direction", "high"), min_cases=2)
    return sd.centre_partitioned_scan(
        analysis, n_replications=kw["n_replications"], seed=kw["rng"],
        parameters={"model": kw.get("model", "poisson")}, max_population_fraction=0.5,
        max_radius=None, client=client, partitions=partitions, block_size=block_size,
        progress=progress)


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
@pytest.mark.parametrize("direction", ["high", "low", "both"])
def test_centres_mode_equals_threads(client, model, direction):
    seed = {"poisson": 3, "bernoulli": 6}[model] + {"high": 0, "low": 1, "both": 2}[direction]
    area = random_dataset(seed, model=model, n=45)
    kw = dict(model=model, direction=direction, n_replications=R, rng=seed)
    threads = scan.circular_scan(area, **kw)
    assert len(threads.clusters) > 1
    dask = scan.circular_scan(area, backend="dask", dask_mode="centres", client=client, **kw)
    assert_same_result(threads, dask)
    assert dask.parameters["dask_mode"] == "centres" and dask.parameters["partitions"] == 2
    assert sum(dask.parameters["partition_windows"]) == threads.parameters["n_windows"]


@pytest.mark.parametrize("partitions, block_size", [(1, 64), (3, 128), (5, 64), (7, None)])
@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_any_number_of_partitions_and_blocks(client, partitions, block_size, model):
    # seed 9: integer coordinates, so distances tie and the tie order matters
    area = random_dataset(9, model=model, n=40)
    kw = dict(model=model, direction="both", n_replications=R, rng=21)
    threads = scan.circular_scan(area, **kw)
    calls = []
    dask = partitioned(area, client, partitions=partitions, block_size=block_size,
                       progress=lambda done, total: calls.append((done, total)), **kw)
    assert_same_result(threads, dask)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1] == (R, R)
    split = dask.parameters["partition_windows"]
    assert len(split) == partitions and sum(split) == threads.parameters["n_windows"]


@pytest.mark.parametrize("secondary", ["no-centres-in-others", "no-centres-in-more-likely",
                                       "no-centres-in-less-likely", "no-pairs-of-centres",
                                       "none"])
def test_every_secondary_criterion(client, secondary):
    area = random_dataset(15, n=60)
    kw = dict(direction="both", n_replications=R, rng=15, secondary=secondary, drop_p_one=True)
    threads = scan.circular_scan(area, **kw)
    dask = scan.circular_scan(area, backend="dask", dask_mode="centres", client=client, **kw)
    assert_same_result(threads, dask)


def test_early_termination(client):
    """The replications stop at the same replication whatever runs them."""
    area = random_dataset(16, n=40)
    kw = dict(n_replications=999, rng=16, early_termination=True)
    threads = scan.circular_scan(area, **kw)
    assert len(threads.null_distribution) < 999
    dask = scan.circular_scan(area, backend="dask", dask_mode="centres", client=client, **kw)
    assert_same_result(threads, dask)
    assert dask.early_termination.run == threads.early_termination.run


def test_locations_sharing_coordinates(client):
    """Locations at the same point are one centroid for SaTScan's tie rules: the driver's view
    of the windows keeps the centres' coordinates as the threaded windows do."""
    from dataclasses import replace

    area = random_dataset(17, n=30)
    coords = area.coords.copy()
    coords[1::3] = coords[0::3][:len(coords[1::3])]
    area = replace(area, coords=coords)
    kw = dict(direction="both", n_replications=R, rng=17, secondary="no-centres-in-others")
    threads = scan.circular_scan(area, **kw)
    dask = scan.circular_scan(area, backend="dask", dask_mode="centres", client=client, **kw)
    assert_same_result(threads, dask)


def test_latlong_and_more_partitions_than_locations(client):
    area = random_dataset(4, coordinates="latlong", n=6)
    kw = dict(n_replications=R, rng=5)
    threads = scan.circular_scan(area, **kw)
    dask = partitioned(area, client, partitions=9, **kw)
    assert_same_result(threads, dask)
    assert dask.parameters["partitions"] == 6


def test_each_share_holds_its_part_of_the_windows(client):
    """Interleaved shares of random centres hold about 1/P of the windows each."""
    area = random_dataset(12, n=400)
    dask = partitioned(area, client, partitions=4, n_replications=64, rng=1)
    split = np.array(dask.parameters["partition_windows"])
    assert split.sum() == dask.parameters["n_windows"]
    assert split.max() <= 1.1 * split.sum() / 4


def test_zero_replications(client):
    area = random_dataset(13, n=20)
    threads = scan.circular_scan(area, n_replications=0, rng=2)
    dask = scan.circular_scan(area, n_replications=0, rng=2, backend="dask",
                              dask_mode="centres", client=client)
    assert_same_result(threads, dask)


REFUSED = (r"parameter 'dask_mode' \(--dask-mode\) must be 'replications' unless "
           r"backend='dask', the windows are circles left to the workers and neither gini nor "
           r"iterative is asked for; got 'centres'. pass backend='dask' \(CLI --backend dask\) "
           r"and no windows; ellipses, the Gini collections and the iterative scan need every "
           r"window in one process")


@pytest.mark.parametrize("kw, match", [
    (dict(dask_mode="centres"), REFUSED),
    (dict(dask_mode="centres", backend="dask", gini=True), REFUSED),
    (dict(dask_mode="centres", backend="dask", iterative=True), REFUSED),
    (dict(dask_mode="centres", backend="dask", shape="ellipse"), REFUSED),
    (dict(dask_mode="rows", backend="dask"),
     r"parameter 'dask_mode' \(--dask-mode\) must be one of 'replications', 'centres'; "
     r"got 'rows'"),
])
def test_the_mode_is_checked(kw, match):
    with pytest.raises(ScanParameterError, match=match):
        scan.circular_scan(random_dataset(1, n=10), n_replications=9, **kw)


def test_prebuilt_windows_are_refused():
    from scan.windows import build_windows

    area = random_dataset(1, n=10)
    windows = build_windows(area.coords, area.expected)
    with pytest.raises(ScanParameterError, match=REFUSED):
        scan.circular_scan(area, backend="dask", dask_mode="centres", windows=windows)


def test_partitions_are_checked(client):
    with pytest.raises(ScanParameterError,
                       match=r"parameter 'partitions' must be a whole number >= 1 or None; "
                             r"got 0"):
        partitioned(random_dataset(1, n=10), client, partitions=0, n_replications=9, rng=1)


def test_cli_option_reaches_the_scan():
    from scan.cli import build_parser
    from scan.cli.common import job_options
    from scan.jobs import Job

    args = build_parser().parse_args(["spatial", "d.csv", "--out", "o", "--backend", "dask",
                                      "--dask-mode", "centres"])
    job = Job("spatial", job_options(args, Job("spatial").allowed()))
    assert job.part("scan")["dask_mode"] == "centres"
    assert build_parser().parse_args(["spatial", "d.csv", "--out", "o"]).dask_mode == \
        "replications"


@pytest.mark.slow
def test_cli_run_on_an_embedded_cluster(tmp_path):
    """The whole command, with its own LocalCluster of 2 workers (a few seconds to start)."""
    import json

    from scan.cli import main

    area = random_dataset(14, n=50)
    data = tmp_path / "d.csv"
    rows = ["id,x,y,cases,population"] + [
        f"{i},{x},{y},{int(c)},{int(p)}" for i, (x, y), c, p in
        zip(area.ids, area.coords, area.cases, area.population)]
    data.write_text("\n".join(rows) + "\n")
    common = [str(data), "--crs", "none", "--replications", "199", "--seed", "4", "--quiet",
              "--formats", "csv"]
    assert main(["spatial", *common, "--out", str(tmp_path / "t")]) == 0
    assert main(["spatial", *common, "--out", str(tmp_path / "d"), "--backend", "dask",
                 "--dask-mode", "centres", "--workers", "2"]) == 0
    t = json.loads((tmp_path / "t" / "result.json").read_text())
    d = json.loads((tmp_path / "d" / "result.json").read_text())
    assert t["null_distribution"] == d["null_distribution"] and t["clusters"] == d["clusters"]
    assert (tmp_path / "t" / "clusters.csv").read_bytes() == \
        (tmp_path / "d" / "clusters.csv").read_bytes()


@pytest.mark.slow
def test_a_worker_killed_mid_run_has_its_share_rebuilt_elsewhere(caplog):
    """SIGKILL a worker after the first progress call, while it has queued blocks; its share is rebuilt on a worker still there and its blocks re-run: the
    result is unchanged."""
    import logging
    import time

    area = random_dataset(41, n=3000)
    kw = dict(n_replications=7680, rng=17)
    threads = scan.circular_scan(area, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        killed = {}

        def kill_once(done, total):
            if not killed:
                processing = client.processing()
                victim = max(sorted(pids), key=lambda a: len(processing.get(a, ())))
                killed["addr"], killed["busy"] = victim, len(processing.get(victim, ()))
                os.kill(pids[victim], signal.SIGKILL)

        with caplog.at_level(logging.WARNING, logger="scan.distributed"):
            dask = partitioned(area, client, partitions=2, block_size=64, progress=kill_once,
                               **kw)
        assert killed and killed["busy"] > 0
        assert any("rebuilding it on" in r.getMessage() for r in caplog.records)
        deadline = time.monotonic() + 30
        while killed["addr"] in client.scheduler_info()["workers"] and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        assert killed["addr"] not in client.scheduler_info()["workers"]
    assert_same_result(threads, dask)
