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
"""
from __future__ import annotations

import contextlib
import logging
import threading
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


@contextlib.contextmanager
def connect(*, client=None, scheduler: str | None = None, n_workers: int = 2,
            threads_per_worker: int | None = None):
    """A Dask client: ``client`` as given (left open); a new client of the cluster at
    ``scheduler`` (the cluster is left running); or an embedded ``LocalCluster`` of
    ``n_workers`` processes, closed on exit."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as c:
            yield c
        return
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker or 1,
                      processes=True, dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def run_dask(problem, n_replications: int, *,
             progress: Callable[[int, int], None] | None = None,
             scheduler: str | None = None, n_workers: int = 2,
             threads_per_worker: int | None = None, block_size: int | None = None,
             client=None, stop=None) -> np.ndarray:
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
        nor ``scheduler`` is given (default 2).
    threads_per_worker : Numba threads a worker gives one block (and the embedded cluster's
        threads per worker).  Default None: 1 on the embedded cluster, each worker's own thread
        count on an existing cluster.  Set on the worker's thread for the block and restored;
        nothing changes in this process.
    block_size : replications per task, a multiple of 64.  Default about R / (4 x workers), at
        least 64 x threads per worker.
    client : an existing ``distributed.Client`` to use (left open).
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
    out = np.empty(n_replications)
    if n_replications == 0:
        return out
    from distributed import as_completed

    with connect(client=client, scheduler=scheduler, n_workers=n_workers,
                 threads_per_worker=threads_per_worker) as c:
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
        try:
            for future in as_completed(futures):
                maxima = future.result()  # re-raises a block's error after its retries
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
            c.cancel(futures + [problem_future])
    return out
