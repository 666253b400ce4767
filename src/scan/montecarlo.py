"""Monte Carlo replications under the null, in parallel, reproducible for any thread count.

Replication ``r`` draws only from a xoshiro256** stream seeded with four words of
``SeedSequence(entropy, spawn_key=(r,))`` (:mod:`scan._random`): its data set, and so its maximum
LLR, depend on the root entropy and ``r`` alone.  A *problem* holds the static arrays of one
analysis and computes the maxima of any range of replications with the analysis's kernel
(:class:`NullProblem` for purely spatial scans, :class:`SpaceTimeNullProblem` for cylinders).
A *backend* only decides where the ranges run (:data:`BACKENDS`): Numba threads in this process,
or blocks on a Dask cluster.  Hence the null distribution is bit-identical whatever the number of
threads, Dask workers or block size, and the first R replications of a longer run equal an R run.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from ._random import BLOCK, alias_table, normalise_seed, replicate_states  # noqa: F401

Backend = Literal["threads", "dask"]
Progress = Callable[[int, int], None]


class ProgressBar:
    """What ``progress=True`` gives the scan functions: a ``tqdm.auto`` bar (a widget in
    Jupyter, text on stderr elsewhere), opened at the first report, started again when an
    iterative scan begins its next round, closed by :meth:`close`."""

    def __init__(self):
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="rep", desc="Monte Carlo")
        elif done < self._bar.n or total != self._bar.total:
            self._bar.reset(total=total)
        self._bar.update(done - self._bar.n)

    def describe(self, text: str) -> None:
        """A line above the bar (the space-time scan's up-front estimate)."""
        import sys

        from tqdm.auto import tqdm

        tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def with_progress_bar(scan_function):
    """Let ``scan_function`` take ``progress=True`` for a :class:`ProgressBar`, closed when it
    returns or fails; a callable or None passes through."""
    @functools.wraps(scan_function)
    def wrapper(*args, **kwargs):
        if kwargs.get("progress") is not True:
            return scan_function(*args, **kwargs)
        bar = kwargs["progress"] = ProgressBar()
        try:
            return scan_function(*args, **kwargs)
        finally:
            bar.close()
    return wrapper


# --- problems -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class NullProblem:
    """A purely spatial analysis's replications: static arrays and scalars only (picklable)."""

    offsets: np.ndarray
    neighbors: np.ndarray
    weights: np.ndarray
    total_cases: float
    total_weight: float
    model: int
    direction: int
    min_cases: int
    prob: np.ndarray      # alias table of the weights (Poisson null)
    alias: np.ndarray
    cum_pop: np.ndarray   # cumulative integer population (Bernoulli null)
    entropy: int
    scale: np.ndarray     # per window row: the LLR's multiplier in the test statistic

    def run(self, start: int, stop: int) -> np.ndarray:
        """Maxima of replications [start, stop): the same numbers wherever this runs."""
        from . import _kernels as K

        states = replicate_states(self.entropy, start, stop)
        out = np.zeros(stop - start)
        K.replicate_maxima_spatial(self.offsets, self.neighbors, self.weights, self.total_cases,
                                   self.total_weight, self.model, self.direction, self.min_cases,
                                   self.scale, states, self.prob, self.alias, self.cum_pop, out)
        return out


def null_problem(windows, weights, cases_total, population, model, direction, entropy,
                 min_cases=2, scale=None) -> NullProblem:
    """The :class:`NullProblem` of a purely spatial scan (model and direction as kernel codes;
    ``scale``: per window row, the LLR's multiplier in the test statistic, default 1)."""
    from . import _kernels as K

    weights = np.ascontiguousarray(weights, dtype=np.float64)
    prob, alias = alias_table(weights)
    if model == K.BERNOULLI:
        cum_pop = np.zeros(len(weights) + 1, dtype=np.int64)
        np.cumsum(np.asarray(population, dtype=np.int64), out=cum_pop[1:])
    else:
        cum_pop = np.zeros(2, dtype=np.int64)
    return NullProblem(offsets=windows.offsets, neighbors=windows.neighbors, weights=weights,
                       total_cases=float(cases_total), total_weight=float(weights.sum()),
                       model=model, direction=direction, min_cases=int(min_cases),
                       prob=prob, alias=alias, cum_pop=cum_pop, entropy=entropy,
                       scale=row_scale(windows, scale))


def row_scale(windows, scale=None) -> np.ndarray:
    """Per-row multipliers as a contiguous float64 array (ones when None)."""
    if scale is None:
        return np.ones(windows.n_rows)
    return np.ascontiguousarray(scale, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class SpaceTimeNullProblem:
    """A space-time analysis's replications (cylinders); the contract of :class:`NullProblem`.

    The time windows are ``[t1, t2)`` with ``t2 >= first_end`` and lengths from ``min_len`` to
    ``max_len`` (or to ``max_len_end[t2]``, one maximum per end: the prospective analyses
    adjusted for earlier ones).  ``direction`` is a kernel code (:data:`scan._kernels.HIGH`,
    LOW, BOTH); ``strata`` (permutation null) the offsets of the cases of each covariate stratum
    in ``case_loc``/``case_time`` (None: one stratum).  The kernel is
    :func:`scan._st_kernels.replicate_maxima_cyl`.
    """

    offsets: np.ndarray
    neighbors: np.ndarray
    cum_expected: np.ndarray   # (n, T + 1) prefix sums over time
    total_cases: float
    min_len: int
    max_len: int
    first_end: int
    min_cases: int
    null_kind: int
    prob: np.ndarray           # alias table over location-major cells (Poisson null)
    alias: np.ndarray
    case_loc: np.ndarray       # one entry per case (permutation null)
    case_time: np.ndarray
    entropy: int
    scale: np.ndarray          # per window row: the LLR's multiplier in the test statistic
    direction: int = 0
    max_len_end: np.ndarray | None = None
    strata: np.ndarray | None = None

    @functools.cached_property
    def _arrays(self) -> dict:
        """The time-window list and the null's arrays at its points (built once)."""
        from . import _st_kernels as SK

        T = self.cum_expected.shape[1] - 1
        tw = SK.TimeWindows(T, self.min_len, self.max_len, self.first_end, self.max_len_end)
        P = tw.n_points
        strata = (np.array([0, len(self.case_loc)], dtype=np.int64) if self.strata is None
                  else np.ascontiguousarray(self.strata, dtype=np.int64))
        a = dict(tw=tw, cum_e=np.ascontiguousarray(self.cum_expected[:, tw.points]),
                 strata=strata, inside=False, prob=self.prob, alias=self.alias, p_in=1.0,
                 cell_bin=np.zeros(1, dtype=np.int64), in_times=np.zeros(0, dtype=np.int64),
                 in_strata=np.zeros(2, dtype=np.int64))
        counted = tw.bin_of >= 0
        if self.null_kind == SK.MULTINOMIAL:
            cells = np.diff(self.cum_expected, axis=1)
            cells_in = np.where(counted[None, :], np.maximum(cells, 0.0), 0.0)
            p_in = float(cells_in.sum() / np.maximum(cells, 0.0).sum())
            if p_in < 1.0:
                loc, t = np.nonzero(cells_in > 0)
                prob, alias = (alias_table(cells_in[loc, t]) if len(loc)
                               else (np.ones(1), np.zeros(1, dtype=np.int64)))
                a.update(inside=True, prob=prob, alias=alias, p_in=p_in,
                         cell_bin=(loc * P + tw.bin_of[t]).astype(np.int64))
        elif not counted[self.case_time].all():
            keep = counted[self.case_time]
            cum_keep = np.zeros(len(keep) + 1, dtype=np.int64)
            np.cumsum(keep, out=cum_keep[1:])
            in_strata = np.ascontiguousarray(cum_keep[strata])
            a.update(inside=True, in_times=np.ascontiguousarray(self.case_time[keep]),
                     in_strata=in_strata)
        return a

    def run(self, start: int, stop: int) -> np.ndarray:
        from . import _st_kernels as SK

        a = self._arrays
        tw = a["tw"]
        states = replicate_states(self.entropy, start, stop)
        out = np.zeros(stop - start)
        block = SK.block_size_points(self.cum_expected.shape[0], tw.n_points)
        SK.replicate_maxima_cyl(self.offsets, self.neighbors, a["cum_e"], self.total_cases,
                                tw.lo, tw.hi, self.direction, self.min_cases, self.scale,
                                states, self.null_kind, a["inside"], a["prob"], a["alias"],
                                a["p_in"], a["cell_bin"], self.case_loc, self.case_time,
                                a["strata"], a["in_times"], a["in_strata"], tw.T, tw.bin_of,
                                block, out)
        return out


# --- early termination ----------------------------------------------------------------------

EXCEED_RTOL = 1e-9
"""A replicate statistic exceeds the observed one when it is above ``observed * (1 + 1e-9)``:
SaTScan's stopping counter ignores ties (within a tolerance), unlike the p-value's count."""


def default_threshold(n_replications: int) -> int:
    """SaTScan's threshold for its default p-values: ``(R + 1) // 20`` (50 for R = 999)."""
    return (n_replications + 1) // 20


@dataclass(frozen=True)
class EarlyStop:
    """SaTScan's sequential Monte Carlo rule (Besag & Clifford 1991): replications stop at the
    first one, in replication order, at which ``threshold`` replicate statistics have exceeded
    ``observed``.  The rule reads replications in order only, so where blocks of replications
    ran (threads, Dask workers, any block size) cannot change where it stops."""

    observed: float
    threshold: int

    def exceeds(self, maxima: np.ndarray) -> np.ndarray:
        return maxima > self.observed + EXCEED_RTOL * abs(self.observed)

    def cut(self, prefix: np.ndarray) -> int | None:
        """Replications to keep when ``prefix`` (the first replications, in order) decides the
        stop: the 1-based position of the ``threshold``-th exceedance; None to go on."""
        hits = np.flatnonzero(self.exceeds(prefix))
        if len(hits) < self.threshold:
            return None
        return int(hits[self.threshold - 1]) + 1


# --- backends -----------------------------------------------------------------------------------

@contextlib.contextmanager
def numba_threads(n: int | None):
    """Run the body on ``n`` Numba threads (None: as configured), restoring the count after."""
    if n is None:
        yield
        return
    import numba

    from .errors import ScanParameterError

    top = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= top:
        raise ScanParameterError("threads", f"between 1 and {top} (the cores Numba sees)", n,
                                 flag="--threads")
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def run_threads(problem, n_replications: int, *, progress: Progress | None = None,
                chunk: int | None = None, stop: "EarlyStop | None" = None) -> np.ndarray:
    """All replications on this machine's cores (Numba threads), in chunks for progress.

    With ``stop``, the chunks end at the replication that reaches its threshold: whatever the
    chunk size and thread count, the maxima returned are the first ``k`` in replication order
    (:meth:`EarlyStop.cut`); replications a chunk ran past ``k`` are discarded.
    """
    import numba

    if chunk is None:
        chunk = BLOCK * max(2, 2 * numba.get_num_threads())
    out = np.empty(n_replications)
    done = 0
    while done < n_replications:
        end = min(n_replications, done + chunk)
        out[done:end] = problem.run(done, end)
        done = end
        k = stop.cut(out[:done]) if stop is not None else None
        if k is not None:
            if progress is not None:
                progress(k, n_replications)
            return out[:k].copy()
        if progress is not None:
            progress(done, n_replications)
    return out


def run_dask(problem, n_replications: int, *, progress: Progress | None = None,
             stop: "EarlyStop | None" = None, **options) -> np.ndarray:
    from .distributed import run_dask as _run

    return _run(problem, n_replications, progress=progress, stop=stop, **options)


BACKENDS: dict[str, Callable[..., np.ndarray]] = {"threads": run_threads, "dask": run_dask}
"""Where replications run: the name of a backend -> its runner ``(problem, R, progress=...)``."""


def replicate_maxima(problem, n_replications: int, *, backend: Backend = "threads",
                     progress: Progress | None = None, threads: int | None = None,
                     chunk: int | None = None, scheduler: str | None = None, n_workers: int = 2,
                     block_size: int | None = None, client=None,
                     stop: EarlyStop | None = None) -> np.ndarray:
    """Maxima of replications ``[0, n_replications)`` of ``problem`` on ``backend``.

    ``threads`` is the Numba thread count: of this process for "threads", of each worker's task
    for "dask" (its ``threads_per_worker``).  ``chunk``: replications between progress calls
    (threads).  ``scheduler``, ``n_workers``, ``block_size``, ``client``: the Dask options of
    :func:`scan.distributed.run_dask`.  ``stop``: an :class:`EarlyStop` rule; the maxima are
    then those of replications ``[0, k)`` with ``k`` where the rule stops (``n_replications``
    if it never does), the same on every backend.
    """
    from .errors import check_choice

    check_choice("backend", backend, tuple(BACKENDS))
    if n_replications == 0:
        return np.empty(0)
    if backend == "threads":
        with numba_threads(threads):
            return run_threads(problem, n_replications, progress=progress, chunk=chunk,
                               stop=stop)
    return run_dask(problem, n_replications, progress=progress, threads_per_worker=threads,
                    scheduler=scheduler, n_workers=n_workers, block_size=block_size,
                    client=client, stop=stop)
