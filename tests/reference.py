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


# --- elliptic windows (SaTScan's), added for the elliptic scan -----------------------------------
# From the definitions in SaTScan's rules (notes/satscan-rules-spatial.md §1-2), in plain Python
# floats: the circle then, shape by shape, the angles pi k / n; an ellipse is a circle in
# coordinates where the major-axis component is divided by the shape; rows are centre-major.
# The arithmetic of a distance, a sum or an LLR is written in the order the definitions give,
# which is also the kernels' order, so exact ties come out the same.

def ellipse_offsets(shapes=(1.5, 2, 3, 4, 5), angles=(4, 6, 9, 12, 15)):
    """[(shape, theta, group)]: the circle (1, 0, 0) first, then every (shape, angle)."""
    out = [(1.0, 0.0, 0)]
    for i, (s, n) in enumerate(zip(shapes, angles)):
        for k in range(n):
            out.append((float(s), math.pi * k / n, i + 1))
    return out


def satscan_degrees(theta):
    degrees = 180.0 * (theta / math.pi)
    return degrees - 180.0 if degrees > 90.0 else degrees


def penalty(shape, kind):
    power = {"none": 0.0, "medium": 0.5, "strong": 1.0}[kind]
    return (4 * shape / (shape + 1) ** 2) ** power


def ellipse_distance2(coords, centre, shape, theta, circle):
    """Squared distance from location ``centre`` to every location: Euclidean for the circle,
    else ((dx cos + dy sin) / shape)^2 + (dy cos - dx sin)^2."""
    cx, cy = float(coords[centre][0]), float(coords[centre][1])
    c, s = math.cos(theta), math.sin(theta)
    out = []
    for x, y in coords:
        dx, dy = float(x) - cx, float(y) - cy
        if circle:
            out.append(dx * dx + dy * dy)
        else:
            u = (dx * c + dy * s) / shape
            v = dy * c - dx * s
            out.append(u * u + v * v)
    return out


def elliptic_windows(coords, population, max_fraction=0.5, max_radius=None,
                     shapes=(1.5, 2, 3, 4, 5), angles=(4, 6, 9, 12, 15)):
    """[(centre, shape, theta, group, members)] for every centre and offset, centre-major:
    locations sorted with ``sorted`` on (d2, x, y, index), cut at the population cap and the
    radius (on the transformed distance: the semi-minor axis)."""
    n = len(population)
    cap = max_fraction * float(np.sum(population))
    coords = [(float(x), float(y)) for x, y in coords]
    rows = []
    for i in range(n):
        for j, (s, theta, group) in enumerate(ellipse_offsets(shapes, angles)):
            d2 = ellipse_distance2(coords, i, s, theta, circle=(j == 0))
            order = sorted(range(n), key=lambda k: (d2[k], coords[k][0], coords[k][1], k))
            members, total = [], 0.0
            for k in order:
                total += float(population[k])
                if total > cap or (max_radius is not None
                                   and d2[k] > max_radius * max_radius * (1 + 1e-12)):
                    break
                members.append(k)
            rows.append((i, s, theta, group, members))
    return rows


def bernoulli_llr_grouped(c, n, C, N):
    """The Bernoulli LLR with its terms grouped as inside + outside - null."""
    inside = xlogy(c, c / n) + xlogy(n - c, (n - c) / n)
    out_n = N - n
    outside = xlogy(C - c, (C - c) / out_n) + xlogy(out_n - (C - c), (out_n - (C - c)) / out_n)
    null = xlogy(C, C / N) + xlogy(N - C, (N - C) / N)
    return inside + outside - null


def _window_statistic(c, w, C, W, model, direction, min_cases):
    v = window_llr(c, w, C, W, model, direction, min_cases)
    if v > 0 and model == "bernoulli":
        return bernoulli_llr_grouped(c, w, C, W)
    return v


def elliptic_scan(coords, cases, weights, model="poisson", direction="high",
                  shapes=(1.5, 2, 3, 4, 5), angles=(4, 6, 9, 12, 15), penalty_kind="medium",
                  max_fraction=0.5, max_radius=None, min_cases=2):
    """Most likely cluster and non-overlapping secondary clusters of the elliptic scan:
    [(llr, test statistic, centre, shape, degrees, sorted members)].

    Per row the best window by T = LLR x penalty (strictly greater, so the smallest on ties);
    per centre, without a penalty the first row with the highest T; with one, each shape's
    first row with its highest T, then the circle unless a later shape's T exceeds the best so
    far by more than 1e-9.  Then the centres' windows by T (ties: fewer locations, lower centre),
    kept when they share no location with a kept one."""
    rows = elliptic_windows(coords, weights, max_fraction, max_radius, shapes, angles)
    C = float(np.sum(cases))
    W = float(np.sum(weights))
    per_row = []
    for centre, s, theta, group, members in rows:
        pen = penalty(s, penalty_kind) if penalty_kind != "none" else 1.0
        c = w = 0.0
        best, size = 0.0, 0
        for k, j in enumerate(members):
            c += float(cases[j])
            w += float(weights[j])
            t = _window_statistic(c, w, C, W, model, direction, min_cases) * pen
            if t > best:
                best, size = t, k + 1
        per_row.append((best, size, pen))
    R = len(ellipse_offsets(shapes, angles))
    n = len(weights)
    chosen = []
    for i in range(n):
        block = list(range(i * R, (i + 1) * R))
        if penalty_kind == "none":
            top = max(block, key=lambda r: (per_row[r][0], -r))
        else:
            best_of_group = {}
            for r in block:
                g = rows[r][3]
                if g not in best_of_group or per_row[r][0] > per_row[best_of_group[g]][0]:
                    best_of_group[g] = r
            top = best_of_group[0]
            for g in sorted(best_of_group)[1:]:
                r = best_of_group[g]
                if abs(per_row[r][0] - per_row[top][0]) > 1e-9 and per_row[r][0] > per_row[top][0]:
                    top = r
        chosen.append(top)
    order = sorted(range(n), key=lambda i: (-per_row[chosen[i]][0], per_row[chosen[i]][1], i))
    taken, clusters = set(), []
    for i in order:
        r = chosen[i]
        t, size, pen = per_row[r]
        if t <= 0:
            break
        members = rows[r][4][:size]
        if taken.intersection(members):
            continue
        taken.update(members)
        clusters.append((t / pen, t, i, rows[r][1], satscan_degrees(rows[r][2]), sorted(members)))
    return clusters
