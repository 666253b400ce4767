"""Numba kernels for the circular scan: log-likelihood ratios and the window sweeps.

Kernels take only arrays and scalars, allocate nothing inside loops and draw no random numbers.
A window is described by its case count ``c`` and its weight ``w``: the expected count for the
Poisson model (weights sum to the total cases ``C``), the population (cases + controls) for the
Bernoulli model (weights sum to ``W = N``).  The model and the direction are small integer codes
so that one compiled sweep serves every variant; the per-window work is in the tiny functions
``_llr``, ``_expected`` and the bounds (``_high_may_exceed`` / ``_low_may_exceed`` in the Monte
Carlo sweep; ``quick_may_beat`` and ``_llr_bound``, also used by the space-time kernels).  The
Monte Carlo sweep takes a block of replicates side by side, as counts in the smallest unsigned
type that holds the total (:func:`count_dtype`), neighbour ids of any integer type.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._random import (_draw_labels, _draw_labels_hashed, _draw_multinomial,
                      label_table_size, labels_hashed)

POISSON, BERNOULLI = 0, 1
HIGH, LOW, BOTH = 0, 1, 2
MODEL_CODES = {"poisson": POISSON, "bernoulli": BERNOULLI}
DIRECTION_CODES = {"high": HIGH, "low": LOW, "both": BOTH}
SAFETY = 1.0 + 1e-9  # margin on the bound so rounding can never skip a winning window


@nb.njit(cache=True, inline="always")
def _xlogy(x, y):
    """x * log(y) with 0 * log(anything) = 0."""
    if x == 0.0:
        return 0.0
    return x * math.log(y)


@nb.njit(cache=True)
def poisson_llr(c, e, C):
    """Kulldorff's Poisson LLR: c ln(c/e) + (C-c) ln((C-c)/(C-e)), with 0 ln 0 = 0."""
    return _xlogy(c, c / e) + _xlogy(C - c, (C - c) / (C - e))


@nb.njit(cache=True)
def bernoulli_llr(c, n, C, N):
    """Kulldorff's Bernoulli LLR for c cases among n people inside, C among N in all."""
    inside = _xlogy(c, c / n) + _xlogy(n - c, (n - c) / n)
    out_n = N - n
    outside = _xlogy(C - c, (C - c) / out_n) + _xlogy(out_n - (C - c), (out_n - (C - c)) / out_n)
    null = _xlogy(C, C / N) + _xlogy(N - C, (N - C) / N)
    return inside + outside - null


@nb.njit(cache=True, inline="always")
def _valid(model, w, C, W):
    """Windows that hold everything (nothing left outside) have no likelihood ratio."""
    if model == POISSON:
        return w > 0.0 and C - w > 0.0
    return w > 0.0 and W - w > 0.0


@nb.njit(cache=True, inline="always")
def _expected(model, w, C, W):
    if model == POISSON:
        return w
    return w * (C / W)


@nb.njit(cache=True, inline="always")
def _llr(model, c, w, C, W):
    if model == POISSON:
        return poisson_llr(c, w, C)
    return bernoulli_llr(c, w, C, W)


@nb.njit(cache=True, inline="always")
def _wins(direction, c, e, min_cases):
    """Whether a window with c observed and e expected deviates in the scanned direction.

    A high-rate window needs at least ``min_cases`` cases (SaTScan's default minimum is 2).
    """
    if direction == HIGH:
        return c > e and c >= min_cases
    if direction == LOW:
        return c < e
    return (c > e and c >= min_cases) or c < e


@nb.njit(cache=True, inline="always")
def _term_bound(k, mu):
    """An upper bound on k ln(k / mu) without a logarithm (0 when k = 0).

    ln z <= (z - 1) / sqrt(z) for z >= 1 and ln z <= 2 (z - 1) / (z + 1) for z <= 1; both are
    exact to second order at z = 1, so the bound is tight where most windows are.
    """
    if k <= 0.0:
        return 0.0
    if k >= mu:
        return (k - mu) * math.sqrt(k / mu)
    return 2.0 * k * (k - mu) / (k + mu)


@nb.njit(cache=True, inline="always")
def _llr_bound(model, c, w, C, W):
    """A logarithm-free upper bound on the LLR of a window with c cases.

    Both LLRs are sums of terms k ln(k / mu) over the cells of the window's table (inside and
    outside; cases and controls for Bernoulli); each term is bounded by :func:`_term_bound`.
    Because the LLR grows with |c - e| on each side of the expected count, the bound at the
    block's most extreme count bounds every replicate of the block on that side.
    """
    if model == POISSON:
        return _term_bound(c, w) + _term_bound(C - c, C - w)
    p = C / W
    n_out = W - w
    return (_term_bound(c, w * p) + _term_bound(w - c, w * (1.0 - p))
            + _term_bound(C - c, n_out * p) + _term_bound(n_out - (C - c), n_out * (1.0 - p)))


@nb.njit(cache=True, inline="always")
def quick_may_beat(c, e, C, m):
    """A test without logarithm, root or division that a Poisson window with c > e (e < C)
    might have an LLR above m; False means it cannot.

    ln z <= (z^2 - 1) / (2z) for z >= 1 (inside, z = c/e) and ln z <= 2 (z - 1) / (z + 1) for
    z <= 1 (outside) give LLR <= d^2 (2C - c + e) / (2e (2C - c - e)) with d = c - e, exact to
    second order at c = e.  Multiplied out (every factor positive), with slack for rounding.
    """
    d = c - e
    return d * d * (2.0 * C - c + e) * (1.0 + 1e-12) > 2.0 * (m / SAFETY) * e * (2.0 * C - c - e)


@nb.njit(cache=True, inline="always")
def _may_beat_high(model, c, w, C, W, m):
    """Whether a window whose (block maximum) count is c > e might have an LLR above m: the
    quick Poisson test, then the bound of :func:`_llr_bound`."""
    if model == POISSON and not quick_may_beat(c, w, C, m):
        return False
    return _llr_bound(model, c, w, C, W) * SAFETY > m


@nb.njit(cache=True, inline="always")
def _may_beat_low(model, c, w, C, W, m):
    """As :func:`_may_beat_high` for c < e, by the symmetry (c, e) -> (C - c, C - e)."""
    if model == POISSON and not quick_may_beat(C - c, C - w, C, m):
        return False
    return _llr_bound(model, c, w, C, W) * SAFETY > m


@nb.njit(parallel=True, cache=True)
def best_window_per_centre(offsets, neighbors, weights, cases, C, W, model, direction,
                           min_cases, scale, best_llr, best_size):
    """For each row, the test statistic (LLR x ``scale[row]``) and size of its best window
    (ties: the smallest window)."""
    for i in nb.prange(offsets.shape[0] - 1):
        c = 0.0
        w = 0.0
        best = 0.0
        size = 0
        s = scale[i]
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            w += weights[j]
            c += cases[j]
            if not _valid(model, w, C, W):
                continue
            if _wins(direction, c, _expected(model, w, C, W), min_cases):
                v = _llr(model, c, w, C, W) * s
                if v > best:
                    best = v
                    size = k - offsets[i] + 1
        best_llr[i] = best
        best_size[i] = size


# --- Monte Carlo: the maxima of a block of replicates ---------------------------------------
#
# A window with x cases where e are expected deviates from the null by d = |x - e| in every cell
# of its table (inside/outside x cases/controls; Poisson: inside/outside).  With
# ln z <= (z^2 - 1) / (2z) for a cell above its mean (z >= 1) and ln z <= 2 (z - 1) / (z + 1)
# below it (z <= 1), the LLR, a sum of k ln(k / mu) over the cells, is at most
#     d^2 (sum over cells above of 1 / (2 mu) + sum over cells below of 1 / (2 mu - d)),
# exact to second order at d = 0 (the +-d terms cancel because every margin is fixed).  Multiplied
# out this needs no logarithm, root or division, so it vectorises over the replicates of a block.

ROUND_UP = 1.0 + 1e-12   # on the bound: its own rounding can never make it too small
SLACK = 1e-12
"""Times (C + W): a margin on every threshold above the absolute rounding error of a computed
LLR, whose terms (the controls' of the order of the population W, the cases' of C times a
logarithm) are each a few ulps off: 1e-12 (C + W) is about 4,500 ulps of C + W.  A skipped
window's computed statistic can then never exceed the maximum it was compared with."""


@nb.njit(cache=True, inline="always")
def _two_cells_exceed(d, up, down, t):
    """d^2 (1 / (2 up) + 1 / (2 down - d)) > t, without division (Poisson)."""
    p = 2.0 * up
    q = 2.0 * down - d
    return d * d * (p + q) * ROUND_UP > t * p * q


@nb.njit(cache=True, inline="always")
def _four_cells_exceed(d, up1, up2, down1, down2, t):
    """d^2 (1 / (2 up1) + 1 / (2 up2) + 1 / (2 down1 - d) + 1 / (2 down2 - d)) > t, without
    division (Bernoulli).  A zero denominator (a cell with no expected count) answers True."""
    p1 = 2.0 * up1
    p2 = 2.0 * up2
    q1 = 2.0 * down1 - d
    q2 = 2.0 * down2 - d
    pp = p1 * p2
    qq = q1 * q2
    return d * d * ((p1 + p2) * qq + (q1 + q2) * pp) * ROUND_UP > t * pp * qq


@nb.njit(cache=True, inline="always")
def _high_may_exceed(model, x, w, e, C, W, t):
    """Whether a window of weight w with x > e cases might have an LLR above t.

    False is a proof that it cannot.  Cells above their mean: the cases inside (e) and the
    controls outside (W - w - C + e); below: the controls inside (w - e), the cases outside
    (C - e).  Poisson has the cases only."""
    d = x - e
    if model == POISSON:
        return _two_cells_exceed(d, e, C - e, t)
    return _four_cells_exceed(d, e, W - w - C + e, w - e, C - e, t)


@nb.njit(cache=True, inline="always")
def _low_may_exceed(model, x, w, e, C, W, t):
    """As :func:`_high_may_exceed` for x < e (the cells above and below swap)."""
    d = e - x
    if model == POISSON:
        return _two_cells_exceed(d, C - e, e, t)
    return _four_cells_exceed(d, w - e, C - e, e, W - w - C + e, t)


@nb.njit(cache=True, inline="always")
def _add_row_max(c, draws, j):
    """c += draws[j] over the block; returns the block's largest count (int vector loop)."""
    hi = draws.dtype.type(0)
    for b in range(c.shape[0]):
        c[b] += draws[j, b]
        hi = max(hi, c[b])
    return hi


@nb.njit(cache=True, inline="always")
def _add_row_min(c, draws, j):
    lo = draws.dtype.type(np.iinfo(draws.dtype).max)
    for b in range(c.shape[0]):
        c[b] += draws[j, b]
        lo = min(lo, c[b])
    return lo


@nb.njit(cache=True, inline="always")
def _add_row_min_max(c, draws, j):
    hi = draws.dtype.type(0)
    lo = draws.dtype.type(np.iinfo(draws.dtype).max)
    for b in range(c.shape[0]):
        c[b] += draws[j, b]
        hi = max(hi, c[b])
        lo = min(lo, c[b])
    return lo, hi


@nb.njit(cache=True, inline="always")
def _count_high(model, c, t, w, e, C, W, min_cases):
    """How many replicates of the block might beat their own threshold ``t[b]`` with a
    high-rate window: branch-free, so the loop vectorises."""
    n = 0
    if model == POISSON:
        for b in range(c.shape[0]):
            x = np.float64(c[b])
            n += (x > e) & (x >= min_cases) & _two_cells_exceed(x - e, e, C - e, t[b])
    else:
        up2 = W - w - C + e
        for b in range(c.shape[0]):
            x = np.float64(c[b])
            n += (x > e) & (x >= min_cases) & _four_cells_exceed(x - e, e, up2, w - e, C - e,
                                                                t[b])
    return n


@nb.njit(cache=True, inline="always")
def _count_low(model, c, t, w, e, C, W):
    n = 0
    if model == POISSON:
        for b in range(c.shape[0]):
            x = np.float64(c[b])
            n += (x < e) & _two_cells_exceed(e - x, C - e, e, t[b])
    else:
        down2 = W - w - C + e
        for b in range(c.shape[0]):
            x = np.float64(c[b])
            n += (x < e) & _four_cells_exceed(e - x, w - e, C - e, e, down2, t[b])
    return n


@nb.njit(cache=True)
def _evaluate(model, high, c, m, t, w, e, C, W, min_cases, s, inv, slack):
    """The exact statistic of the window for every replicate whose bound passes; raises
    ``m[b]`` (and its threshold ``t[b]``) where it is beaten.  Returns whether any changed."""
    changed = False
    for b in range(c.shape[0]):
        x = np.float64(c[b])
        if high:
            if not (x > e and x >= min_cases and _high_may_exceed(model, x, w, e, C, W, t[b])):
                continue
        elif not (x < e and _low_may_exceed(model, x, w, e, C, W, t[b])):
            continue
        v = _llr(model, x, w, C, W) * s
        if v > m[b]:
            m[b] = v
            t[b] = (v * inv) / SAFETY - slack
            changed = True
    return changed


@nb.njit(cache=True)
def block_maxima(offsets, neighbors, weights, draws, C, W, model, direction, min_cases, scale,
                 out):
    """Maximum test statistic (LLR x ``scale[row]``) over all windows for each replicate
    (column) of ``draws``, exactly the exhaustive maximum.

    ``draws`` is (n_locations, B) of non-negative integer counts (uint16 when the total fits:
    see :func:`count_dtype`): B replicates side by side, so each neighbour list is read once for
    the whole block and a window's update is one integer vector loop (running counts in the
    draws' type, with the block's largest / smallest count).  Then, per window, the division-free
    bound of :func:`_high_may_exceed` at the block's extreme count against the smallest
    threshold of the block skips all but a few per cent of windows; else the same bound over the block's
    replicates (a vector loop) and, where it passes, the logarithm.  A replicate's threshold is
    its running maximum over the row's scale, less a margin for rounding, so a skipped window
    can never change a maximum.
    """
    B = draws.shape[1]
    c = np.zeros(B, dtype=draws.dtype)
    m = np.zeros(B)
    t = np.zeros(B)     # per replicate: the LLR (unscaled) a window must exceed
    slack = SLACK * (C + W)
    m_min = 0.0
    for i in range(offsets.shape[0] - 1):
        c[:] = 0
        w = 0.0
        s = scale[i]
        inv = 1.0 / s
        for b in range(B):
            t[b] = (m[b] * inv) / SAFETY - slack
        t_min = (m_min * inv) / SAFETY - slack
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            w += weights[j]
            if direction == HIGH:
                hi = _add_row_max(c, draws, j)
                lo = hi
            elif direction == LOW:
                lo = _add_row_min(c, draws, j)
                hi = lo
            else:
                lo, hi = _add_row_min_max(c, draws, j)
            if not _valid(model, w, C, W):
                continue
            e = _expected(model, w, C, W)
            changed = False
            if (direction != LOW and hi > e and hi >= min_cases
                    and _high_may_exceed(model, np.float64(hi), w, e, C, W, t_min)
                    and _count_high(model, c, t, w, e, C, W, min_cases) > 0):
                changed = _evaluate(model, True, c, m, t, w, e, C, W, min_cases, s, inv, slack)
            if (direction != HIGH and lo < e
                    and _low_may_exceed(model, np.float64(lo), w, e, C, W, t_min)
                    and _count_low(model, c, t, w, e, C, W) > 0):
                changed |= _evaluate(model, False, c, m, t, w, e, C, W, min_cases, s, inv,
                                     slack)
            if changed:
                m_min = m.min()
                t_min = (m_min * inv) / SAFETY - slack
    out[:] = m


# --- Monte Carlo: a block of replications, and blocks over threads ---------------------------

SPATIAL_BLOCK = 128
"""Replicates side by side in the spatial sweep (fewer when there are too few for the threads:
:func:`spatial_block`).  Measured best at 128 with uint16 counts (benchmarks/bench_spatial.py)."""


def count_dtype(total_cases: float):
    """The integer type of a block's counts: every count (per location, per window) is at most
    the total, so uint16 when it fits (half the memory traffic of int32), else uint32."""
    return np.uint16 if total_cases <= np.iinfo(np.uint16).max else np.uint32


def spatial_block(n_replications: int, threads: int) -> int:
    """:data:`SPATIAL_BLOCK`, halved (not below 16) while the blocks would leave threads idle.
    The maxima do not depend on it."""
    b = SPATIAL_BLOCK
    while b > 16 and -(-n_replications // b) < threads:
        b //= 2
    return b


@nb.njit(cache=True, nogil=True)
def _run_block(offsets, neighbors, weights, C, W, model, direction, min_cases, scale, states,
               prob, alias, cum_pop, counts, out):
    """Draw the block's data sets side by side (in ``counts.dtype``) and sweep the windows once
    for all of them."""
    n = weights.shape[0]
    B = states.shape[0]
    draws = np.zeros((n, B), dtype=counts.dtype)
    column = np.zeros(n, dtype=np.int32)
    hashed = model == BERNOULLI and labels_hashed(cum_pop[n], np.int64(C))
    marks = np.zeros(cum_pop[n] if model == BERNOULLI and not hashed else 1, dtype=np.bool_)
    table = np.empty(label_table_size(cum_pop[n], np.int64(C)) if hashed else 1, dtype=np.int64)
    for b in range(B):
        state = states[b].copy()
        if model == POISSON:
            _draw_multinomial(state, np.int64(C), prob, alias, column)
        elif hashed:
            _draw_labels_hashed(state, np.int64(C), cum_pop, table, column)
        else:
            _draw_labels(state, np.int64(C), cum_pop, marks, column)
        for j in range(n):
            draws[j, b] = column[j]
    block_maxima(offsets, neighbors, weights, draws, C, W, model, direction, min_cases, scale,
                 out)


@nb.njit(parallel=True, cache=True)
def _replicate_maxima_blocks(offsets, neighbors, weights, C, W, model, direction, min_cases,
                             scale, states, prob, alias, cum_pop, counts, block, out):
    """Blocks of ``block`` replications spread over threads; each block writes only its own
    slice of ``out``.  The block's work is a function of its own: compiled inside the parallel
    loop body the sweep loses about a third of its speed."""
    R = states.shape[0]
    n_blocks = (R + block - 1) // block
    for blk in nb.prange(n_blocks):
        r0 = blk * block
        r1 = min(R, r0 + block)
        _run_block(offsets, neighbors, weights, C, W, model, direction, min_cases, scale,
                   states[r0:r1], prob, alias, cum_pop, counts, out[r0:r1])


def replicate_maxima_spatial(offsets, neighbors, weights, C, W, model, direction, min_cases,
                             scale, states, prob, alias, cum_pop, out):
    """Maxima of the replications whose xoshiro states are ``states`` (one per row), into
    ``out``: the counts' type from the total (:func:`count_dtype`), blocks of
    :func:`spatial_block` replications over the Numba threads.  The result depends on neither."""
    counts = np.empty(0, dtype=count_dtype(C))
    block = spatial_block(states.shape[0], nb.get_num_threads())
    _replicate_maxima_blocks(offsets, neighbors, weights, float(C), float(W), model, direction,
                             min_cases, scale, states, prob, alias, cum_pop, counts, block, out)
