"""The space-time kernels before issue 12 (every prefix index of a circle kept up to date, high
rates only), moved out of the package unchanged: the baseline of benchmarks/bench_spacetime.py
("previous kernel") and of the tests that pin the new kernels (:mod:`scan._st_kernels`) to them.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from scan import _kernels as K
from scan import _st_kernels as SK
from scan._random import BLOCK, _below, _draw_multinomial


@nb.njit(cache=True, inline="always")
def _window_ok(c, e, C, min_cases):
    """A cylinder that can be a high-rate cluster: something inside and outside, c > e."""
    return e > 0.0 and C - e > 0.0 and c > e and c >= min_cases


@nb.njit(cache=True, inline="always")
def _max_difference(hi_row, lo_row):
    """max_b (hi_row[b] - lo_row[b]) kept in int32 so that the loop vectorises."""
    c = np.int32(-2147483647)
    for b in range(hi_row.shape[0]):
        d = np.int32(hi_row[b] - lo_row[b])
        c = max(c, d)
    return c





@nb.njit(cache=True, inline="always")
def _count_may_beat(hi_row, lo_row, e, C, m):
    """How many replicates b pass :func:`scan._kernels.quick_may_beat` against their own
    maximum m[b]; branch-free so that the loop vectorises."""
    n = 0
    for b in range(hi_row.shape[0]):
        c = np.float64(hi_row[b] - lo_row[b])
        n += (c > e) & K.quick_may_beat(c, e, C, m[b])
    return n


@nb.njit(parallel=True, cache=True)
def best_cylinder_per_centre(offsets, neighbors, cum_cases, cum_expected, C, min_len, max_len,
                             first_end, min_cases, scale, best_llr, best_size, best_t1, best_t2):
    """For each row, the test statistic (LLR x ``scale[row]``), circle size and time window
    [t1, t2) of its best cylinder.

    ``cum_cases`` and ``cum_expected`` are (n_locations, T + 1) prefix sums over time.  Centres
    with no high-rate cylinder get LLR 0 and size 0.
    """
    T = cum_cases.shape[1] - 1
    for i in nb.prange(offsets.shape[0] - 1):
        cyl_c = np.zeros(T + 1)
        cyl_e = np.zeros(T + 1)
        best = 0.0
        size = 0
        b1 = 0
        b2 = 0
        s = scale[i]
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            for t in range(T + 1):
                cyl_c[t] += cum_cases[j, t]
                cyl_e[t] += cum_expected[j, t]
            for t2 in range(max(first_end, min_len), T + 1):
                for length in range(min_len, min(max_len, t2) + 1):
                    t1 = t2 - length
                    c = cyl_c[t2] - cyl_c[t1]
                    e = cyl_e[t2] - cyl_e[t1]
                    if _window_ok(c, e, C, min_cases):
                        v = K.poisson_llr(c, e, C) * s
                        if v > best:
                            best = v
                            size = k - offsets[i] + 1
                            b1 = t1
                            b2 = t2
        best_llr[i] = best
        best_size[i] = size
        best_t1[i] = b1
        best_t2[i] = b2


@nb.njit(cache=True)
def block_maxima_st(offsets, neighbors, draws, cum_expected, C, min_len, max_len, first_end,
                    min_cases, scale, out):
    """Maximum test statistic (LLR x ``scale[row]``) over all cylinders for each replicate (last
    axis) of ``draws``.

    ``draws`` is (n_locations, T + 1, B) int32: per location the prefix sums over time of B
    replicates side by side, so each neighbour list is read once per block and each time window
    costs one short vector loop (difference and maximum over the block).  The logarithm runs
    only when the log-free bound at the block's largest count beats the smallest of the block's
    running maxima, and then only for the replicates whose own bound beats their maximum; no
    skipped window could change a maximum, so the result is the exhaustive maximum exactly.
    A row's scale s divides the maxima its LLRs are compared with (``ms = m / s``).
    """
    n_t1 = draws.shape[1]
    B = draws.shape[2]
    cyl = np.zeros((n_t1, B), dtype=np.int32)
    cyl_e = np.zeros(n_t1)
    m = np.zeros(B)
    ms = np.zeros(B)
    m_min = 0.0
    T = n_t1 - 1
    for i in range(offsets.shape[0] - 1):
        cyl[:, :] = 0
        cyl_e[:] = 0.0
        s = scale[i]
        inv = 1.0 / s
        for b in range(B):
            ms[b] = m[b] * inv
        ms_min = m_min * inv
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            row = draws[j]
            for t in range(n_t1):
                cyl_e[t] += cum_expected[j, t]
                for b in range(B):
                    cyl[t, b] += row[t, b]
            for t2 in range(max(first_end, min_len), T + 1):
                hi_row = cyl[t2]
                for length in range(min_len, min(max_len, t2) + 1):
                    t1 = t2 - length
                    e = cyl_e[t2] - cyl_e[t1]
                    if not (e > 0.0 and C - e > 0.0):
                        continue
                    lo_row = cyl[t1]
                    c_hi = _max_difference(hi_row, lo_row)
                    if not (c_hi > e and c_hi >= min_cases):
                        continue
                    if not K.quick_may_beat(np.float64(c_hi), e, C, ms_min):
                        continue
                    if K._llr_bound(K.POISSON, c_hi, e, C, C) * K.SAFETY <= ms_min:
                        continue
                    if _count_may_beat(hi_row, lo_row, e, C, ms) == 0:
                        continue
                    changed = False
                    for b in range(B):
                        c = np.float64(hi_row[b] - lo_row[b])
                        if c > e and c >= min_cases and K.quick_may_beat(c, e, C, ms[b]) and \
                                K._llr_bound(K.POISSON, c, e, C, C) * K.SAFETY > ms[b]:
                            v = K.poisson_llr(c, e, C) * s
                            if v > m[b]:
                                m[b] = v
                                ms[b] = v * inv
                                changed = True
                    if changed:
                        m_min = m.min()
                        ms_min = m_min * inv
    out[:] = m


# --- null data sets -----------------------------------------------------------------------------

@nb.njit(cache=True)
def _permute_times(state, case_loc, case_time, labels, T, cell):
    """Space-time permutation null: the cases' intervals shuffled among the cases (Fisher-Yates),
    so every location keeps its cases and every interval its cases."""
    labels[:] = case_time
    for k in range(labels.shape[0] - 1, 0, -1):
        p = _below(state, k + 1)
        tmp = labels[k]
        labels[k] = labels[p]
        labels[p] = tmp
    cell[:] = 0
    for k in range(labels.shape[0]):
        cell[case_loc[k] * T + labels[k]] += 1


@nb.njit(cache=True)
def _prefix_into(cell, T, draws, b):
    """Cell counts (n * T, location-major) -> prefix sums over time in column b of ``draws``."""
    n = draws.shape[0]
    for j in range(n):
        acc = np.int32(0)
        draws[j, 0, b] = 0
        for t in range(T):
            acc += cell[j * T + t]
            draws[j, t + 1, b] = acc


def block_size(n_locations: int, n_intervals: int) -> int:
    """Replicates side by side: ``BLOCK`` (64), fewer for large space-time tables so that a
    block's draws stay within ``scan._st_kernels.BLOCK_BYTES``; a multiple of 8, at least 8.  The maxima do
    not depend on it (each replicate's maximum is exact)."""
    fit = SK.BLOCK_BYTES // (4 * max(1, n_locations) * (n_intervals + 1))
    return int(max(8, min(BLOCK, fit // 8 * 8)))


@nb.njit(cache=True, nogil=True)
def _run_block_st(offsets, neighbors, cum_expected, C, min_len, max_len, first_end, min_cases,
                  scale, states, null_kind, prob, alias, case_loc, case_time, out):
    """Draw one block's data sets side by side and sweep the cylinders once for all of them."""
    n = cum_expected.shape[0]
    T = cum_expected.shape[1] - 1
    draws = np.zeros((n, T + 1, states.shape[0]), dtype=np.int32)
    cell = np.zeros(n * T, dtype=np.int32)
    labels = np.empty(case_time.shape[0], dtype=np.int64)
    for b in range(states.shape[0]):
        state = states[b].copy()
        if null_kind == SK.MULTINOMIAL:
            _draw_multinomial(state, np.int64(C), prob, alias, cell)
        else:
            _permute_times(state, case_loc, case_time, labels, T, cell)
        _prefix_into(cell, T, draws, b)
    block_maxima_st(offsets, neighbors, draws, cum_expected, C, min_len, max_len, first_end,
                    min_cases, scale, out)


@nb.njit(parallel=True, cache=True)
def replicate_maxima_st(offsets, neighbors, cum_expected, C, min_len, max_len, first_end,
                        min_cases, scale, states, null_kind, prob, alias, case_loc, case_time,
                        block, out):
    """Maxima of the replications whose xoshiro states are ``states``, in blocks of ``block``
    spread over threads; each block writes only its own slice of ``out``.  The block's work is a
    function of its own: compiled inside the parallel loop body the sweep runs slower."""
    R = states.shape[0]
    n_blocks = (R + block - 1) // block
    for blk in nb.prange(n_blocks):
        r0 = blk * block
        r1 = min(R, r0 + block)
        _run_block_st(offsets, neighbors, cum_expected, C, min_len, max_len, first_end,
                      min_cases, scale, states[r0:r1], null_kind, prob, alias, case_loc, case_time,
                      out[r0:r1])
