"""Numba kernels for space-time scans: cylinders = a circle of the spatial windows × a run of
contiguous time intervals.

Time is handled through prefix sums: for a location ``j``, ``cum[j, t]`` is the count (or the
expected count) in intervals ``[0, t)``, so the count of a circle in intervals ``[t1, t2)`` is
``cyl[t2] - cyl[t1]`` where ``cyl`` is the sum of ``cum`` over the circle's members.  Growing a
circle by one neighbour adds one row of prefix sums; every time window is then a difference.

**The time-window list.**  The kernels take the time windows as a list (:func:`time_windows`):
``[t1, t2)`` for every end ``t2 >= first_end`` and every length from ``min_len`` to the largest
length allowed for that end (one maximum for every end, or one per end: the prospective
analyses adjusted for earlier analyses).  Only the prefix indices that some window uses (the
*points*) are kept, so a circle's running sums cost one addition per point and block replicate,
not one per interval: a prospective scan of 520 weeks with windows of at most 4 weeks keeps 5
points, not 521.  Windows are visited in one fixed order, the same in every kernel and in the
test reference: circle size increasing, then the end ``t2`` increasing, then the length
increasing; a later window replaces the best only when its statistic is strictly greater, so
among tied windows the smaller circle, then the earlier end, then the shorter window wins.

**Statistic.**  The Poisson LLR ``c ln(c/e) + (C-c) ln((C-c)/(C-e))`` for every space-time model
(for the space-time permutation model ``e`` is Kulldorff's ``mu``), times the row's scale.  A
cylinder counts in the scanned direction (SaTScan's ScanAreas): high rates need ``c > e`` and
``c >= min_cases``; low rates need ``c < e`` (no minimum, SaTScan's default of 0); both: either,
with one maximum over all of them.  Every cylinder needs ``0 < e < C``.

**Replicates** (:func:`block_maxima_cyl`): B replicates side by side per circle; the logarithm
runs only when the log-free bound at the block's most extreme count beats the smallest of the
block's running maxima, then only for the replicates whose own bound beats their maximum, so the
maxima are the exhaustive maxima exactly.

**Observed data** (:func:`observed_cylinders`): each row's best cylinder and, for SaTScan's
>= 10.2 secondary clusters of retrospective analyses, the best cylinders of the row in the time
ranges before and after it, recursively (see :mod:`scan.spacetime`).

The previous kernels (every prefix index kept, high rates only) live in
``tests/legacy_st_kernels.py``, the benchmark's "previous" baseline and the tests'.  Kernels take only
arrays and scalars, allocate nothing in the window loops and draw random numbers only in the
null generators.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from . import _kernels as K
from ._random import BLOCK, _below, _uniform

MULTINOMIAL, PERMUTATION = 0, 1
"""Null generators: Poisson (cases spread over location × interval cells in proportion to the
expected counts) and space-time permutation (the cases' intervals shuffled among the cases)."""


BLOCK_BYTES = 32 * 2**20
"""Largest block of prefix-summed draws (n_locations × points × block int32) per thread."""


# ================================================================================================
# The kernels the analyses use: a list of time windows over the prefix points they need
# ================================================================================================

class TimeWindows:
    """The time windows of a scan in visiting order and the prefix points they use.

    t1, t2 : (W,) int64, the window ``[t1, t2)`` in intervals.  points : (P,) int64, the sorted
    prefix indices any window uses.  lo, hi : (W,) int64, ``t1`` and ``t2`` as indices into
    ``points``.  group : (T + 2,) int64, the windows ending at ``e`` are ``group[e]`` to
    ``group[e + 1]`` (their starts decreasing).  bin_of : (T,) int64, for a case in interval
    ``t``, the first point whose prefix counts it (``-1``: no window difference counts it).
    """

    def __init__(self, T: int, min_len: int, max_len: int, first_end: int, max_len_end=None):
        t1, t2 = [], []
        group = np.zeros(T + 2, dtype=np.int64)
        for e in range(1, T + 1):
            group[e] = len(t1)
            if e < first_end:
                continue
            longest = max_len if max_len_end is None else int(max_len_end[e])
            for length in range(min_len, min(longest, e) + 1):
                t1.append(e - length)
                t2.append(e)
        group[T + 1] = len(t1)
        self.T = int(T)
        self.t1 = np.array(t1, dtype=np.int64)
        self.t2 = np.array(t2, dtype=np.int64)
        self.group = group
        self.points = np.unique(np.concatenate([self.t1, self.t2])) if t1 else \
            np.zeros(1, dtype=np.int64)
        self.lo = np.searchsorted(self.points, self.t1).astype(np.int64)
        self.hi = np.searchsorted(self.points, self.t2).astype(np.int64)
        q = np.searchsorted(self.points, np.arange(T), side="right")
        self.bin_of = np.where((q >= 1) & (q <= len(self.points) - 1), q, -1).astype(np.int64)

    def __len__(self) -> int:
        return len(self.t1)

    @property
    def n_points(self) -> int:
        return len(self.points)


@nb.njit(cache=True, inline="always")
def _max_diff(cyl, hi, lo):
    """max_b (cyl[hi, b] - cyl[lo, b]) in int32 so that the loop vectorises."""
    c = np.int32(-2147483647)
    for b in range(cyl.shape[1]):
        c = max(c, np.int32(cyl[hi, b] - cyl[lo, b]))
    return c


@nb.njit(cache=True, inline="always")
def _min_diff(cyl, hi, lo):
    c = np.int32(2147483647)
    for b in range(cyl.shape[1]):
        c = min(c, np.int32(cyl[hi, b] - cyl[lo, b]))
    return c


@nb.njit(cache=True, inline="always")
def _n_may_beat_high(cyl, hi, lo, e, C, ms):
    """How many replicates b have c > e and pass the quick test against their own ms[b];
    branch-free so that the loop vectorises."""
    n = 0
    for b in range(cyl.shape[1]):
        c = np.float64(cyl[hi, b] - cyl[lo, b])
        n += (c > e) & K.quick_may_beat(c, e, C, ms[b])
    return n


@nb.njit(cache=True, inline="always")
def _n_may_beat_low(cyl, hi, lo, e, C, ms):
    n = 0
    for b in range(cyl.shape[1]):
        c = np.float64(cyl[hi, b] - cyl[lo, b])
        n += (c < e) & K.quick_may_beat(C - c, C - e, C, ms[b])
    return n


@nb.njit(cache=True)
def block_maxima_cyl(offsets, neighbors, draws, cum_e, C, win_lo, win_hi, direction,
                     min_cases, scale, out):
    """Maximum test statistic (LLR x ``scale[row]``) over all cylinders for each replicate (last
    axis) of ``draws``, in the direction ``direction`` (:data:`scan._kernels.HIGH`, LOW, BOTH).

    ``draws`` is (n_locations, P, B) int32: per location the counts of B replicates side by side
    at the P points (prefix sums from the first point), ``cum_e`` (n_locations, P) the expected
    counts' prefix sums from 0 at the same points; window w is points ``[win_lo[w],
    win_hi[w])``.  Each neighbour adds P x B counts to the circle's running sums; each window
    costs one short vector loop (differences and their extreme over the block), and the
    logarithm runs only where the bound says a maximum may change (exact).
    """
    P = draws.shape[1]
    B = draws.shape[2]
    W = win_lo.shape[0]
    cyl = np.zeros((P, B), dtype=np.int32)
    cyl_e = np.zeros(P)
    m = np.zeros(B)
    ms = np.zeros(B)
    m_min = 0.0
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
            for p in range(P):
                cyl_e[p] += cum_e[j, p]
                for b in range(B):
                    cyl[p, b] += draws[j, p, b]
            for w in range(W):
                hi = win_hi[w]
                lo = win_lo[w]
                e = cyl_e[hi] - cyl_e[lo]
                if not (e > 0.0 and C - e > 0.0):
                    continue
                if direction != K.LOW:
                    c_hi = _max_diff(cyl, hi, lo)
                    if c_hi > e and c_hi >= min_cases \
                            and K.quick_may_beat(np.float64(c_hi), e, C, ms_min) \
                            and K._llr_bound(K.POISSON, c_hi, e, C, C) * K.SAFETY > ms_min \
                            and _n_may_beat_high(cyl, hi, lo, e, C, ms) > 0:
                        changed = False
                        for b in range(B):
                            c = np.float64(cyl[hi, b] - cyl[lo, b])
                            if c > e and c >= min_cases and K.quick_may_beat(c, e, C, ms[b]) \
                                    and K._llr_bound(K.POISSON, c, e, C, C) * K.SAFETY > ms[b]:
                                v = K.poisson_llr(c, e, C) * s
                                if v > m[b]:
                                    m[b] = v
                                    ms[b] = v * inv
                                    changed = True
                        if changed:
                            m_min = m.min()
                            ms_min = m_min * inv
                if direction != K.HIGH:
                    c_lo = _min_diff(cyl, hi, lo)
                    if c_lo < e and K.quick_may_beat(C - c_lo, C - e, C, ms_min) \
                            and K._llr_bound(K.POISSON, c_lo, e, C, C) * K.SAFETY > ms_min \
                            and _n_may_beat_low(cyl, hi, lo, e, C, ms) > 0:
                        changed = False
                        for b in range(B):
                            c = np.float64(cyl[hi, b] - cyl[lo, b])
                            if c < e and K.quick_may_beat(C - c, C - e, C, ms[b]) \
                                    and K._llr_bound(K.POISSON, c, e, C, C) * K.SAFETY > ms[b]:
                                v = K.poisson_llr(c, e, C) * s
                                if v > m[b]:
                                    m[b] = v
                                    ms[b] = v * inv
                                    changed = True
                        if changed:
                            m_min = m.min()
                            ms_min = m_min * inv
    out[:] = m


@nb.njit(cache=True)
def _temporal_extras(tab, tsz, win_t1, win_t2, group, s0, e0, top_hi, first_met, row, n_extra,
                     ex_stat, ex_size, ex_t1, ex_t2):
    """SaTScan's (>= 10.2) extra candidates of one centre: the best table entry with statistic
    > 1 in the time range before the centre's best window ``[s0, e0)`` and in the range after
    it, then recursively before and after each one found.  A range ``(lo, hi)`` holds the
    windows ``[s, e)`` with ``lo <= s < e <= hi``; entries are visited with ``e`` from ``hi``
    down, then ``s`` from ``e - 1`` down, and a later entry wins only when strictly greater
    (``first_met``: the first entry above 1 wins, SaTScan's purely temporal behaviour).  The
    ranges after a window start one interval after its end, the ranges before end one interval
    before its start, and the first range after the best window ends at ``top_hi`` (SaTScan:
    T - 1, so the last interval is never in an extra)."""
    T = group.shape[0] - 2
    cap = ex_stat.shape[1]
    stack = np.empty((2 * cap + 4, 2), dtype=np.int64)
    stack[0, 0] = 0
    stack[0, 1] = s0 - 1
    stack[1, 0] = e0 + 1
    stack[1, 1] = top_hi
    top = 2
    count = 0
    while top > 0:
        top -= 1
        lo = stack[top, 0]
        hi = stack[top, 1]
        if hi - lo < 1:
            continue
        found = -1
        best = 1.0
        e = min(hi, T)
        while e > lo:
            for w in range(group[e], group[e + 1]):
                if win_t1[w] < lo:
                    break
                if tab[w] > best:
                    best = tab[w]
                    found = w
                    if first_met:
                        break
            if first_met and found >= 0:
                break
            e -= 1
        if found < 0:
            continue
        if count < cap:
            ex_stat[row, count] = best
            ex_size[row, count] = tsz[found]
            ex_t1[row, count] = win_t1[found]
            ex_t2[row, count] = win_t2[found]
            count += 1
        if top + 2 <= stack.shape[0]:
            stack[top, 0] = lo
            stack[top, 1] = win_t1[found] - 1
            stack[top + 1, 0] = win_t2[found] + 1
            stack[top + 1, 1] = hi
            top += 2
    n_extra[row] = count


@nb.njit(parallel=True, cache=True)
def observed_cylinders(offsets, neighbors, cum_c, cum_e, C, win_lo, win_hi, win_t1, win_t2,
                       group, direction, min_cases, scale, extras, top_hi, first_met,
                       best_stat, best_size, best_t1, best_t2, n_extra, ex_stat, ex_size, ex_t1,
                       ex_t2):
    """For each row, the test statistic (LLR x ``scale[row]``), circle size and time window of
    its best cylinder in the scanned direction (statistic 0 and size 0 when it has none) and,
    with ``extras``, its extra candidates (:func:`_temporal_extras`): ``n_extra[row]`` of them in
    ``ex_*[row, :n_extra[row]]``.

    ``cum_c`` and ``cum_e`` are (n_locations, P) prefix sums from interval 0 at the points of the
    time-window list (``win_*``, ``group``: :class:`TimeWindows`).  Every window's LLR is
    computed (the observed data are one data set; the table of extras needs each window's best
    circle).
    """
    P = cum_c.shape[1]
    W = win_lo.shape[0]
    for i in nb.prange(offsets.shape[0] - 1):
        cyl_c = np.zeros(P)
        cyl_e = np.zeros(P)
        tab = np.zeros(W if extras else 1)
        tsz = np.zeros(W if extras else 1, dtype=np.int64)
        best = 0.0
        size = 0
        b1 = 0
        b2 = 0
        s = scale[i]
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            for p in range(P):
                cyl_c[p] += cum_c[j, p]
                cyl_e[p] += cum_e[j, p]
            sz = k - offsets[i] + 1
            for w in range(W):
                c = cyl_c[win_hi[w]] - cyl_c[win_lo[w]]
                e = cyl_e[win_hi[w]] - cyl_e[win_lo[w]]
                if not (e > 0.0 and C - e > 0.0):
                    continue
                if not K._wins(direction, c, e, min_cases):
                    continue
                v = K.poisson_llr(c, e, C) * s
                if v > best:
                    best = v
                    size = sz
                    b1 = win_t1[w]
                    b2 = win_t2[w]
                if extras and v > tab[w]:
                    tab[w] = v
                    tsz[w] = sz
        best_stat[i] = best
        best_size[i] = size
        best_t1[i] = b1
        best_t2[i] = b2
        n_extra[i] = 0
        if extras and best > 0.0:
            _temporal_extras(tab, tsz, win_t1, win_t2, group, b1, b2, top_hi, first_met, i,
                             n_extra, ex_stat, ex_size, ex_t1, ex_t2)


# --- null data sets at the points -------------------------------------------------------------

@nb.njit(cache=True)
def _draw_multinomial_binned(state, total, prob, alias, T, bin_of, P, binned):
    """Poisson null: ``total`` cases spread over the location-major cells (n x T) in proportion
    to the alias table's weights (the draws of :func:`scan._random._draw_multinomial`, one
    uniform per case), each counted at its first point (``binned``, n x P)."""
    n = prob.shape[0]
    binned[:] = 0
    for _ in range(total):
        x = _uniform(state) * n
        j = min(np.int64(x), n - 1)
        if not (x - j < prob[j]):
            j = alias[j]
        q = bin_of[j % T]
        if q >= 0:
            binned[(j // T) * P + q] += 1


@nb.njit(cache=True)
def _permute_binned(state, case_loc, case_time, strata, labels, bin_of, P, binned):
    """Space-time permutation null: within each stratum (cases ``strata[g]`` to
    ``strata[g + 1]``), the cases' intervals shuffled among the stratum's cases (Fisher-Yates),
    so every location keeps its cases and every interval its cases, per stratum; then each case
    counted at its first point.  With one stratum the draws are those of the previous kernels'
    ``_permute_times`` (tests/legacy_st_kernels.py)."""
    labels[:] = case_time
    for g in range(strata.shape[0] - 1):
        a = strata[g]
        for k in range(strata[g + 1] - 1, a, -1):
            p = a + _below(state, k - a + 1)
            tmp = labels[k]
            labels[k] = labels[p]
            labels[p] = tmp
    binned[:] = 0
    for k in range(labels.shape[0]):
        q = bin_of[labels[k]]
        if q >= 0:
            binned[case_loc[k] * P + q] += 1


@nb.njit(cache=True)
def _draw_multinomial_inside(state, total, p_in, prob, alias, cell_bin, binned):
    """Poisson null when only some cells matter (a window difference counts a case only when its
    interval lies between the first and the last point): of the ``total`` cases, each falls in
    those cells with probability ``p_in``; the gaps between such cases are geometric (drawn by
    inversion), so the number inside is Binomial(total, p_in) exactly, and each case inside is
    drawn from the alias table of the inside cells (``cell_bin``: its index in ``binned``)."""
    binned[:] = 0
    n = prob.shape[0]
    if p_in <= 0.0 or n == 0:
        return
    log_q = math.log1p(-p_in) if p_in < 1.0 else -math.inf
    pos = 0.0
    while True:
        u = 1.0 - _uniform(state)                   # in (0, 1]
        skip = math.floor(math.log(u) / log_q) if p_in < 1.0 else 0.0
        pos += skip + 1.0
        if pos > total:
            return
        x = _uniform(state) * n
        j = min(np.int64(x), n - 1)
        if not (x - j < prob[j]):
            j = alias[j]
        binned[cell_bin[j]] += 1


@nb.njit(cache=True)
def _permute_inside(state, case_loc, strata, in_times, in_strata, marks, picked, times,
                    bin_of, P, binned):
    """Space-time permutation null when only the intervals between the first and the last
    point matter: in each stratum, the cases that receive the stratum's inside times (a uniform
    subset of its cases, Floyd's algorithm) and which time each receives (a uniform shuffle of
    the inside times) are all a permutation decides there, drawn in O(inside cases)."""
    binned[:] = 0
    for g in range(strata.shape[0] - 1):
        a = strata[g]
        n_g = strata[g + 1] - a
        i0 = in_strata[g]
        m = in_strata[g + 1] - i0
        if m == 0:
            continue
        for t in range(m):                          # Floyd: m distinct cases of the n_g
            jj = n_g - m + t
            p = _below(state, jj + 1)
            if marks[a + p]:
                p = jj
            marks[a + p] = True
            picked[t] = a + p
        for t in range(m):
            times[t] = in_times[i0 + t]
        for k in range(m - 1, 0, -1):               # their times: a uniform shuffle
            p = _below(state, k + 1)
            tmp = times[k]
            times[k] = times[p]
            times[p] = tmp
        for t in range(m):
            marks[picked[t]] = False
            binned[case_loc[picked[t]] * P + bin_of[times[t]]] += 1


@nb.njit(cache=True)
def _prefix_points(binned, P, draws, b):
    """Counts first counted at each point (n x P) -> prefix sums at the points, column b."""
    for j in range(draws.shape[0]):
        acc = np.int32(0)
        for p in range(P):
            acc += binned[j * P + p]
            draws[j, p, b] = acc


def block_size_points(n_locations: int, n_points: int) -> int:
    """Replicates side by side: ``BLOCK`` (64), fewer when a block's draws (n_locations x
    n_points x block int32) would exceed :data:`BLOCK_BYTES`; a multiple of 8, at least 8.  The
    maxima do not depend on it."""
    fit = BLOCK_BYTES // (4 * max(1, n_locations) * max(1, n_points))
    return int(max(8, min(BLOCK, fit // 8 * 8)))


@nb.njit(cache=True, nogil=True)
def _run_block_cyl(offsets, neighbors, cum_e, C, win_lo, win_hi, direction, min_cases, scale,
                   states, null_kind, inside, prob, alias, p_in, cell_bin, case_loc, case_time,
                   strata, in_times, in_strata, T, bin_of, out):
    """Draw one block's data sets side by side at the points and sweep the cylinders once.

    ``inside``: draw only the cases that some window counts (:func:`_draw_multinomial_inside`
    with ``p_in``, ``prob``/``alias`` over the inside cells and ``cell_bin``;
    :func:`_permute_inside` with ``in_times``/``in_strata``); otherwise every case
    (``prob``/``alias`` over all n x T cells)."""
    n = cum_e.shape[0]
    P = cum_e.shape[1]
    draws = np.zeros((n, P, states.shape[0]), dtype=np.int32)
    binned = np.zeros(n * P, dtype=np.int32)
    labels = np.empty(case_time.shape[0] if not inside else 0, dtype=np.int64)
    n_cases = case_loc.shape[0] if null_kind == PERMUTATION and inside else 0
    marks = np.zeros(n_cases, dtype=np.bool_)
    largest = 0
    for g in range(in_strata.shape[0] - 1):
        largest = max(largest, in_strata[g + 1] - in_strata[g])
    picked = np.empty(largest, dtype=np.int64)
    times = np.empty(largest, dtype=np.int64)
    for b in range(states.shape[0]):
        state = states[b].copy()
        if null_kind == MULTINOMIAL:
            if inside:
                _draw_multinomial_inside(state, np.int64(C), p_in, prob, alias, cell_bin, binned)
            else:
                _draw_multinomial_binned(state, np.int64(C), prob, alias, T, bin_of, P, binned)
        elif inside:
            _permute_inside(state, case_loc, strata, in_times, in_strata, marks, picked, times,
                            bin_of, P, binned)
        else:
            _permute_binned(state, case_loc, case_time, strata, labels, bin_of, P, binned)
        _prefix_points(binned, P, draws, b)
    block_maxima_cyl(offsets, neighbors, draws, cum_e, C, win_lo, win_hi, direction, min_cases,
                     scale, out)


@nb.njit(parallel=True, cache=True)
def replicate_maxima_cyl(offsets, neighbors, cum_e, C, win_lo, win_hi, direction, min_cases,
                         scale, states, null_kind, inside, prob, alias, p_in, cell_bin, case_loc,
                         case_time, strata, in_times, in_strata, T, bin_of, block, out):
    """Maxima of the replications whose xoshiro states are ``states``, in blocks of ``block``
    spread over threads; each block writes only its own slice of ``out``."""
    R = states.shape[0]
    n_blocks = (R + block - 1) // block
    for blk in nb.prange(n_blocks):
        r0 = blk * block
        r1 = min(R, r0 + block)
        _run_block_cyl(offsets, neighbors, cum_e, C, win_lo, win_hi, direction, min_cases, scale,
                       states[r0:r1], null_kind, inside, prob, alias, p_in, cell_bin, case_loc,
                       case_time, strata, in_times, in_strata, T, bin_of, out[r0:r1])
