"""Dask schedulers that hang, lie or are not there, and local clusters too big for the machine
(issue 8).  Every case ends in one ScanParameterError naming the address and the fix (exit code
2 in the CLI), within a bounded time; none hangs, none is a traceback.

The fake servers are plain sockets in a thread: one accepts and never answers, one answers
like an HTTP server, one hangs up at once.  "Bounded time" is checked by running the call in a
thread and requiring it to have finished after a generous join -- a hang guard, not a timing
assertion.
"""
from __future__ import annotations

import contextlib
import re
import socket
import threading

import numpy as np
import pytest

from scan import distributed as sd
from scan.errors import ScanParameterError, ScanRunError

distributed = pytest.importorskip("distributed")

HANG_GUARD_S = 90  # far above every timeout used below; only a hang reaches it


class Arange:
    def run(self, start, stop):
        return np.sqrt(np.arange(start, stop, dtype=np.float64))


class Slow:
    def run(self, start, stop):
        import time

        time.sleep(0.1)
        return np.zeros(stop - start)


class Dies:
    """Kills the worker process running it: a block that takes its worker down every time."""

    def run(self, start, stop):
        import os

        os._exit(1)


def finishes(fn, seconds: float = HANG_GUARD_S) -> BaseException | None:
    """Run ``fn`` in a thread; fail if it is still running after ``seconds``; return what it
    raised (None if it returned)."""
    box: dict = {}

    def target():
        try:
            fn()
        except BaseException as err:  # handed to the test
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
    return box.get("error")


@pytest.fixture()
def fake_server():
    """start(kind) -> 'tcp://127.0.0.1:PORT' of a server that is not a Dask scheduler."""
    sockets: list[socket.socket] = []

    def start(kind: str) -> str:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        sockets.append(server)

        def serve():
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                sockets.append(conn)
                if kind == "http":
                    try:
                        conn.recv(65536)
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                                     b"Content-Length: 11\r\n\r\nBad Request")
                    except OSError:
                        pass
                elif kind == "hangup":
                    conn.close()
                # "silent": keep the connection open, read nothing, answer nothing

        threading.Thread(target=serve, daemon=True).start()
        return f"tcp://127.0.0.1:{server.getsockname()[1]}"

    yield start
    for s in sockets:
        s.close()


@pytest.fixture()
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{port}"


PREFIX = (r"parameter 'scheduler' must be the address of a running Dask scheduler, such as "
          r"'tcp://HOST:8786'; got '{addr}'\. ")
NOT_DASK = (r"check the port: a scheduler listens on 8786 unless told otherwise, and 8787 is "
            r"its dashboard \(a web page, not the scheduler\)")


def test_scheduler_that_accepts_and_never_answers_does_not_hang(fake_server):
    addr = fake_server("silent")
    err = finishes(lambda: sd.run_dask(Arange(), 10, scheduler=addr, connect_timeout=1,
                                       response_timeout=1))
    assert isinstance(err, ScanParameterError)
    assert err.args[0] == (
        f"parameter 'scheduler' must be the address of a running Dask scheduler, such as "
        f"'tcp://HOST:8786'; got '{addr}'. {addr} accepted the connection but did not complete "
        "the Dask handshake within 1 s: it is not a Dask scheduler, or it is stuck; check the "
        "port: a scheduler listens on 8786 unless told otherwise, and 8787 is its dashboard (a "
        "web page, not the scheduler)")


def test_silent_scheduler_from_the_public_scan_function(fake_server, monkeypatch):
    from conftest import random_dataset

    import scan

    monkeypatch.setattr(sd, "CONNECT_TIMEOUT_S", 1.0)  # the public scans use the default
    addr = fake_server("silent")
    area = random_dataset(3, n=12)
    err = finishes(lambda: scan.circular_scan(area, n_replications=99, rng=1, backend="dask",
                                              scheduler=addr))
    assert isinstance(err, ScanParameterError)
    assert "did not complete the Dask handshake within 1 s" in str(err)


def test_the_default_connect_timeout_is_a_module_constant(fake_server, monkeypatch):
    assert sd.CONNECT_TIMEOUT_S == 10.0 and sd.RESPONSE_TIMEOUT_S == 30.0
    monkeypatch.setattr(sd, "CONNECT_TIMEOUT_S", 1.0)
    addr = fake_server("silent")
    err = finishes(lambda: sd.check_scheduler(addr))
    assert isinstance(err, ScanParameterError) and "within 1 s" in str(err)


def test_http_server_answering_garbage_is_named_not_allocated(fake_server):
    addr = fake_server("http")  # today: "Unable to allocate 3.07 EiB"
    with pytest.raises(ScanParameterError,
                       match=PREFIX.format(addr=addr) + rf"the server at {addr} does not speak "
                       r"the Dask protocol \(its answer is not a Dask message\); " + NOT_DASK):
        sd.check_scheduler(addr, connect_timeout=5)


def test_server_that_hangs_up(fake_server):
    addr = fake_server("hangup")
    err = finishes(lambda: sd.check_scheduler(addr, connect_timeout=2))
    assert isinstance(err, ScanParameterError)
    assert f"the server at {addr} closed the connection during the Dask handshake" in str(err) \
        or "does not speak the Dask protocol" in str(err)


def test_closed_port(closed_port):
    addr = closed_port
    err = finishes(lambda: sd.check_scheduler(addr, connect_timeout=1))
    assert isinstance(err, ScanParameterError)
    assert str(err) == (
        f"parameter 'scheduler' must be the address of a running Dask scheduler, such as "
        f"'tcp://HOST:8786'; got '{addr}'. nothing accepted a connection at {addr} within 1 s "
        "(connection refused); check the host and port, and that the scheduler is running there "
        "(`dask scheduler` prints its address), or leave the scheduler out to run on a local "
        "cluster")


@pytest.mark.parametrize("addr, why", [
    ("tcp://host:port", r"it is not an address \(invalid literal for int\(\) with base 10: "
                        r"'port'\); write it as tcp://HOST:PORT, e.g\. tcp://10\.0\.0\.5:8786"),
    ("localhost", r"it is not an address \(missing port number in address 'localhost'\)"),
    ("tcp://127.0.0.1:99999", r"it is not an address \(port 99999 is not in 1\.\.65535\)"),
    ("", r"write it as tcp://HOST:PORT"),
    ("tcp://[::1", r"it is not an address"),
])
def test_unparseable_addresses(addr, why):
    with pytest.raises(ScanParameterError, match=PREFIX.format(addr=addr.replace(".", r"\.")
                                                               .replace("[", r"\[")) + why):
        sd.check_scheduler(addr)


def test_unknown_host_is_a_clear_message():
    err = finishes(lambda: sd.check_scheduler("tcp://no-such-host.invalid:8786",
                                              connect_timeout=5))
    assert isinstance(err, ScanParameterError)
    assert "tcp://no-such-host.invalid:8786" in str(err) and "check the host and port" in str(err)


@pytest.mark.parametrize("options, match", [
    (dict(connect_timeout=0), r"parameter 'connect_timeout' must be a number of seconds > 0; "
                              r"got 0"),
    (dict(connect_timeout=-1.5), r"parameter 'connect_timeout' must be a number of seconds > 0"),
    (dict(response_timeout="10"), r"parameter 'response_timeout' must be a number of seconds "
                                  r"> 0; got '10'"),
    (dict(response_timeout=float("inf")), r"parameter 'response_timeout' must be a number"),
])
def test_timeouts_are_validated(options, match):
    with pytest.raises(ScanParameterError, match=match):
        sd.run_dask(Arange(), 10, scheduler="tcp://127.0.0.1:1", **options)


# --- a real (in-process) cluster -------------------------------------------------------------

@pytest.fixture(scope="module")
def thread_cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        yield cluster


def test_a_real_scheduler_passes_and_runs(thread_cluster):
    sd.check_scheduler(thread_cluster.scheduler_address, connect_timeout=5)
    out = sd.run_dask(Arange(), 200, scheduler=thread_cluster.scheduler_address, block_size=64,
                      connect_timeout=5)
    assert out.tobytes() == np.sqrt(np.arange(200.0)).tobytes()


def test_a_worker_address_is_not_a_scheduler(thread_cluster):
    addr = next(iter(thread_cluster.scheduler.workers))
    with pytest.raises(ScanParameterError, match=PREFIX.format(addr=addr.replace(".", r"\."))
                       + rf"{addr.replace('.', '[.]')} is a Dask Worker, not a scheduler; pass "
                       r"the address the scheduler prints when it starts"):
        sd.check_scheduler(addr, connect_timeout=5)


def test_n_workers_ignored_with_a_client(thread_cluster):
    with distributed.Client(thread_cluster) as client:
        big = sd.max_local_workers() + 1000
        out = sd.run_dask(Arange(), 64, client=client, n_workers=big)
    assert out.shape == (64,)


# --- failures while running: ScanRunError (exit code 1) ----------------------------------------

def test_scheduler_lost_mid_run_is_a_run_error():
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    try:
        addr = cluster.scheduler_address
        closed = []

        def close_scheduler(done, total):
            if not closed:
                closed.append(done)
                cluster.sync(cluster.scheduler.close)

        err = finishes(lambda: sd.run_dask(Slow(), 64 * 30, scheduler=addr, block_size=64,
                                           progress=close_scheduler, connect_timeout=2))
    finally:
        with contextlib.suppress(Exception):  # closing a cluster without its scheduler times out
            cluster.close(timeout=2)
    assert isinstance(err, ScanRunError)
    assert re.fullmatch(rf"the connection to the Dask scheduler at {re.escape(addr)} was lost "
                        r"during the run \(reason: scheduler-connection-lost\); [\d,]+ of 1,920 "
                        r"replications had finished; nothing was written: check the cluster and "
                        r"run again", str(err)), str(err)


def test_workers_that_keep_dying_are_a_run_error():
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        err = finishes(lambda: sd.run_dask(Dies(), 128, client=client, block_size=64))
    assert isinstance(err, ScanRunError)
    assert str(err) == ("workers of the Dask cluster kept dying while running a block of "
                        "replications; 0 of 128 replications had finished; nothing was written: "
                        "give the workers more memory, or use smaller blocks (block_size)")


# --- the embedded LocalCluster is capped ---------------------------------------------------------

def test_max_local_workers_is_the_cpus_of_this_process():
    import os

    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert sd.max_local_workers() == expected >= 1


@pytest.mark.parametrize("extra", [1, 1000])
def test_too_many_local_workers_are_refused_before_starting(extra):
    cap = sd.max_local_workers()
    n = cap + extra
    with pytest.raises(ScanParameterError,
                       match=rf"parameter 'n_workers' \(--workers\) must be between 1 and "
                       rf"{cap} \(the CPUs "
                       rf"available to this process\) for the local cluster; got {n}\. each "
                       r"worker is a process that runs one block at a time, so more than one per "
                       r"CPU only uses more memory; for more, pass the scheduler of a larger "
                       r"cluster"):
        sd.run_dask(Arange(), 10, n_workers=n)
    with pytest.raises(ScanParameterError, match=r"parameter 'n_workers' \(--workers\) must "
                                                 r"be between 1"):
        with sd.connect(n_workers=n):  # the batch runner's way in
            pass


def test_too_many_threads_per_local_worker():
    cap = sd.max_local_workers()
    with pytest.raises(ScanParameterError,
                       match=rf"parameter 'threads_per_worker' \(--threads\) must be "
                       rf"between 1 and {cap}"):
        sd.run_dask(Arange(), 10, n_workers=1, threads_per_worker=cap + 1)


# --- as a user types it ------------------------------------------------------------------------

@pytest.fixture()
def borough_csv(tmp_path):
    from scan.datasets import write_borough_csv

    return write_borough_csv(tmp_path / "cancer.csv")


def test_cli_scheduler_speaking_http(tmp_path, borough_csv, fake_server, capsys):
    from scan.cli import main

    addr = fake_server("http")
    code = main(["spatial", str(borough_csv), "--out", str(tmp_path / "o"), "--quiet",
                 "--replications", "99", "--backend", "dask", "--scheduler", addr])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"scan: error: parameter 'scheduler' must be the address of a running Dask "
                   f"scheduler, such as 'tcp://HOST:8786'; got '{addr}'. the server at {addr} "
                   "does not speak the Dask protocol (its answer is not a Dask message); check "
                   "the port: a scheduler listens on 8786 unless told otherwise, and 8787 is its "
                   "dashboard (a web page, not the scheduler)\n")
    assert not (tmp_path / "o").exists()


def test_cli_silent_scheduler(tmp_path, borough_csv, fake_server, capsys, monkeypatch):
    from scan.cli import main

    monkeypatch.setattr(sd, "CONNECT_TIMEOUT_S", 1.0)
    addr = fake_server("silent")
    box = {}
    assert finishes(lambda: box.setdefault("code", main([
        "spatial", str(borough_csv), "--out", str(tmp_path / "o"), "--quiet",
        "--replications", "99", "--backend", "dask", "--scheduler", addr]))) is None
    assert box["code"] == 2
    assert "did not complete the Dask handshake within 1 s" in capsys.readouterr().err


def test_cli_too_many_workers(tmp_path, borough_csv, capsys):
    """The CLI refuses --workers above 256 itself; between the CPU count and that, the local
    cluster's cap speaks, before any worker starts."""
    from scan.cli import main

    n = sd.max_local_workers() + 1
    code = main(["spatial", str(borough_csv), "--out", str(tmp_path / "o"), "--quiet",
                 "--replications", "99", "--backend", "dask", "--workers", str(n)])
    assert code == 2
    assert (f"scan: error: parameter 'n_workers' (--workers) must be between 1 and {n - 1} (the "
            f"CPUs available to this process) for the local cluster; got {n}. each worker is a "
            "process that runs one block at a time") in capsys.readouterr().err
