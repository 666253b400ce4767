"""A slow, obvious space-time scan that the Numba kernels are checked against.

Written from the definitions, sharing no code with the package (the circles come from the
spatial reference in ``reference.py``): every cylinder (circle prefix × contiguous run of
intervals) is enumerated, its cases and expected count summed from the (n, T) tables with plain
slices, and the Poisson LLR taken from the spatial reference (``math.log``).  Order of visiting,
and hence ties: circle size increasing, then the end of the time window increasing, then its
length increasing; a cylinder replaces the best only with a strictly greater LLR.

``max_llr_numpy`` is the vectorised NumPy version used as the benchmark baseline: for each centre
it builds every cylinder's counts at once from prefix sums and takes the maximum LLR.
"""
from __future__ import annotations

import numpy as np
import reference


def permutation_expected(cases):
    cases = np.asarray(cases, dtype=float)
    return np.outer(cases.sum(axis=1), cases.sum(axis=0)) / cases.sum()


def time_windows(T, min_len, max_len, prospective):
    """[(t1, t2)] half-open, in the visiting order."""
    out = []
    for t2 in range(1, T + 1):
        if prospective and t2 != T:
            continue
        for length in range(min_len, max_len + 1):
            if length <= t2:
                out.append((t2 - length, t2))
    return out


def cylinder_llr(c, e, C, min_cases=2):
    if e <= 0 or C - e <= 0 or not (c > e and c >= min_cases):
        return 0.0
    return reference.poisson_llr(c, e, C)


def best_per_centre(circles, cases, expected, min_len, max_len, prospective, min_cases=2):
    """[(llr, size, t1, t2)] per centre."""
    C = float(cases.sum())
    T = cases.shape[1]
    tws = time_windows(T, min_len, max_len, prospective)
    out = []
    for members in circles:
        best = (0.0, 0, 0, 0)
        for k in range(1, len(members) + 1):
            inside = members[:k]
            for t1, t2 in tws:
                c = float(sum(cases[j, t] for j in inside for t in range(t1, t2)))
                e = float(sum(expected[j, t] for j in inside for t in range(t1, t2)))
                v = cylinder_llr(c, e, C, min_cases)
                if v > best[0]:
                    best = (v, k, t1, t2)
        out.append(best)
    return out


def scan(coords, cases, expected, *, coordinates="cartesian", max_fraction=0.5, max_radius=None,
         min_len=1, max_len=None, analysis="retrospective", min_cases=2):
    """Most likely cluster and non-overlapping secondary clusters:
    [(llr, centre, sorted members, t1, t2)] (centre -1 and all locations for "temporal")."""
    cases = np.asarray(cases)
    expected = np.asarray(expected, dtype=float)
    T = cases.shape[1]
    max_len = T if max_len is None else max_len
    if analysis == "temporal":
        best = best_per_centre([[0]], cases.sum(axis=0, keepdims=True),
                               expected.sum(axis=0, keepdims=True), min_len, max_len, False,
                               min_cases)[0]
        if best[0] <= 0:
            return []
        return [(best[0], -1, list(range(cases.shape[0])), best[2], best[3])]
    circles = reference.windows(np.asarray(coords, float), expected.sum(axis=1), coordinates,
                                max_fraction, max_radius)
    best = best_per_centre(circles, cases, expected, min_len, max_len,
                           analysis == "prospective", min_cases)
    order = sorted(range(len(best)), key=lambda i: (-best[i][0], best[i][1], i))
    taken, clusters = set(), []
    for i in order:
        llr, size, t1, t2 = best[i]
        if llr <= 0:
            break
        members = circles[i][:size]
        if taken.intersection(members):
            continue
        taken.update(members)
        clusters.append((llr, i, sorted(members), t1, t2))
    return clusters


def max_llr_numpy(circles, cases, expected, min_len, max_len, prospective, min_cases=2):
    """Maximum LLR over all cylinders, vectorised over circles and time windows per centre."""
    C = float(cases.sum())
    T = cases.shape[1]
    tw = np.array(time_windows(T, min_len, max_len, prospective), dtype=np.int64).reshape(-1, 2)
    pc = np.zeros((cases.shape[0], T + 1))
    pc[:, 1:] = np.cumsum(cases, axis=1)
    pe = np.zeros((cases.shape[0], T + 1))
    pe[:, 1:] = np.cumsum(expected, axis=1)
    best = 0.0
    for members in circles:
        cc = np.cumsum(pc[members], axis=0)        # (k, T + 1) circles of growing size
        ce = np.cumsum(pe[members], axis=0)
        c = cc[:, tw[:, 1]] - cc[:, tw[:, 0]]
        e = ce[:, tw[:, 1]] - ce[:, tw[:, 0]]
        ok = (e > 0) & (C - e > 0) & (c > e) & (c >= min_cases)
        if not ok.any():
            continue
        c, e = c[ok], e[ok]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = C - c
            llr = c * np.log(c / e) + np.where(out > 0, out * np.log(out / (C - e)), 0.0)
        best = max(best, float(llr.max()))
    return best
