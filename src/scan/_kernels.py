"""Numba kernels for the circular scan: log-likelihood ratios and the window sweeps.

Kernels take only arrays and scalars, allocate nothing inside loops and draw no random numbers.
A window is described by its case count ``c`` and its weight ``w``: the expected count for the
Poisson model (weights sum to the total cases ``C``), the population (cases + controls) for the
Bernoulli model (weights sum to ``W = N``).  The model and the direction are small integer codes
so that one compiled sweep serves every variant; the per-window work is in the tiny functions
``_llr``, ``_expected`` and ``_llr_bound``.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._random import BLOCK, _draw_labels, _draw_multinomial

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


@nb.njit(cache=True)
def block_maxima(offsets, neighbors, weights, draws, C, W, model, direction, min_cases, scale,
                 out):
    """Maximum test statistic (LLR x ``scale[row]``) over all windows for each replicate
    (column) of ``draws``.

    ``draws`` is (n_locations, B) int32: B replicates side by side, so each neighbour list is
    read once for the whole block and the per-window update is a short vector loop.  The
    logarithm is evaluated only for windows whose bound at the block's extreme count beats the
    smallest of the block's running maxima; skipped windows cannot change any maximum, so the
    result equals the exhaustive maximum exactly.  A row's scale divides the maxima it is
    compared with (LLR x s > m exactly when LLR > m / s), so the bounds stay those of the LLR.
    """
    B = draws.shape[1]
    c = np.zeros(B, dtype=np.int32)
    m = np.zeros(B)
    m_min = 0.0
    for i in range(offsets.shape[0] - 1):
        c[:] = 0
        w = 0.0
        s = scale[i]
        inv = 1.0 / s
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            w += weights[j]
            row = draws[j]
            c_hi = np.int32(-1)
            c_lo = np.int32(2147483647)
            for b in range(B):
                v = c[b] + row[b]
                c[b] = v
                c_hi = max(c_hi, v)
                c_lo = min(c_lo, v)
            if not _valid(model, w, C, W):
                continue
            e = _expected(model, w, C, W)
            if direction != LOW and c_hi > e and _may_beat_high(model, c_hi, w, C, W,
                                                                m_min * inv):
                for b in range(B):
                    if c[b] > e and c[b] >= min_cases and _may_beat_high(model, c[b], w, C, W,
                                                                         m[b] * inv):
                        v = _llr(model, c[b], w, C, W) * s
                        if v > m[b]:
                            m[b] = v
                m_min = m.min()
            if direction != HIGH and c_lo < e and _may_beat_low(model, c_lo, w, C, W,
                                                                m_min * inv):
                for b in range(B):
                    if c[b] < e and _may_beat_low(model, c[b], w, C, W, m[b] * inv):
                        v = _llr(model, c[b], w, C, W) * s
                        if v > m[b]:
                            m[b] = v
                m_min = m.min()
    out[:] = m


# --- Monte Carlo: a block of replications, and blocks over threads ---------------------------

@nb.njit(cache=True, nogil=True)
def _run_block(offsets, neighbors, weights, C, W, model, direction, min_cases, scale, states,
               prob, alias, cum_pop, out):
    """Draw the block's data sets side by side and sweep the windows once for all of them."""
    n = weights.shape[0]
    draws = np.zeros((n, states.shape[0]), dtype=np.int32)
    column = np.zeros(n, dtype=np.int32)
    marks = np.zeros(cum_pop[n] if model == BERNOULLI else 1, dtype=np.bool_)
    for b in range(states.shape[0]):
        state = states[b].copy()
        if model == POISSON:
            _draw_multinomial(state, np.int64(C), prob, alias, column)
        else:
            _draw_labels(state, np.int64(C), cum_pop, marks, column)
        draws[:, b] = column
    block_maxima(offsets, neighbors, weights, draws, C, W, model, direction, min_cases, scale,
                 out)


@nb.njit(parallel=True, cache=True)
def replicate_maxima_spatial(offsets, neighbors, weights, C, W, model, direction, min_cases,
                             scale, states, prob, alias, cum_pop, out):
    """Maxima of the replications whose xoshiro states are ``states``, in blocks of ``BLOCK``
    spread over threads; each block writes only its own slice of ``out``.  The block's work is a
    function of its own: compiled inside the parallel loop body the sweep loses about a third of
    its speed."""
    R = states.shape[0]
    n_blocks = (R + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        r0 = blk * BLOCK
        r1 = min(R, r0 + BLOCK)
        _run_block(offsets, neighbors, weights, C, W, model, direction, min_cases, scale,
                   states[r0:r1], prob, alias, cum_pop, out[r0:r1])
