"""The Dask backend: Monte Carlo replications in blocks on a ``dask.distributed`` cluster.

The problem (static arrays and scalars: anything with a ``.run(start, stop)`` method returning
the maxima of replications ``[start, stop)``) is scattered to every worker once; replication
blocks ``[start, stop)`` are submitted as tasks that call ``problem.run`` -- the same Numba
kernels as the threaded backend, compiled or loaded from the on-disk cache once per worker
process -- and each block's maxima are written into their own slice of the output.  Replication
``r`` depends only on the root entropy and ``r``, so the null distribution is bit-identical to
the threaded backend for any number of workers, any block size and any order in which blocks
finish, including blocks re-run after a worker is lost.

Dask is imported only when this backend is used: ``import scan`` stays fast.

Connecting to a scheduler never hangs and never ends in a traceback.  Before a client is made,
the address is checked: it must parse, something must accept a TCP connection there within
``connect_timeout`` (:data:`CONNECT_TIMEOUT_S`, 10 s), complete distributed's handshake within
that time, and answer an identity request as a *scheduler* within ``response_timeout``
(:data:`RESPONSE_TIMEOUT_S`).  distributed itself waits for the handshake without a time limit
(a server that accepts and stays silent hangs ``Client(address, timeout=...)`` for ever) and
reads a non-Dask server's bytes as a frame length (an HTTP server's answer gives "Unable to
allocate 3.07 EiB"); the check turns each case into one :class:`ScanParameterError` naming
the address and the fix (bad input: exit code 2 in the CLI).  A cluster that fails during the
run -- the scheduler lost (distributed gives up reconnecting after ``connect_timeout``), or
workers that keep dying on a block (``KilledWorker``) -- raises :class:`scan.errors.ScanRunError`
(exit code 1); a worker lost once is still handled by distributed (its blocks re-run elsewhere),
and a block's own error is still raised as it is, after two retries.  During the run the same timeouts
are distributed's ``distributed.comm.timeouts.connect`` and ``.tcp`` (a connection that stops
answering is dropped; distributed's keep-alive needs at least 11 s).

The embedded ``LocalCluster`` has at most :func:`max_local_workers` worker processes (the CPUs
the OS lets this process use) and as many threads per worker: each worker runs one block at a
time, so more workers than CPUs only add processes and memory.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import time
import uuid
from typing import Callable

import numpy as np

from .errors import ScanParameterError

log = logging.getLogger(__name__)

BLOCK_MULTIPLE = 64
"""Block sizes are multiples of the kernels' side-by-side block (``montecarlo.BLOCK``)."""

_BLOCKS_PER_WORKER = 4
"""Default blocks per worker: enough to balance load and report progress, few enough that the
scheduling overhead (a few ms per block) stays small against the work in a block."""

CONNECT_TIMEOUT_S = 10.0
"""Seconds allowed to open a connection to a scheduler and complete distributed's handshake."""

RESPONSE_TIMEOUT_S = 30.0
"""Seconds a connected scheduler may take to answer a request (its identity when connecting; a
connection silent for longer during the run is dropped -- distributed's keep-alive, which uses
at least 11 s)."""

DEFAULT_SCHEDULER_PORT = 8786

_RUN_LOCK = threading.Lock()
"""Serialises blocks inside one worker process: a worker with several Dask threads runs one
block at a time, each on ``threads_per_worker`` Numba threads, instead of oversubscribing its
cores with threads x threads."""


def default_block_size(n_replications: int, n_workers: int, threads: int = 1) -> int:
    """About ``n_replications / (4 * n_workers)``, rounded to a multiple of 64, and at least
    ``64 * threads`` so that a block keeps all of a worker's Numba threads busy."""
    target = n_replications / (_BLOCKS_PER_WORKER * max(1, n_workers))
    return max(BLOCK_MULTIPLE * max(1, threads),
               BLOCK_MULTIPLE * int(round(target / BLOCK_MULTIPLE)))


def blocks(n_replications: int, block_size: int) -> list[tuple[int, int]]:
    """Replication ranges ``[start, stop)`` of ``block_size`` covering ``[0, n_replications)``."""
    return [(start, min(n_replications, start + block_size))
            for start in range(0, n_replications, block_size)]


def _run_block(problem, start: int, stop: int, n_threads: int | None) -> np.ndarray:
    """Task body on a worker: replications [start, stop) on ``n_threads`` Numba threads.

    ``numba.set_num_threads`` is per calling thread; it is restored before returning so the
    worker thread is left as found.  ``None`` uses the worker's own thread count.
    """
    import numba

    if n_threads is None:
        from distributed import get_worker

        n_threads = get_worker().state.nthreads
    n_threads = max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS))
    with _RUN_LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            return np.asarray(problem.run(start, stop), dtype=np.float64)
        finally:
            numba.set_num_threads(previous)


def _check_options(n_replications, n_workers, threads_per_worker, block_size) -> None:
    def whole(name, value, allow_none):
        if value is None and allow_none:
            return
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            allowed = "a whole number >= 1" + (" or None" if allow_none else "")
            raise ScanParameterError(name, allowed, value)

    whole("n_workers", n_workers, False)
    whole("threads_per_worker", threads_per_worker, True)
    whole("block_size", block_size, True)
    if block_size is not None and block_size % BLOCK_MULTIPLE:
        nearest = BLOCK_MULTIPLE * max(1, round(block_size / BLOCK_MULTIPLE))
        raise ScanParameterError("block_size", f"a multiple of {BLOCK_MULTIPLE}", block_size,
                                 f"try {nearest}")


def max_local_workers() -> int:
    """Most worker processes (and threads per worker) of the embedded ``LocalCluster``: the
    CPUs the OS lets this process run on (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _check_local_cluster(n_workers, threads_per_worker) -> None:
    cap = max_local_workers()
    fix = ("each worker is a process that runs one block at a time, so more than one per CPU "
           "only uses more memory; for more, pass the scheduler of a larger cluster")
    if n_workers > cap:
        raise ScanParameterError("n_workers", f"between 1 and {cap} (the CPUs available to this "
                                 "process) for the local cluster", n_workers, fix,
                                 flag="--workers")
    if threads_per_worker is not None and threads_per_worker > cap:
        raise ScanParameterError("threads_per_worker", f"between 1 and {cap} (the CPUs available "
                                 "to this process) for the local cluster", threads_per_worker,
                                 flag="--threads")


def _timeout(name: str, value, default: float) -> float:
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (0 < float(value) < float("inf")):
        raise ScanParameterError(name, "a number of seconds > 0", value)
    return float(value)


def _bad_scheduler(address, why: str) -> ScanParameterError:
    return ScanParameterError("scheduler", "the address of a running Dask scheduler, such as "
                              f"'tcp://HOST:{DEFAULT_SCHEDULER_PORT}'", address, why)


_NOT_DASK = ("check the port: a scheduler listens on 8786 unless told otherwise, and 8787 is "
             "its dashboard (a web page, not the scheduler)")


def check_scheduler(address, *, connect_timeout: float | None = None,
                    response_timeout: float | None = None) -> None:
    """Raise :class:`ScanParameterError` unless a Dask scheduler answers at ``address``.

    In turn: the address must parse; something must accept a TCP connection within
    ``connect_timeout`` seconds (refused connections are retried until then, as distributed
    does, in case the scheduler is starting); it must complete distributed's handshake within
    ``connect_timeout`` too, and answer an identity request as a scheduler within
    ``response_timeout``.  Runs in a thread of its own with its own event loop, so it works
    from inside a running loop (Jupyter) and cannot hang: the thread is given a fixed time.
    """
    ct = _timeout("connect_timeout", connect_timeout, CONNECT_TIMEOUT_S)
    rt = _timeout("response_timeout", response_timeout, RESPONSE_TIMEOUT_S)
    scheme, host, port = _parse_scheduler(address)
    outcome: dict = {}

    def target():
        try:
            outcome["why"] = asyncio.run(_probe(address, scheme, host, port, ct, rt))
        except BaseException as err:  # reported below; the thread must not die silently
            outcome["why"] = f"checking it failed unexpectedly ({type(err).__name__}: {err})"

    thread = threading.Thread(target=target, name="scan-check-scheduler", daemon=True)
    thread.start()
    thread.join(2 * ct + rt + 5)
    if thread.is_alive():  # a safety net: every step in _probe has its own timeout
        raise _bad_scheduler(address, f"{address} did not answer within {2 * ct + rt:g} s")
    if outcome.get("why"):
        raise _bad_scheduler(address, outcome["why"])


def _parse_scheduler(address) -> tuple[str, str | None, int | None]:
    if not isinstance(address, str) or not address.strip():
        raise _bad_scheduler(address, "write it as tcp://HOST:PORT")
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address.strip())
        if scheme not in ("tcp", "tls"):
            return scheme, None, None
        host, port = parse_host_port(loc)
        port = int(port)
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is not in 1..65535")
    except (ValueError, TypeError) as err:
        raise _bad_scheduler(address, f"it is not an address ({err}); write it as "
                             f"tcp://HOST:PORT, e.g. tcp://10.0.0.5:{DEFAULT_SCHEDULER_PORT}"
                             ) from None
    return scheme, host, port


async def _probe(address, scheme, host, port, ct: float, rt: float) -> str | None:
    """None if a scheduler answers at ``address``, else why not (the fix included)."""
    from distributed.comm import connect as comm_connect
    from distributed.security import Security

    start = time.monotonic()
    if host is not None:  # tcp, tls: is anything listening?
        why = await _tcp_reachable(address, host, port, ct)
        if why:
            return why
    left = max(0.1, ct - (time.monotonic() - start))
    args = Security().get_connection_args("client")
    try:
        comm = await asyncio.wait_for(comm_connect(address, timeout=left, **args), left)
    except (asyncio.TimeoutError, TimeoutError):
        return (f"{address} accepted the connection but did not complete the Dask handshake "
                f"within {ct:g} s: it is not a Dask scheduler, or it is stuck; {_NOT_DASK}")
    except (MemoryError, OverflowError):
        return (f"the server at {address} does not speak the Dask protocol (its answer is not "
                f"a Dask message); {_NOT_DASK}")
    except Exception as err:  # deserialising garbage raises anything
        if host is None:  # inproc://, ws://, ucx://: no TCP check was made
            return f"connecting to {address} failed ({_reason(err)})"
        if isinstance(err, OSError):
            return (f"the server at {address} closed the connection during the Dask handshake "
                    f"({_reason(err)}); it does not speak the Dask protocol, or refused this "
                    f"client; {_NOT_DASK}")
        return (f"the server at {address} does not speak the Dask protocol "
                f"({type(err).__name__}); {_NOT_DASK}")
    try:
        await asyncio.wait_for(comm.write({"op": "identity", "reply": True}), rt)
        reply = await asyncio.wait_for(comm.read(), rt)
    except (asyncio.TimeoutError, TimeoutError):
        return (f"the Dask server at {address} did not answer within {rt:g} s; it is stuck or "
                "overloaded: check it, or raise response_timeout")
    except Exception as err:
        return f"the server at {address} broke off the connection ({_reason(err)})"
    finally:
        comm.abort()
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        return (f"{address} is a Dask {kind or 'server'}, not a scheduler; pass the address the "
                "scheduler prints when it starts ('Scheduler at: tcp://...')")
    return None


def _reason(err: BaseException) -> str:
    """A short cause for a connection error, without distributed's object reprs."""
    cause = err.__cause__ or err
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    text = str(cause).split(": ")[-1].strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


async def _tcp_reachable(address, host: str, port: int, ct: float) -> str | None:
    deadline = time.monotonic() + ct
    error: BaseException | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), left)
        except (asyncio.TimeoutError, TimeoutError) as err:
            error = err
            break
        except OSError as err:  # refused, unreachable, unknown host
            error = err
            if isinstance(err, (ConnectionRefusedError, ConnectionResetError)):
                await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                continue
            break
        writer.close()
        return None
    reason = ("no answer" if error is None or isinstance(error, (asyncio.TimeoutError,
                                                                  TimeoutError))
              else _reason(error))
    waited = error is None or isinstance(error, (asyncio.TimeoutError, TimeoutError,
                                                  ConnectionRefusedError, ConnectionResetError))
    what = (f"nothing accepted a connection at {address} within {ct:g} s ({reason})" if waited
            else f"could not connect to {address} ({reason})")
    return (f"{what}; check the host and port, and that the scheduler is running there "
            "(`dask scheduler` prints its address), or leave the scheduler out to run on a "
            "local cluster")


@contextlib.contextmanager
def connect(*, client=None, scheduler: str | None = None, n_workers: int = 2,
            threads_per_worker: int | None = None, connect_timeout: float | None = None,
            response_timeout: float | None = None):
    """A Dask client: ``client`` as given (left open); a new client of the cluster at
    ``scheduler`` (the cluster is left running), checked first by :func:`check_scheduler`
    and used with ``connect_timeout`` / ``response_timeout`` as distributed's connect and TCP
    timeouts; or an embedded ``LocalCluster`` of ``n_workers`` processes (at most
    :func:`max_local_workers`), closed on exit."""
    if client is not None:
        yield client
        return
    if scheduler is not None:
        ct = _timeout("connect_timeout", connect_timeout, CONNECT_TIMEOUT_S)
        rt = _timeout("response_timeout", response_timeout, RESPONSE_TIMEOUT_S)
        check_scheduler(scheduler, connect_timeout=ct, response_timeout=rt)
        import dask
        from distributed import Client

        config = {"distributed.comm.timeouts.connect": f"{ct}s",
                  "distributed.comm.timeouts.tcp": f"{max(11.0, rt)}s"}
        with dask.config.set(config):
            try:
                c = Client(scheduler.strip(), timeout=ct)
            except Exception as err:  # OSError, TimeoutError, ...: after the check, rare
                raise _bad_scheduler(scheduler, f"connecting a client failed "
                                     f"({type(err).__name__}: {err})") from None
            with c:
                yield c
        return
    _check_local_cluster(n_workers, threads_per_worker)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker or 1,
                      processes=True, dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def run_dask(problem, n_replications: int, *,
             progress: Callable[[int, int], None] | None = None,
             scheduler: str | None = None, n_workers: int = 2,
             threads_per_worker: int | None = None, block_size: int | None = None,
             client=None, connect_timeout: float | None = None,
             response_timeout: float | None = None, stop=None) -> np.ndarray:
    """Maxima of replications ``[0, n_replications)`` computed on a Dask cluster.

    Parameters
    ----------
    problem : any object with ``run(start, stop) -> ndarray`` (``NullProblem``,
        ``SpaceTimeNullProblem``, ...), picklable, whose result depends only on its contents and
        the range.  It is scattered to every worker once.
    n_replications : number of replications R.
    progress : optional ``progress(done, total)``, called in the calling thread each time a block
        finishes (in completion order; ``done`` counts finished replications).
    scheduler : address of an existing scheduler (``"tcp://host:8786"``).  Ignored if ``client``.
    n_workers : worker processes of the embedded ``LocalCluster`` used when neither ``client``
        nor ``scheduler`` is given (default 2; at most :func:`max_local_workers`, the CPUs
        available to this process).
    threads_per_worker : Numba threads a worker gives one block (and the embedded cluster's
        threads per worker).  Default None: 1 on the embedded cluster, each worker's own thread
        count on an existing cluster.  Set on the worker's thread for the block and restored;
        nothing changes in this process.
    block_size : replications per task, a multiple of 64.  Default about R / (4 x workers), at
        least 64 x threads per worker.
    client : an existing ``distributed.Client`` to use (left open).
    connect_timeout, response_timeout : seconds (default :data:`CONNECT_TIMEOUT_S`, 10, and
        :data:`RESPONSE_TIMEOUT_S`, 30) allowed to reach ``scheduler`` and for it to answer;
        a scheduler that cannot be reached, does not answer or is not a Dask scheduler raises
        :class:`ScanParameterError` naming the address, never hangs.
    stop : optional :class:`scan.montecarlo.EarlyStop`.  Blocks finish in any order; the rule
        is applied to the replications of the blocks finished without a gap from the first one,
        in replication order, and once it stops at replication ``k`` the other blocks are
        cancelled.  So ``k`` is the threaded backend's, whatever the block size or workers.

    Returns
    -------
    float64 array of R maxima (or of the first ``k`` with ``stop``) in replication order,
    bit-identical to the threaded backend.
    A block that raises is retried twice; blocks lost with a worker are re-run elsewhere by the
    scheduler; either way the numbers are unchanged.
    """
    _check_options(n_replications, n_workers, threads_per_worker, block_size)
    _timeout("connect_timeout", connect_timeout, CONNECT_TIMEOUT_S)
    _timeout("response_timeout", response_timeout, RESPONSE_TIMEOUT_S)
    if client is None and scheduler is None:
        _check_local_cluster(n_workers, threads_per_worker)
    out = np.empty(n_replications)
    if n_replications == 0:
        return out
    from distributed import as_completed

    with connect(client=client, scheduler=scheduler, n_workers=n_workers,
                 threads_per_worker=threads_per_worker, connect_timeout=connect_timeout,
                 response_timeout=response_timeout) as c:
        nthreads = c.nthreads()  # {worker address: threads}
        workers = max(1, len(nthreads))
        threads = threads_per_worker or min(nthreads.values(), default=1)
        size = block_size or default_block_size(n_replications, workers, threads)
        ranges = blocks(n_replications, size)
        log.info("dask: %d replications in %d blocks of %d on %d workers",
                 n_replications, len(ranges), size, workers)
        problem_future = c.scatter(problem, broadcast=True, hash=False)
        run_id = uuid.uuid4().hex[:12]
        futures = [c.submit(_run_block, problem_future, start, end, threads_per_worker,
                            key=f"scan-replicates-{run_id}-{start}-{end}", retries=2)
                   for start, end in ranges]
        slot = {f.key: rng for f, rng in zip(futures, ranges)}
        finished = np.zeros(len(ranges), dtype=bool)
        first = {start: i for i, (start, _) in enumerate(ranges)}
        contiguous = 0          # blocks finished without a gap from the first one
        done = 0
        where = (f"the Dask scheduler at {scheduler}" if client is None and scheduler is not None
                 else "the Dask cluster")
        try:
            for future in as_completed(futures):
                try:
                    maxima = future.result()  # re-raises a block's error after its retries
                except Exception as err:
                    lost = _run_failure(err, where, done, n_replications)
                    if lost is None:
                        raise
                    raise lost from None
                start, end = slot[future.key]
                if maxima.shape != (end - start,):
                    raise RuntimeError(f"block [{start}, {end}) returned shape {maxima.shape}")
                out[start:end] = maxima
                done += end - start
                finished[first[start]] = True
                if stop is not None:
                    while contiguous < len(ranges) and finished[contiguous]:
                        contiguous += 1
                    prefix = ranges[contiguous - 1][1] if contiguous else 0
                    k = stop.cut(out[:prefix])
                    if k is not None:
                        log.info("dask: early termination after %d replications", k)
                        if progress is not None:
                            progress(k, n_replications)
                        return out[:k].copy()
                if progress is not None:
                    progress(done, n_replications)
        finally:
            with contextlib.suppress(Exception):  # the client may be gone: keep the real error
                c.cancel(futures + [problem_future])
    return out


def _run_failure(err: BaseException, where: str, done: int, total: int):
    """A :class:`ScanRunError` for a cluster that failed during the run (exit code 1), or None
    for a block's own error (raised as it is)."""
    import concurrent.futures

    from distributed import KilledWorker

    from .errors import ScanRunError

    progress = f"{done:,} of {total:,} replications had finished; nothing was written"
    if isinstance(err, KilledWorker):
        return ScanRunError(f"workers of {where} kept dying while running a block of "
                            f"replications; {progress}: give the workers more memory, or use "
                            "smaller blocks (block_size)")
    if isinstance(err, concurrent.futures.CancelledError):
        found = re.search(r"reason: ([\w-]+)", str(err))
        reason = f"reason: {found.group(1)}" if found else "the tasks were cancelled"
        return ScanRunError(f"the connection to {where} was lost during the run ({reason}); "
                            f"{progress}: check the cluster and run again")
    return None
