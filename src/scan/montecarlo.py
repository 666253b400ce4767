"""Monte Carlo replications under the null, in parallel, reproducible for any thread count.

Replication ``r`` draws only from a xoshiro256** stream seeded with four words of
``SeedSequence(entropy, spawn_key=(r,))``: its data set, and so its maximum LLR, depend on the
root entropy and ``r`` alone.  Replications run in blocks of ``BLOCK`` side by side (one read of
each neighbour list per block); blocks are spread over threads with ``prange``, each writing only
its own slice of the output.  Hence the null distribution is bit-identical whatever the number of
threads, Dask workers or block size, and the first R replications of a longer run equal an R run.

The driver is :func:`replicate_maxima`; a backend only decides where replication ranges run
(:data:`BACKENDS`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numba as nb
import numpy as np

from . import _kernels as K

BLOCK = 64
"""Replications evaluated side by side in one sweep of the windows."""

_U53 = 1.0 / 9007199254740992.0  # 2**-53


# --- random numbers -----------------------------------------------------------------------------

def normalise_seed(rng) -> int:
    """Root entropy from an int, SeedSequence, Generator or None (fresh OS entropy)."""
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.entropy)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if rng is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return int(rng)
    from .errors import ScanParameterError

    raise ScanParameterError("rng", "a non-negative int, a SeedSequence, a Generator or None", rng)


def replicate_states(entropy: int, start: int, stop: int) -> np.ndarray:
    """(stop - start, 4) uint64 xoshiro256** states, one per replication in [start, stop)."""
    states = np.empty((stop - start, 4), dtype=np.uint64)
    for r in range(start, stop):
        s = np.random.SeedSequence(entropy, spawn_key=(r,)).generate_state(4, np.uint64)
        if not s.any():  # the all-zero state is the one xoshiro cannot leave
            s[0] = 1
        states[r - start] = s
    return states


@nb.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(cache=True)
def _next_u64(s):
    """xoshiro256** (Blackman & Vigna 2018); ``s`` is a 4-word uint64 state, updated in place."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@nb.njit(cache=True)
def _uniform(s):
    """A double in [0, 1) from the top 53 bits."""
    return np.float64(_next_u64(s) >> np.uint64(11)) * _U53


@nb.njit(cache=True)
def _below(s, n):
    """An integer uniform on [0, n) (Lemire's nearly-divisionless method, unbiased)."""
    bound = np.uint64(n)
    while True:
        x = _next_u64(s)
        # 128-bit product via 32-bit halves
        x_hi, x_lo = x >> np.uint64(32), x & np.uint64(0xFFFFFFFF)
        b_hi, b_lo = bound >> np.uint64(32), bound & np.uint64(0xFFFFFFFF)
        lo_lo = x_lo * b_lo
        mid1 = x_hi * b_lo
        mid2 = x_lo * b_hi
        carry = ((lo_lo >> np.uint64(32)) + (mid1 & np.uint64(0xFFFFFFFF))
                 + (mid2 & np.uint64(0xFFFFFFFF))) >> np.uint64(32)
        hi = x_hi * b_hi + (mid1 >> np.uint64(32)) + (mid2 >> np.uint64(32)) + carry
        lo = x * bound
        if lo >= bound or lo >= (np.uint64(0) - bound) % bound:
            return np.int64(hi)


# --- null data sets -----------------------------------------------------------------------------

def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's construction) for drawing locations with probability
    proportional to ``weights`` in constant time.  Zero weights are never drawn."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    scaled = w * (n / w.sum())
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    zero = w <= 0
    if zero.any():  # rounding can leave a zero-weight cell marked certain: point it elsewhere
        prob[zero] = 0.0
        alias[zero & (alias == np.arange(n))] = int(np.argmax(w))
    return prob, alias


@nb.njit(cache=True)
def _draw_multinomial(state, total, prob, alias, out):
    """Spread ``total`` cases over locations in proportion to the alias table's weights."""
    n = out.shape[0]
    out[:] = 0
    for _ in range(total):
        x = _uniform(state) * n
        j = min(np.int64(x), n - 1)
        if x - j < prob[j]:
            out[j] += 1
        else:
            out[alias[j]] += 1


@nb.njit(cache=True)
def _draw_labels(state, cases, cum_pop, marks, out):
    """Bernoulli null: ``cases`` case labels placed on distinct people, uniformly.

    Floyd's algorithm picks distinct people (or the controls, when cases are the majority);
    ``cum_pop`` maps a person to the location counting them.  ``marks`` is scratch of size N.
    """
    n = out.shape[0]
    N = cum_pop[n]
    flip = cases > N - cases
    k = N - cases if flip else cases
    out[:] = 0
    picked = np.empty(k, dtype=np.int64)
    for t in range(k):
        j = N - k + t
        p = _below(state, j + 1)
        if marks[p]:
            p = j
        marks[p] = True
        picked[t] = p
    for t in range(k):
        p = picked[t]
        marks[p] = False
        loc = np.searchsorted(cum_pop, p, side="right") - 1
        out[loc] += 1
    if flip:
        for j in range(n):
            out[j] = (cum_pop[j + 1] - cum_pop[j]) - out[j]


@nb.njit(cache=True, nogil=True)
def _run_block(offsets, neighbors, weights, C, W, model, direction, min_cases, states, prob,
               alias, cum_pop, out):
    """Draw the block's data sets side by side and sweep the windows once for all of them."""
    n = weights.shape[0]
    draws = np.zeros((n, states.shape[0]), dtype=np.int32)
    column = np.zeros(n, dtype=np.int32)
    marks = np.zeros(cum_pop[n] if model == K.BERNOULLI else 1, dtype=np.bool_)
    for b in range(states.shape[0]):
        state = states[b].copy()
        if model == K.POISSON:
            _draw_multinomial(state, np.int64(C), prob, alias, column)
        else:
            _draw_labels(state, np.int64(C), cum_pop, marks, column)
        draws[:, b] = column
    K.block_maxima(offsets, neighbors, weights, draws, C, W, model, direction, min_cases, out)


@nb.njit(parallel=True, cache=True)
def _replicate_maxima(offsets, neighbors, weights, C, W, model, direction, min_cases, states,
                      prob, alias, cum_pop, out):
    # The block's work lives in its own function: compiled inside the parallel loop body the
    # sweep loses about a third of its speed.
    R = states.shape[0]
    n_blocks = (R + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        r0 = blk * BLOCK
        r1 = min(R, r0 + BLOCK)
        _run_block(offsets, neighbors, weights, C, W, model, direction, min_cases,
                   states[r0:r1], prob, alias, cum_pop, out[r0:r1])


# --- driver -------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class NullProblem:
    """Everything a worker needs to run replications: static arrays and scalars only."""

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

    def run(self, start: int, stop: int) -> np.ndarray:
        """Maxima of replications [start, stop): the same numbers wherever this runs."""
        states = replicate_states(self.entropy, start, stop)
        out = np.zeros(stop - start)
        _replicate_maxima(self.offsets, self.neighbors, self.weights, self.total_cases,
                          self.total_weight, self.model, self.direction, self.min_cases,
                          states, self.prob, self.alias, self.cum_pop, out)
        return out


def null_problem(windows, weights, cases_total, population, model, direction, entropy,
                 min_cases=2):
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
                       prob=prob, alias=alias, cum_pop=cum_pop,
                       entropy=entropy)


def run_threads(problem: NullProblem, n_replications: int,
                progress: Callable[[int, int], None] | None = None, chunk: int | None = None,
                **_) -> np.ndarray:
    """All replications on this machine's cores (Numba threads), in chunks for progress."""
    if chunk is None:
        chunk = BLOCK * max(2, 2 * nb.get_num_threads())
    out = np.empty(n_replications)
    done = 0
    while done < n_replications:
        stop = min(n_replications, done + chunk)
        out[done:stop] = problem.run(done, stop)
        done = stop
        if progress is not None:
            progress(done, n_replications)
    return out


def run_dask(problem: NullProblem, n_replications: int, progress=None, **options) -> np.ndarray:
    from .distributed import run_dask as _run

    return _run(problem, n_replications, progress=progress, **options)


BACKENDS: dict[str, Callable[..., np.ndarray]] = {"threads": run_threads, "dask": run_dask}


def replicate_maxima(problem: NullProblem, n_replications: int, *, backend: str = "threads",
                     progress=None, **options) -> np.ndarray:
    from .errors import check_choice

    check_choice("backend", backend, tuple(BACKENDS))
    if n_replications == 0:
        return np.empty(0)
    return BACKENDS[backend](problem, n_replications, progress=progress, **options)
