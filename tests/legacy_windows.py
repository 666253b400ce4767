"""The window build as it was before the partial-selection rewrite (commit f29299b), kept
importable so that tests/test_windows_build.py can check the new build gives identical windows
and benchmarks/bench_scale.py can time it in the same run.  Circles only; returns
``(offsets, neighbors)`` instead of a Windows object.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from scan.windows import distance_to_chord2, embed_points


@nb.njit(cache=True)
def _precedes(d_a, a, d_b, b, pts):
    """Neighbour order: distance, then the coordinates in turn, then index."""
    if d_a != d_b:
        return d_a < d_b
    for t in range(pts.shape[1]):
        if pts[a, t] != pts[b, t]:
            return pts[a, t] < pts[b, t]
    return a < b


@nb.njit(cache=True)
def _sorted_candidates(d2, cand, pts):
    """Sort candidate indices by (distance, coordinates, index): quicksort by distance, then an
    insertion pass orders ties by the full key (ties are short runs, so it is near-linear)."""
    order = cand[np.argsort(d2[cand])]
    m = order.shape[0]
    for p in range(1, m):
        v = order[p]
        q = p - 1
        while q >= 0 and _precedes(d2[v], v, d2[order[q]], order[q], pts):
            order[q + 1] = order[q]
            q -= 1
        order[q + 1] = v
    return order


@nb.njit(cache=True)
def _window_of_centre(centre, pts, weight, cap, r2max, k_guess, r2_guess, d2):
    """Ordered members of the largest allowed circle around the point ``centre`` (embedded
    coordinates), and its squared radius.

    Candidates are the locations within a trial radius (``r2_guess``, or the distance of the
    ``k_guess``-th nearest); sorted, they are an exact prefix of the neighbour order, so the
    circle is final as soon as the cap is reached inside them; otherwise the trial grows.
    """
    n = pts.shape[0]
    for j in range(n):
        s = 0.0
        for t in range(pts.shape[1]):
            diff = pts[j, t] - centre[t]
            s += diff * diff
        d2[j] = s
    if r2_guess > 0.0:
        thr = r2_guess
    else:
        thr = np.partition(d2, min(n, max(k_guess, 8)) - 1)[min(n, max(k_guess, 8)) - 1]
    while True:
        cand = np.flatnonzero(d2 <= thr)
        order = _sorted_candidates(d2, cand, pts)
        total = 0.0
        length = 0
        for p in range(order.shape[0]):
            j = order[p]
            total += weight[j]
            if total > cap or d2[j] > r2max:
                return order[:length], (d2[order[length - 1]] if length > 0 else 0.0)
            length += 1
        if cand.shape[0] >= n:
            return order, d2[order[n - 1]]
        k = min(n, 2 * cand.shape[0] + 8)
        thr = np.partition(d2, k - 1)[k - 1]


@nb.njit(parallel=True, cache=True)
def _fill_rows(first, cpts, pts, weight, cap, r2max, k_guess, rows, lengths):
    """Windows of centres ``cpts[first .. first + len(lengths) - 1]``, one row of ``rows`` each.

    Runs of 16 centres share a thread; each centre's trial radius starts from the previous
    centre's (a guess only: the result does not depend on it)."""
    m = lengths.shape[0]
    n_runs = (m + 15) // 16
    for run in nb.prange(n_runs):
        d2 = np.empty(pts.shape[0])
        r2_guess = 0.0
        for t in range(run * 16, min(m, run * 16 + 16)):
            members, r2 = _window_of_centre(cpts[first + t], pts, weight, cap, r2max, k_guess,
                                            r2_guess, d2)
            lengths[t] = members.shape[0]
            rows[t, :members.shape[0]] = members
            r2_guess = 1.3 * r2 if r2 > 0.0 else 0.0


def _max_window_length(weight: np.ndarray, cap: float) -> int:
    """No circle can hold more locations than the lightest ones that fit under the cap."""
    light = np.cumsum(np.sort(weight))
    return max(1, int(np.searchsorted(light, cap, side="right")))


def legacy_build(coords: np.ndarray, weight: np.ndarray, *, coordinates: str = "cartesian",
                 max_population_fraction: float = 0.5, max_radius: float | None = None,
                 centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The previous build_windows (full sort of candidates per centre; pieces then joined)."""
    pts = embed_points(np.asarray(coords, dtype=np.float64), coordinates)
    cpts = pts if centres is None else embed_points(
        np.asarray(centres, dtype=np.float64).reshape(-1, 2), coordinates)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    n = len(weight)
    n_rows = len(cpts)
    cap = max_population_fraction * weight.sum()
    r2max = np.inf if max_radius is None else distance_to_chord2(max_radius, coordinates)
    if max_radius is not None:
        r2max *= 1.0 + 1e-12  # inclusive of a neighbour exactly at the radius, despite rounding
    k_guess = int(1.5 * max_population_fraction * n) + 16
    # one pass, in chunks of centres: each centre fills its own row of a scratch block, then
    # the rows are packed; peak memory is the neighbour list plus one block
    k_max = _max_window_length(weight, cap)
    chunk = int(max(64, min(n_rows, 2**24 // k_max)))
    rows = np.empty((chunk, k_max), dtype=np.int32)
    lengths = np.empty(n_rows, dtype=np.int64)
    pieces = []
    for first in range(0, n_rows, chunk):
        m = min(chunk, n_rows - first)
        _fill_rows(first, cpts, pts, weight, cap, r2max, k_guess, rows[:m],
                   lengths[first:first + m])
        pieces.append(np.concatenate([rows[t, :lengths[first + t]] for t in range(m)]))
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    neighbors = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int32)
    return offsets, neighbors
