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
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from .errors import ScanParameterError, ScanRunError

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
    """Task body on a worker: replications [start, stop) on ``n_threads`` Numba threads
    (None: the worker's own thread count; see :func:`_on_worker_threads`)."""
    return np.asarray(_on_worker_threads(n_threads, problem.run, start, stop), dtype=np.float64)


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


# --- the centre-partitioned mode ----------------------------------------------------------------
#
# For national data the windows do not fit one process comfortably (England's 33,755 LSOAs with
# circles up to 50% of the population: ~570 million windows).  In this mode each worker builds
# and keeps only the windows of its share of the centres (rows ``p, p + P, p + 2P, ...`` of
# partition ``p`` of ``P``: interleaved, so that every share mixes dense and sparse places),
# scans the observed data over them, and returns, for any block of replications, the maximum
# test statistic over its rows.  Replication r's data set depends only on the seed and r, so
# every worker draws the same data set; the maximum over all windows is the maximum of the
# partitions' maxima, exactly (no sum, no rounding): the result is bit-identical to the threaded
# backend.  The driver never holds the windows: it sees per-row facts and asks the workers for
# the members of the candidates the secondary criterion and the cluster report look at.

CENTRE_BLOCKS_PER_PARTITION = 8
"""Default replication blocks per partition: progress steps, and work queued on each worker."""

_POLL_S = 1.0
"""Seconds between checks that the workers holding partitions are still there."""

_MEMBERS_BATCH = 4_000_000
"""Most member entries fetched from the workers in one round (16 MB of int32)."""


@dataclass(frozen=True, eq=False)
class CentreShare:
    """What a worker needs to build its share: the analysis (data, model, direction), the
    window options, and its rows (global indices of its centres)."""

    analysis: Any
    rows: np.ndarray
    max_population_fraction: float
    max_radius: float | None


class Partition:
    """A worker's share, kept in its memory for the whole run: the windows of its centres, the
    null problem over them, and the observed data's best window per row."""

    def __init__(self, share: CentreShare):
        from .windows import build_windows

        a = share.analysis
        t0, cpu0 = time.perf_counter(), time.process_time()
        self.rows = share.rows
        self.windows = build_windows(a.data.coords, a.weights()[0],
                                     coordinates=a.data.coordinates,
                                     max_population_fraction=share.max_population_fraction,
                                     max_radius=share.max_radius,
                                     centres=a.data.coords[share.rows])
        self.problem = a.null_problem(self.windows, 0)
        observed = a.observed(self.windows)
        self.statistic, self.size = observed.statistic, observed.size
        self.build_s = time.perf_counter() - t0
        self.build_cpu_s = time.process_time() - cpu0   # the worker process's CPU seconds
        self.run_cpu_s = 0.0

    @property
    def n_windows(self) -> int:
        return self.windows.n_windows

    def run(self, entropy: int, start: int, stop: int) -> np.ndarray:
        cpu0 = time.process_time()
        out = replace(self.problem, entropy=entropy).run(start, stop)
        self.run_cpu_s += time.process_time() - cpu0
        return out

    def members(self, local_rows, sizes) -> list[np.ndarray]:
        return [self.windows.members(int(r), int(s)).copy() for r, s in zip(local_rows, sizes)]

    def __sizeof__(self) -> int:  # Dask's memory accounting
        w = self.windows
        return int(w.offsets.nbytes + w.neighbors.nbytes + self.problem.weights.nbytes * 4
                   + self.statistic.nbytes * 3 + self.rows.nbytes)


def _on_worker_threads(n_threads: int | None, fn, *args):
    """``fn(*args)`` on ``n_threads`` Numba threads (None: the worker's thread count), one call
    at a time per worker process.  ``numba.set_num_threads`` is per calling thread; it is
    restored before returning so the worker thread is left as found."""
    import numba

    if n_threads is None:
        from distributed import get_worker

        n_threads = get_worker().state.nthreads
    n_threads = max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS))
    with _RUN_LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            return fn(*args)
        finally:
            numba.set_num_threads(previous)


def _build_partition(share: CentreShare, n_threads) -> Partition:
    return _on_worker_threads(n_threads, Partition, share)


def _partition_summary(part: Partition) -> dict:
    return {"statistic": part.statistic, "size": part.size, "n_windows": part.n_windows,
            "build_s": part.build_s, "build_cpu_s": part.build_cpu_s,
            "run_cpu_s": part.run_cpu_s, "neighbors_bytes": int(part.windows.neighbors.nbytes),
            "offsets_bytes": int(part.windows.offsets.nbytes)}


def _run_partition(part: Partition, entropy: int, start: int, stop: int, n_threads):
    out = _on_worker_threads(n_threads, part.run, entropy, start, stop)
    return np.asarray(out, dtype=np.float64)


def _partition_members(part: Partition, local_rows, sizes) -> list[np.ndarray]:
    return part.members(local_rows, sizes)


class _Shares:
    """The driver's handle on the partitions: which worker holds which, submitting work to the
    holder, and rebuilding a partition elsewhere when its worker leaves the cluster."""

    def __init__(self, client, analysis, *, partitions: int, threads: int | None,
                 max_population_fraction: float, max_radius: float | None):
        self.client = client
        self.threads = threads
        self.run_id = uuid.uuid4().hex[:12]
        n = analysis.data.n_locations
        self.P = max(1, min(int(partitions), n))
        self.shares = [CentreShare(analysis, np.arange(p, n, self.P, dtype=np.int64),
                                   max_population_fraction, max_radius) for p in range(self.P)]
        workers = sorted(client.nthreads())
        if not workers:
            raise ScanRunError("the Dask cluster has no workers")
        self.holder = {p: workers[p % len(workers)] for p in range(self.P)}
        self.generation = {p: 0 for p in range(self.P)}
        self.part = {p: self._submit_build(p) for p in range(self.P)}
        self.problems: list = []

    # -- submitting ---------------------------------------------------------------------------
    def _submit_build(self, p: int):
        key = f"scan-centres-{self.run_id}-build-{p}-{self.generation[p]}"
        return self.client.submit(_build_partition, self.shares[p], self.threads, key=key,
                                  workers=[self.holder[p]], allow_other_workers=False,
                                  pure=False)

    def submit(self, p: int, fn, *args):
        """``fn(partition p, *args)`` on the worker holding partition p."""
        return self.client.submit(fn, self.part[p], *args, workers=[self.holder[p]],
                                  allow_other_workers=False, pure=False)

    def _alive(self) -> set:
        return set(self.client.scheduler_info().get("workers", {}))

    def _rebuild(self, p: int, alive: set) -> None:
        if not alive:
            raise ScanRunError("every worker of the Dask cluster has left; nothing was written")
        held = {w: 0 for w in alive}
        for q, w in self.holder.items():
            if w in held and q != p:
                held[w] += 1
        old = self.holder[p]
        self.holder[p] = min(sorted(held), key=lambda w: held[w])
        self.generation[p] += 1
        log.warning("dask centres: worker %s holding partition %d of %d left; rebuilding it on "
                    "%s", old, p + 1, self.P, self.holder[p])
        with contextlib.suppress(Exception):
            self.client.cancel([self.part[p]])
        self.part[p] = self._submit_build(p)

    def start(self, jobs: dict) -> "_Pending":
        """Submit ``jobs`` (key -> (partition, fn, args)) to the partitions' holders."""
        return _Pending(self, jobs)

    def gather(self, jobs: dict) -> dict:
        """Run ``jobs`` and return key -> result (see :class:`_Pending`)."""
        return self.start(jobs).wait()

    def release(self) -> None:
        for problem in self.problems:
            problem.cancel()
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.part.values()))


class _Pending:
    """Jobs running on the partitions' holders.  :meth:`wait` returns their results, rebuilding
    a partition on another worker and re-running its jobs when its holder leaves the cluster."""

    def __init__(self, shares: _Shares, jobs: dict):
        self.shares = shares
        self.jobs = jobs
        self.futures = {k: shares.submit(p, fn, *args) for k, (p, fn, args) in jobs.items()}
        self.results: dict = {}

    def wait(self, keys=None) -> dict:
        """Results of ``keys`` (default: every job), waiting as needed."""
        from distributed import KilledWorker, wait

        shares, jobs, futures = self.shares, self.jobs, self.futures
        keys = list(jobs) if keys is None else list(keys)
        try:
            while any(k not in self.results for k in keys):
                with contextlib.suppress(TimeoutError):   # a poll: nothing finished yet
                    wait([futures[k] for k in keys if k in futures], timeout=_POLL_S,
                         return_when="FIRST_COMPLETED")
                lost = set()
                for k, f in list(futures.items()):
                    if f.status == "finished":
                        self.results[k] = f.result()
                        del futures[k]
                    elif f.status == "error":
                        err = f.exception()
                        if isinstance(err, KilledWorker):
                            raise ScanRunError("workers of the Dask cluster kept dying while "
                                               "building or scanning a share of the centres; "
                                               "give the workers more memory or use more of "
                                               "them (more partitions)") from None
                        if shares.holder[jobs[k][0]] in shares._alive():
                            raise err
                        lost.add(jobs[k][0])
                    elif f.status in ("cancelled", "lost"):
                        lost.add(jobs[k][0])
                alive = shares._alive()
                gone = lost | {jobs[k][0] for k in futures
                               if shares.holder[jobs[k][0]] not in alive}
                for p in sorted(gone):
                    shares._rebuild(p, alive)
                for k in list(futures):
                    if jobs[k][0] in gone:
                        with contextlib.suppress(Exception):
                            shares.client.cancel([futures[k]])
                        p, fn, args = jobs[k]
                        futures[k] = shares.submit(p, fn, *args)
        except BaseException:
            self.cancel()
            raise
        return {k: self.results[k] for k in keys}

    def cancel(self) -> None:
        if self.futures:
            with contextlib.suppress(Exception):
                self.shares.client.cancel(list(self.futures.values()))
            self.futures = {}


class SharedWindows:
    """The windows as the driver sees them in the centre-partitioned mode: one row per location
    (circles), the counts, and :meth:`members` fetched from the worker holding the row.

    Members come in batches of up to :data:`_MEMBERS_BATCH` entries, guessing what is asked for
    next from the two orders in which the secondary criteria visit candidates: ascending rows
    (SaTScan's most-central-location tie rule looks at every candidate) and most likely first
    (the criteria themselves).  Only the current batch is kept."""

    def __init__(self, shares: _Shares, coords: np.ndarray, n_windows: int,
                 max_population_fraction: float, max_radius: float | None):
        self._shares = shares
        self.n_rows = len(coords)
        self.n_windows = n_windows
        self.max_population_fraction = max_population_fraction
        self.max_radius = max_radius
        self.centre = np.arange(self.n_rows, dtype=np.int64)
        self.centre_xy = np.asarray(coords, dtype=np.float64)   # as build_windows gives them
        self.shape = np.ones(self.n_rows)
        self.angle = np.zeros(self.n_rows)
        self.ellipse_shapes, self.ellipse_angles = (), ()   # circles only in this mode
        self.elliptic = False
        self.rows_per_centre = 1
        self._orders: list[list[tuple[int, int]]] = []
        self._positions: list[dict[tuple[int, int], int]] = []
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._last = None
        self.fetches = 0

    def visit_orders(self, candidates) -> None:
        """Tell the orders in which members will be asked for: the candidates with a positive
        statistic by row, and most likely first."""
        from .secondary import ranked

        stat = np.asarray(candidates.statistic)
        size = np.asarray(candidates.size)
        by_row = [(int(r), int(size[r])) for r in np.flatnonzero(stat > 0)]
        by_stat = [(candidates.row_of(int(k)), int(size[k])) for k in ranked(candidates)]
        self._orders = [by_row, by_stat]
        self._positions = [{rs: i for i, rs in enumerate(o)} for o in self._orders]

    def centre_of(self, row: int, coords: np.ndarray) -> tuple[float, float]:
        return float(self.centre_xy[row, 0]), float(self.centre_xy[row, 1])

    def penalty(self, kind: str = "medium") -> None:
        """Circles: no non-compactness penalty (as :meth:`scan.windows.Windows.penalty`)."""
        return None

    def members(self, row: int, size: int) -> np.ndarray:
        key = (int(row), int(size))
        if key not in self._cache:
            self._fetch(key)
        self._last = key
        return self._cache[key]

    def _next_of(self, key) -> list:
        """The entries after ``key`` in the order the previous request suggests."""
        choice = None
        for order, pos in zip(self._orders, self._positions):
            at = pos.get(key)
            if at is None:
                continue
            if choice is None or (self._last is not None and at > 0
                                  and order[at - 1] == self._last):
                choice = (order, at)
        if choice is None:
            return []
        order, at = choice
        return order[at + 1:]

    def _fetch(self, key) -> None:
        batch, total = [key], key[1]
        for rs in self._next_of(key):
            if total + rs[1] > _MEMBERS_BATCH:
                break
            if rs not in batch:
                batch.append(rs)
                total += rs[1]
        P = self._shares.P
        by_part: dict[int, list] = {}
        for row, size in batch:
            by_part.setdefault(row % P, []).append((row, size))
        jobs = {p: (p, _partition_members, (np.array([r // P for r, _ in rs]),
                                             np.array([s for _, s in rs])))
                for p, rs in by_part.items()}
        got = self._shares.gather(jobs)
        self.fetches += 1
        self._cache = {}
        for p, rs in by_part.items():
            for rs_key, members in zip(rs, got[p]):
                self._cache[rs_key] = members


class _PartitionedAnalysis:
    """An analysis (:class:`scan.pipeline.Analysis`) whose windows live on the workers: the
    observed candidates come from the partitions, the null problem runs there."""

    def __init__(self, base, shares: _Shares, windows: SharedWindows, candidates,
                 n_replications: int, block_size: int):
        self._base = base
        self._shares = shares
        self._windows = windows
        self._candidates = candidates
        self._n_replications = n_replications
        self._block_size = block_size

    def __getattr__(self, name):   # data, name, total_cases, whole_area, counts, ...
        return getattr(self._base, name)

    def observed(self, windows):
        return self._candidates

    def members(self, windows, row: int, size: int) -> np.ndarray:
        return windows.members(row, size)

    def null_problem(self, windows, entropy: int):
        return PartitionedProblem(self._shares, int(entropy), self._n_replications,
                                  self._block_size)


class PartitionedProblem:
    """Replications over every partition: ``run(start, stop)`` returns, for each replication,
    the maximum of the partitions' maxima.  The first call queues every block of every
    partition on its worker; later calls wait for the blocks they cover."""

    def __init__(self, shares: _Shares, entropy: int, n_replications: int, block_size: int):
        self._shares = shares
        self.entropy = entropy
        self.n_replications = n_replications
        self.ranges = blocks(n_replications, block_size)
        self._maxima: dict[tuple[int, int], np.ndarray] = {}
        self._pending = None
        shares.problems.append(self)

    def run(self, start: int, stop: int) -> np.ndarray:
        needed = [(a, b) for a, b in self.ranges if a < stop and b > start
                  and (a, b) not in self._maxima]
        if needed:
            self._compute(needed)
        out = np.empty(stop - start)
        for a, b in self.ranges:
            if a < stop and b > start:
                lo, hi = max(a, start), min(b, stop)
                out[lo - start:hi - start] = self._maxima[(a, b)][lo - a:hi - a]
        return out

    def _compute(self, needed) -> None:
        if self._pending is None:
            # every block of every partition is queued at once, so that workers never wait
            # for the driver; each worker runs its blocks one at a time
            jobs = {(p, a, b): (p, _run_partition, (self.entropy, a, b, self._shares.threads))
                    for a, b in self.ranges for p in range(self._shares.P)}
            self._pending = self._shares.start(jobs)
        keys = [(p, a, b) for a, b in needed for p in range(self._shares.P)]
        got = self._pending.wait(keys)
        for a, b in needed:
            parts = [got[(p, a, b)] for p in range(self._shares.P)]
            for m in parts:
                if m.shape != (b - a,):
                    raise RuntimeError(f"block [{a}, {b}) returned shape {m.shape}")
            self._maxima[(a, b)] = np.maximum.reduce(parts) if len(parts) > 1 else parts[0]

    def cancel(self) -> None:
        """Drop the blocks still queued (a run that stopped early)."""
        if self._pending is not None:
            self._pending.cancel()


def default_centre_block_size(n_replications: int, threads: int = 1) -> int:
    """About R / 8 per block (a multiple of 64), at least 64 x threads."""
    target = n_replications / CENTRE_BLOCKS_PER_PARTITION
    return max(BLOCK_MULTIPLE * max(1, threads),
               BLOCK_MULTIPLE * int(round(target / BLOCK_MULTIPLE)))


def centre_partitioned_scan(analysis, *, n_replications: int, seed: int, parameters: dict,
                            max_population_fraction: float, max_radius: float | None,
                            inference=None, secondary: str | None = None,
                            threads: int | None = None,
                            progress: Callable[[int, int], None] | None = None,
                            client=None, scheduler: str | None = None, n_workers: int = 2,
                            block_size: int | None = None, partitions: int | None = None,
                            timings: dict | None = None):
    """A purely spatial scan whose windows are built and kept on the workers, a share of the
    centres each (``dask_mode="centres"`` of :func:`scan.circular_scan`).

    Each of ``partitions`` shares (default: one per worker) holds the windows of the centres
    ``p, p + P, p + 2P, ...``: memory per worker is about 1/P of a single-process build.  The
    observed scan, the replications (blocks of ``block_size``, default about R/8, queued at
    once) and the members of candidate clusters are computed where the windows are; the driver
    takes the maximum over partitions per replication, so the null distribution, the clusters
    and the p-values are bit-identical to the threaded backend.  A worker that leaves the
    cluster has its shares rebuilt on another worker and their blocks re-run (same numbers).
    ``threads``: Numba threads per worker task (default: each worker's thread count; 1 on the
    embedded cluster).  ``inference`` / ``secondary``: as :func:`scan.pipeline.run` takes them
    (secondary criteria, the p = 1 rule, early termination; not the Gini collections or the
    iterative scan, which rebuild windows in one process).  Returns the :class:`scan.ScanResult`
    of :func:`scan.pipeline.run`.
    """
    from dataclasses import replace as replace_result

    from .pipeline import Candidates, run

    _check_options(n_replications, n_workers, threads, block_size)
    if inference is not None and (inference.gini or inference.iterative):
        raise ScanParameterError("inference", "without gini or iterative in the centre-"
                                 "partitioned mode", "gini" if inference.gini else "iterative",
                                 "use dask_mode='replications'")
    if partitions is not None and (not isinstance(partitions, (int, np.integer))
                                   or isinstance(partitions, bool) or partitions < 1):
        raise ScanParameterError("partitions", "a whole number >= 1 or None", partitions)
    timings = dict(timings or {})
    with connect(client=client, scheduler=scheduler, n_workers=n_workers,
                 threads_per_worker=threads) as c:
        nthreads = c.nthreads()
        worker_threads = threads or min(nthreads.values(), default=1)
        t0 = time.perf_counter()
        shares = _Shares(c, analysis, partitions=partitions or max(1, len(nthreads)),
                         threads=threads, max_population_fraction=max_population_fraction,
                         max_radius=max_radius)
        try:
            summaries = shares.gather({p: (p, _partition_summary, ()) for p in range(shares.P)})
            n = analysis.data.n_locations
            statistic, size = np.zeros(n), np.zeros(n, dtype=np.int64)
            for p, s in summaries.items():
                statistic[shares.shares[p].rows] = s["statistic"]
                size[shares.shares[p].rows] = s["size"]
            windows = SharedWindows(shares, analysis.data.coords,
                                    sum(s["n_windows"] for s in summaries.values()),
                                    max_population_fraction, max_radius)
            candidates = Candidates(statistic=statistic, size=size)
            windows.visit_orders(candidates)
            timings["windows_s"] = time.perf_counter() - t0
            timings["partition_build_s"] = [summaries[p]["build_s"] for p in range(shares.P)]
            split = [int(summaries[p]["n_windows"]) for p in range(shares.P)]
            size_of_block = block_size or default_centre_block_size(n_replications,
                                                                    worker_threads)
            log.info("dask centres: %d partitions on %d workers, %d windows, blocks of %d",
                     shares.P, len(nthreads), windows.n_windows, size_of_block)
            wrapped = _PartitionedAnalysis(analysis, shares, windows, candidates,
                                           n_replications, size_of_block)
            # the chunk loop of the threaded runner drives the partitions (progress per chunk);
            # the work itself runs on the workers
            result = run(wrapped, windows, n_replications=n_replications, seed=seed,
                         parameters=parameters, secondary=secondary, backend="threads",
                         threads=None, progress=progress, timings=timings,
                         inference=inference)
            # CPU seconds of the worker processes (a partition rebuilt after a worker left
            # counts from its rebuild)
            final = shares.gather({p: (p, _partition_summary, ()) for p in range(shares.P)})
            result.timings["partition_build_cpu_s"] = [final[p]["build_cpu_s"]
                                                       for p in range(shares.P)]
            result.timings["partition_monte_carlo_cpu_s"] = [final[p]["run_cpu_s"]
                                                             for p in range(shares.P)]
        finally:
            shares.release()
    return replace_result(result, parameters={**result.parameters, "backend": "dask",
                                              "dask_mode": "centres", "partitions": shares.P,
                                              "partition_windows": split})
