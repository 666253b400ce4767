"""A slow, obvious pure-Python/NumPy circular scan that every backend is checked against.

Written from the definitions (SaTScan's conventions), sharing no code with the package:
latitude/longitude become 3-D points on a sphere of 6,367 km and distances are straight lines;
neighbours are sorted with Python's ``sorted`` on the key (distance, coordinates, index); windows
are prefixes within the caps (size cap on the model's measure: expected counts or cases +
controls); high-rate windows need at least ``min_cases`` cases; LLRs are written out with
``math.log``.
"""
from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_KM = 6367.0


def points(coords, coordinates):
    if coordinates == "cartesian":
        return np.asarray(coords, dtype=float)
    lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    R = EARTH_RADIUS_KM
    return np.column_stack([R * np.cos(lon) * np.cos(lat), R * np.sin(lon) * np.cos(lat), R * np.sin(lat)])


def distances(pts, i):
    return np.sqrt(((pts - pts[i]) ** 2).sum(axis=1))


def xlogy(x, y):
    return 0.0 if x == 0 else x * math.log(y)


def poisson_llr(c, e, C):
    return xlogy(c, c / e) + xlogy(C - c, (C - c) / (C - e))


def bernoulli_llr(c, n, C, N):
    return (xlogy(c, c / n) + xlogy(n - c, (n - c) / n)
            + xlogy(C - c, (C - c) / (N - n)) + xlogy((N - n) - (C - c), ((N - n) - (C - c)) / (N - n))
            - xlogy(C, C / N) - xlogy(N - C, (N - C) / N))


def windows(coords, population, coordinates="cartesian", max_fraction=0.5, max_radius=None):
    """For each centre: the ordered members of its largest allowed circle."""
    n = len(population)
    cap = max_fraction * population.sum()
    pts = points(coords, coordinates)
    out = []
    for i in range(n):
        d = distances(pts, i)
        order = sorted(range(n), key=lambda j: (d[j], *pts[j], j))
        members = []
        total = 0.0
        for j in order:
            total += population[j]
            if total > cap or (max_radius is not None and d[j] > max_radius * (1 + 1e-12)):
                break
            members.append(j)
        out.append(members)
    return out


def window_llr(c, w, C, W, model, direction, min_cases=2):
    """LLR of a window with c cases and weight w (expected count or population); 0 if it does not
    deviate in the scanned direction."""
    if model == "poisson":
        if w <= 0 or C - w <= 0:
            return 0.0
        e = w
    else:
        if w <= 0 or W - w <= 0:
            return 0.0
        e = w * C / W
    high = c > e and c >= min_cases
    if direction == "high" and not high:
        return 0.0
    if direction == "low" and not c < e:
        return 0.0
    if direction == "both" and not (high or c < e):
        return 0.0
    return poisson_llr(c, w, C) if model == "poisson" else bernoulli_llr(c, w, C, W)


def best_per_centre(wins, cases, weights, model, direction, min_cases=2):
    """(best LLR, best size) for each centre; ties go to the smallest window."""
    C = float(cases.sum())
    W = float(np.sum(weights))
    res = []
    for members in wins:
        c_cum = np.cumsum(cases[members].astype(float))
        w_cum = np.cumsum(weights[members])
        best, size = 0.0, 0
        for k in range(len(members)):
            v = window_llr(c_cum[k], w_cum[k], C, W, model, direction, min_cases)
            if v > best:
                best, size = v, k + 1
        res.append((best, size))
    return res


def scan(coords, cases, weights, model="poisson", direction="high", coordinates="cartesian",
         max_fraction=0.5, max_radius=None, min_cases=2):
    """Most likely cluster and the non-overlapping secondary clusters:
    [(llr, centre, sorted members)]; ``weights`` are the expected counts (Poisson) or the
    populations (Bernoulli) and also carry the size cap."""
    wins = windows(coords, weights, coordinates, max_fraction, max_radius)
    best = best_per_centre(wins, cases, weights, model, direction, min_cases)
    order = sorted(range(len(best)), key=lambda i: (-best[i][0], best[i][1], i))
    taken = set()
    clusters = []
    for i in order:
        llr, size = best[i]
        if llr <= 0:
            break
        members = wins[i][:size]
        if taken.intersection(members):
            continue
        taken.update(members)
        clusters.append((llr, i, sorted(members)))
    return clusters


def max_llr(wins, cases, weights, model, direction, min_cases=2):
    return max((b for b, _ in best_per_centre(wins, cases, weights, model, direction, min_cases)),
               default=0.0)
