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
             client=None) -> np.ndarray:
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

    Returns
    -------
    float64 array of R maxima in replication order, bit-identical to the threaded backend.
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
        futures = [c.submit(_run_block, problem_future, start, stop, threads_per_worker,
                            key=f"scan-replicates-{run_id}-{start}-{stop}", retries=2)
                   for start, stop in ranges]
        slot = {f.key: rng for f, rng in zip(futures, ranges)}
        done = 0
        try:
            for future in as_completed(futures):
                maxima = future.result()  # re-raises a block's error after its retries
                start, stop = slot[future.key]
                if maxima.shape != (stop - start,):
                    raise RuntimeError(f"block [{start}, {stop}) returned shape {maxima.shape}")
                out[start:stop] = maxima
                done += stop - start
                if progress is not None:
                    progress(done, n_replications)
        finally:
            c.cancel(futures + [problem_future])
    return out


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
    at a time per worker process, the thread count restored after (as :func:`_run_block`)."""
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
    (circles), the counts, and :meth:`members` fetched from the worker holding the row -- in
    batches, in the order the secondary criteria visit candidates (most likely first)."""

    def __init__(self, shares: _Shares, n_rows: int, n_windows: int,
                 max_population_fraction: float, max_radius: float | None):
        self._shares = shares
        self.n_rows = n_rows
        self.n_windows = n_windows
        self.max_population_fraction = max_population_fraction
        self.max_radius = max_radius
        self.centre = np.arange(n_rows, dtype=np.int64)
        self.centre_xy = None
        self.shape = np.ones(n_rows)
        self.angle = np.zeros(n_rows)
        self._order: list[tuple[int, int]] = []
        self._position: dict[tuple[int, int], int] = {}
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def visit_order(self, candidates) -> None:
        """Tell the order in which members will be asked for (the ranked candidates)."""
        from .secondary import ranked

        self._order = [(candidates.row_of(k), int(candidates.size[k]))
                       for k in ranked(candidates)]
        self._position = {rs: i for i, rs in enumerate(self._order)}

    def centre_of(self, row: int, coords: np.ndarray) -> tuple[float, float]:
        return float(coords[row, 0]), float(coords[row, 1])

    def members(self, row: int, size: int) -> np.ndarray:
        key = (int(row), int(size))
        if key not in self._cache:
            self._fetch(key)
        return self._cache[key]

    def _fetch(self, key) -> None:
        batch = [key]
        at = self._position.get(key)
        if at is not None:
            total = key[1]
            for rs in self._order[at + 1:]:
                if total + rs[1] > _MEMBERS_BATCH:
                    break
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
                            secondary: str = "no-overlap", threads: int | None = None,
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
    embedded cluster).  Returns the :class:`scan.ScanResult` of :func:`scan.pipeline.run`.
    """
    from dataclasses import replace as replace_result

    from .pipeline import Candidates, run

    _check_options(n_replications, n_workers, threads, block_size)
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
            windows = SharedWindows(shares, n, sum(s["n_windows"] for s in summaries.values()),
                                    max_population_fraction, max_radius)
            candidates = Candidates(statistic=statistic, size=size)
            windows.visit_order(candidates)
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
                         threads=None, progress=progress, timings=timings)
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
