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


# --- added for SaTScan >= 10.2 secondary clusters, low/two-sided scans, earlier analyses and
# --- covariates of the permutation model (written from the rules in words, slow and plain)

def directed_llr(c, e, C, direction="high", min_cases=2):
    """The Poisson LLR of a cylinder that deviates in ``direction``, else 0: high needs c > e
    and c >= min_cases, low needs c < e, both either; always 0 < e < C."""
    if e <= 0 or C - e <= 0:
        return 0.0
    high = c > e and c >= min_cases
    low = c < e
    ok = {"high": high, "low": low, "both": high or low}[direction]
    return reference.poisson_llr(c, e, C) if ok else 0.0


def window_list(T, min_len, max_len, first_end=1, max_len_end=None):
    """[(t1, t2)] in the visiting order: end increasing, then length increasing; windows end at
    first_end or later; max_len_end[t2] (if given) is the longest window ending at t2."""
    out = []
    for t2 in range(1, T + 1):
        if t2 < first_end:
            continue
        longest = max_len if max_len_end is None else max_len_end[t2]
        for length in range(min_len, longest + 1):
            if length <= t2:
                out.append((t2 - length, t2))
    return out


def max_llr_windows(circles, cases, expected, windows, direction="high", min_cases=2):
    """The largest LLR over every circle prefix and every window of ``windows``."""
    C = float(np.asarray(cases).sum())
    best = 0.0
    for members in circles:
        for k in range(1, len(members) + 1):
            inside = list(members[:k])
            for t1, t2 in windows:
                c = float(np.asarray(cases)[inside, t1:t2].sum())
                e = float(np.asarray(expected)[inside, t1:t2].sum())
                best = max(best, directed_llr(c, e, C, direction, min_cases))
    return best


def centre_table(members, cases, expected, windows, direction="high", min_cases=2):
    """One centre: {(t1, t2): (llr, size)} the best circle of each window (a larger circle
    replaces only with a strictly larger LLR) and the centre's best (llr, size, t1, t2) in the
    visiting order (size, then end, then length)."""
    C = float(np.asarray(cases).sum())
    table = {}
    best = (0.0, 0, 0, 0)
    for k in range(1, len(members) + 1):
        inside = list(members[:k])
        for t1, t2 in windows:
            c = float(np.asarray(cases)[inside, t1:t2].sum())
            e = float(np.asarray(expected)[inside, t1:t2].sum())
            v = directed_llr(c, e, C, direction, min_cases)
            if v > table.get((t1, t2), (0.0, 0))[0]:
                table[(t1, t2)] = (v, k)
            if v > best[0]:
                best = (v, k, t1, t2)
    return table, best


def best_in_range(table, lo, hi, first_met=False):
    """SaTScan's findBestInRange, literally: entries [s, e) with lo <= s < e <= hi and LLR > 1,
    visited e from hi down to lo + 1, then s from e - 1 down to lo; a later entry wins only with
    a strictly larger LLR (``first_met``: the first one above 1 wins)."""
    found = None
    for e in range(hi, lo, -1):
        for s in range(e - 1, lo - 1, -1):
            if (s, e) not in table:
                continue
            v = table[(s, e)][0]
            if v > 1.0 and (found is None or v > table[found][0]):
                found = (s, e)
                if first_met:
                    return found
    return found


def extras(table, lo, hi, first_met=False):
    """SaTScan's findOtherNotTemporalOverlapping, literally (recursive)."""
    w = best_in_range(table, lo, hi, first_met)
    if w is None:
        return []
    return [w] + extras(table, lo, w[0] - 1, first_met) + extras(table, w[1] + 1, hi, first_met)


def overlap_in_time(a, b):
    """Windows as stored (exclusive ends) overlap unless b's end < a's start or b's start >
    a's end: adjacent windows overlap."""
    return not (b[1] < a[0] or b[0] > a[1])


def scan_10_2(coords, cases, expected, *, coordinates="cartesian", max_fraction=0.5,
              max_radius=None, min_len=1, max_len=None, min_cases=2, direction="high",
              mode="satscan"):
    """Retrospective space-time scan with SaTScan >= 10.2 secondary clusters (criterion: no
    geographical overlap unless disjoint in time): [(llr, centre, sorted members, t1, t2)].

    Candidates: each centre's best cylinder plus extras(0, s0 - 1) and extras(e0 + 1, hi) with
    hi = T - 1 ("satscan") or T ("corrected"); pooled, sorted by LLR (ties: fewer locations,
    then centre, then the centre's own order: best first, then LLR, fewer locations); kept when
    every kept cluster sharing a location is disjoint in time; at most 500."""
    cases = np.asarray(cases)
    expected = np.asarray(expected, dtype=float)
    T = cases.shape[1]
    max_len = T if max_len is None else max_len
    windows = window_list(T, min_len, max_len, min_len)
    circles = reference.windows(np.asarray(coords, float), expected.sum(axis=1), coordinates,
                                max_fraction, max_radius)
    top = T - 1 if mode == "satscan" else T
    pool = []
    for i, members in enumerate(circles):
        table, best = centre_table(members, cases, expected, windows, direction, min_cases)
        if best[0] <= 0:
            continue
        own = [(best[0], best[1], best[2], best[3])]
        more = extras(table, 0, best[2] - 1) + extras(table, best[3] + 1, top)
        more = [(table[w][0], table[w][1], w[0], w[1]) for w in more]
        more.sort(key=lambda x: (-x[0], x[1]))
        for j, (llr, size, t1, t2) in enumerate(own + more):
            pool.append((llr, size, i, j, t1, t2))
    pool.sort(key=lambda x: (-x[0], x[1], x[2], x[3]))
    kept = []
    for llr, size, i, _, t1, t2 in pool:
        members = set(circles[i][:size])
        if all(not members.intersection(m) or not overlap_in_time((t1, t2), (a, b))
               for _, _, m, a, b in kept):
            kept.append((llr, i, sorted(members), t1, t2))
        if len(kept) >= 500:
            break
    return kept


def temporal_10_2(cases, expected, *, min_len=1, max_len=None, min_cases=2, direction="high",
                  mode="satscan"):
    """Purely temporal scan with SaTScan >= 10.2 extras (all reported): [(llr, t1, t2)], most
    likely first; "satscan" takes the first window met above 1 in each range."""
    cases = np.asarray(cases).sum(axis=0, keepdims=True)
    expected = np.asarray(expected, dtype=float).sum(axis=0, keepdims=True)
    T = cases.shape[1]
    max_len = T if max_len is None else max_len
    windows = window_list(T, min_len, max_len, min_len)
    table, best = centre_table([0], cases, expected, windows, direction, min_cases)
    if best[0] <= 0:
        return []
    top = T - 1 if mode == "satscan" else T
    first = mode == "satscan"
    more = extras(table, 0, best[2] - 1, first) + extras(table, best[3] + 1, top, first)
    out = [(best[0], best[2], best[3])] + [(table[w][0], w[0], w[1]) for w in more]
    return sorted(out, key=lambda x: -x[0])


def permutation_expected_strata(cases_by_stratum):
    """Kulldorff's space-time permutation expected counts with covariates, cell by cell:
    mu[z, d] = sum over categories k with cases of n(z, k) n(d, k) / n(k)."""
    s = np.asarray(cases_by_stratum, dtype=float)
    n, T, K = s.shape
    mu = np.zeros((n, T))
    for k in range(K):
        total = s[:, :, k].sum()
        if total == 0:
            continue
        for z in range(n):
            for d in range(T):
                mu[z, d] += s[z, :, k].sum() * s[:, d, k].sum() / total
    return mu
