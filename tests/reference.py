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


# --- SaTScan's secondary clusters, Gini collections and iterative removal (issue 11) ---------
# Written from the rules in notes/satscan-rules-spatial.md (§3, §4) and -temporal.md (§2), one
# plain loop per rule; nothing shared with scan.secondary.

TOL = 1e-9


def name_rank(ids):
    """Each location's place among the ids sorted as strings (SaTScan's location order)."""
    ordered = sorted(range(len(ids)), key=lambda i: str(ids[i]))
    rank = [0] * len(ids)
    for place, i in enumerate(ordered):
        rank[i] = place
    return rank


def centroid_rank(coords, ids):
    """SaTScan's centroid index of each location: locations at the same coordinates are one
    centroid named after the first of them (file order); centroids ordered by that name."""
    rank = name_rank(ids)
    out = []
    for i in range(len(ids)):
        first = min(j for j in range(len(ids))
                    if coords[j][0] == coords[i][0] and coords[j][1] == coords[i][1])
        out.append(rank[first])
    return out


def scaled_distances(coords, centre, shape, angle_deg):
    """Distances in an ellipse's plane: the component along the major axis divided by shape."""
    t = math.radians(angle_deg)
    out = []
    for x, y in coords:
        dx, dy = x - centre[0], y - centre[1]
        along = dx * math.cos(t) + dy * math.sin(t)
        across = -dx * math.sin(t) + dy * math.cos(t)
        out.append(math.sqrt((along / shape) ** 2 + across ** 2))
    return np.array(out)


def ellipse_windows(coords, population, shape, angle_deg, max_fraction=0.5):
    """For each centre, the ordered members of its largest ellipse (scaled distance, then
    coordinates, then index; prefix within the population cap)."""
    cap = max_fraction * population.sum()
    out = []
    for i in range(len(population)):
        d = scaled_distances(coords, coords[i], shape, angle_deg)
        order = sorted(range(len(population)), key=lambda j: (d[j], coords[j][0], coords[j][1], j))
        members, total = [], 0.0
        for j in order:
            total += population[j]
            if total > cap:
                break
            members.append(j)
        out.append(members)
    return out


def cluster(pts, coords, centre_pt, centre_xy, members, *, shape=1.0, angle=0.0, located=True,
            llr=0.0, statistic=None, centre=-1, central=0, centroid=0, t=None):
    """A candidate as SaTScan's criteria see it (radius: the farthest member's distance, the
    scaled one for an ellipse)."""
    if shape == 1.0:
        radius = float(np.sqrt(((pts[members[-1]] - centre_pt) ** 2).sum()))
    else:
        radius = float(max(scaled_distances([coords[j] for j in members], centre_xy, shape,
                                            angle)))
    return dict(members=list(members), centre_pt=np.asarray(centre_pt, float),
                centre_xy=np.asarray(centre_xy, float), radius=radius, shape=shape,
                angle=angle, located=located, llr=llr,
                statistic=llr if statistic is None else statistic, centre=centre,
                central=central, centroid=centroid, t=t)


def point_inside(pt, pt_xy, c):
    """SaTScan's single-precision tests: circle |P - c| <= r; ellipse by its foci."""
    if c["shape"] == 1.0:
        d = math.sqrt(sum((a - b) ** 2 for a, b in zip(pt, c["centre_pt"])))
        return np.float32(d) <= np.float32(c["radius"])
    t = math.radians(c["angle"])
    f = c["radius"] * math.sqrt(c["shape"] ** 2 - 1)
    f1 = (c["centre_xy"][0] + f * math.cos(t), c["centre_xy"][1] + f * math.sin(t))
    f2 = (c["centre_xy"][0] - f * math.cos(t), c["centre_xy"][1] - f * math.sin(t))
    d1 = np.float32(math.hypot(pt_xy[0] - f1[0], pt_xy[1] - f1[1]))
    d2 = np.float32(math.hypot(pt_xy[0] - f2[0], pt_xy[1] - f2[1]))
    return d1 + d2 <= np.float32(2) * np.float32(c["radius"]) * np.float32(c["shape"])


def share_locations(one, two, pts):
    """SaTScan's HasAnyTractsInCommon(one = kept, two = candidate)."""
    D = math.sqrt(sum((a - b) ** 2 for a, b in zip(one["centre_pt"], two["centre_pt"])))
    r1, r2 = one["radius"], two["radius"]
    major = r1 * one["shape"] + r2 * two["shape"]
    if abs(D - major) > TOL and D > major:
        return False
    if one["located"] and two["located"]:
        if (abs(D - r1) > TOL and D <= r1) or (abs(D - r2) > TOL and D <= r2):
            return True
    else:
        if (abs(r1 - (D + r2)) > TOL and r1 >= D + r2) or \
                (abs(r2 - (D + r1)) > TOL and r2 >= D + r1):
            return True
    if one["shape"] == 1.0 or two["shape"] == 1.0:
        test, other = (one, two) if len(one["members"]) <= len(two["members"]) else (two, one)
        if other["shape"] != 1.0:
            test, other = other, test
        for j in test["members"]:
            d = math.sqrt(sum((a - b) ** 2 for a, b in zip(pts[j], other["centre_pt"])))
            if not (abs(other["radius"] - d) >= TOL and other["radius"] < d):
                return True
        return False
    return bool(set(one["members"]) & set(two["members"]))


def criterion_ok(criterion, kept, cand, pts, temporal_overlap=False):
    """Whether ``cand`` may be kept next to the more likely ``kept`` (SaTScan's criteria 0-5)."""
    def inside(a, b):
        return point_inside(a["centre_pt"], a["centre_xy"], b)

    if criterion == "none":
        return True
    if criterion == "no-overlap":
        ok = not share_locations(kept, cand, pts)
    elif criterion == "no-centres-in-others":
        ok = not (inside(cand, kept) or inside(kept, cand))
    elif criterion == "no-centres-in-more-likely":
        ok = not inside(cand, kept)
    elif criterion == "no-centres-in-less-likely":
        ok = not inside(kept, cand)
    elif criterion == "no-pairs-of-centres":
        ok = not (inside(cand, kept) and inside(kept, cand))
    else:
        raise ValueError(criterion)
    if not ok and temporal_overlap and kept["t"] is not None and cand["t"] is not None:
        ok = kept["t"][1] < cand["t"][0] or kept["t"][0] > cand["t"][1]
    return ok


def satscan_order(cands):
    """SaTScan's CompareClustersRatios: statistic descending; within 1e-9, fewer locations,
    lower most central location, lower centroid."""
    import functools

    def cmp(a, b):
        if abs(a["statistic"] - b["statistic"]) < TOL:
            ka = (len(a["members"]), a["central"], a["centroid"])
            kb = (len(b["members"]), b["central"], b["centroid"])
            return (ka > kb) - (ka < kb)
        return -1 if a["statistic"] > b["statistic"] else 1

    return sorted(cands, key=functools.cmp_to_key(cmp))


def secondary_clusters(cands, criterion, pts, cap=None, temporal_overlap=False):
    """Greedy selection: each candidate, most likely first, against every kept one."""
    kept = []
    for c in satscan_order([c for c in cands if c["statistic"] > 0]):
        if cap is not None and len(kept) >= cap:
            break
        if all(criterion_ok(criterion, k, c, pts, temporal_overlap) for k in kept):
            kept.append(c)
    return kept


def satscan_clusters(coords, cases, weights, ids, model="poisson", direction="high",
                     coordinates="cartesian", max_fraction=0.5, max_radius=None,
                     criterion="no-overlap", min_cases=2):
    """The reported clusters, SaTScan's way: [(llr, centre, sorted members)].  One candidate per
    centroid (locations at the same point are one centroid), the criterion's greedy selection,
    its cap (locations for "none", else min(centroids, 500))."""
    coords = np.asarray(coords, float)
    pts = points(coords, coordinates)
    wins = windows(coords, weights, coordinates, max_fraction, max_radius)
    best = best_per_centre(wins, cases, weights, model, direction, min_cases)
    names, centroids = name_rank(ids), centroid_rank(coords, ids)
    seen, cands = set(), []
    for i, (llr, size) in enumerate(best):
        point = (coords[i][0], coords[i][1])
        if point in seen:            # one centroid per point: its first location
            continue
        seen.add(point)
        if llr <= 0:
            continue
        members = wins[i][:size]
        cands.append(cluster(pts, coords, pts[i], coords[i], members, llr=llr, centre=i,
                             central=names[members[0]], centroid=centroids[i]))
    n_centroids = len(seen)
    cap = len(ids) if criterion == "none" else min(n_centroids, 500)
    return [(c["llr"], c["centre"], sorted(c["members"]))
            for c in secondary_clusters(cands, criterion, pts, cap)]


def gini_index(groups, total_cases, total_measure, adjustment=1.0):
    """Gini coefficient of clusters [(observed, measure, statistic)], written out: add the
    remainder, sort by O/E, walk the Lorenz curve from (1, 1), area by trapezoids."""
    if not groups:
        return 0.0
    rest = (total_cases - sum(g[0] for g in groups), total_measure - sum(g[1] for g in groups), 0.0)
    allg = list(groups) + [rest]

    def ode(g):
        e = g[1] * adjustment
        return g[0] / e if e else 0.0

    allg.sort(key=lambda g: (-ode(g), -g[2]))
    xs, ys = [1.0], [1.0]
    for g in allg[:-1]:
        ys.append(ys[-1] - g[0] / total_cases)
        xs.append(xs[-1] - g[1] * adjustment / total_measure)
    xs.append(0.0)
    ys.append(0.0)
    area = 0.0
    for k in range(len(xs) - 1):
        area += (xs[k] - xs[k + 1]) * (ys[k] + ys[k + 1]) / 2
    return 1.0 - 2.0 * area


def remove_cluster(cases, expected, population, members, model):
    """Iterative scan, purely spatial: the cluster's locations lose their data; Poisson expected
    counts left are rescaled to the cases left, Bernoulli's are population x C / N."""
    cases = np.array(cases, float)
    expected = np.array(expected, float)
    population = np.array(population, float)
    for j in members:
        cases[j] = expected[j] = population[j] = 0.0
    if model == "poisson":
        expected = expected * (cases.sum() / expected.sum())
    else:
        expected = population * (cases.sum() / population.sum())
    return cases, expected, population


def satscan_spacetime_clusters(coords, ids, cases, expected, *, coordinates="cartesian",
                               max_fraction=0.5, max_radius=None, min_len=1, max_len=None,
                               analysis="retrospective", min_cases=2, criterion="no-overlap",
                               temporal_overlap=False):
    """Space-time clusters with SaTScan's secondary selection: the best cylinder of each
    centroid (reference_spacetime), ranked and selected as :func:`satscan_clusters` does:
    [(llr, centre, sorted members, t1, t2)]."""
    import reference_spacetime as rst

    if analysis == "temporal":
        return rst.scan(coords, cases, expected, coordinates=coordinates,
                        max_fraction=max_fraction, max_radius=max_radius, min_len=min_len,
                        max_len=max_len, analysis=analysis, min_cases=min_cases)
    cases = np.asarray(cases)
    expected = np.asarray(expected, dtype=float)
    coords = np.asarray(coords, float)
    max_len = cases.shape[1] if max_len is None else max_len
    pts = points(coords, coordinates)
    circles = windows(coords, expected.sum(axis=1), coordinates, max_fraction, max_radius)
    best = rst.best_per_centre(circles, cases, expected, min_len, max_len,
                               analysis == "prospective", min_cases)
    names, centroids = name_rank(ids), centroid_rank(coords, ids)
    seen, cands = set(), []
    for i, (llr, size, t1, t2) in enumerate(best):
        point = (coords[i][0], coords[i][1])
        if point in seen:
            continue
        seen.add(point)
        if llr <= 0:
            continue
        members = circles[i][:size]
        cands.append(cluster(pts, coords, pts[i], coords[i], members, llr=llr, centre=i,
                             central=names[members[0]], centroid=centroids[i], t=(t1, t2)))
    cap = 500 if analysis == "retrospective" else (
        len(ids) if criterion == "none" else min(len(seen), 500))
    return [(c["llr"], c["centre"], sorted(c["members"]), c["t"][0], c["t"][1])
            for c in secondary_clusters(cands, criterion, pts, cap, temporal_overlap)]


def penalty(shape, power):
    """SaTScan's non-compactness penalty (4s / (s + 1)^2)^power; ``power`` a number or the
    setting's name ("none" 0, "medium" 1/2, "strong" 1)."""
    if isinstance(power, str):
        power = {"none": 0.0, "medium": 0.5, "strong": 1.0}[power]
    return (4 * shape / (shape + 1) ** 2) ** power


def best_over_shapes(rows, penalised):
    """SaTScan's choice of one window per centroid among its rows [(statistic, llr, shape)] in
    offset order: without a penalty the first strictly largest statistic; with one, the first
    strictly largest LLR of each shape, then the circle unless a later shape's statistic is
    larger by more than 1e-9.  Returns the chosen row's position."""
    if not penalised:
        best = 0
        for k in range(1, len(rows)):
            if rows[k][0] > rows[best][0]:
                best = k
        return best
    groups = {}
    for k, (_, llr, shape) in enumerate(rows):
        if shape not in groups or llr > rows[groups[shape]][1]:
            groups[shape] = k
    order = sorted(groups.values(), key=lambda k: (rows[k][2] != 1.0, k))
    best = order[0]
    for k in order[1:]:
        if rows[k][0] - rows[best][0] > TOL:
            best = k
    return best


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
                  max_fraction=0.5, max_radius=None, min_cases=2, ids=None):
    """Most likely cluster and non-overlapping secondary clusters of the elliptic scan:
    [(llr, test statistic, centre, shape, degrees, sorted members)].

    Per row the best window by T = LLR x penalty (strictly greater, so the smallest on ties);
    per centre, without a penalty the first row with the highest T; with one, each shape's
    first row with its highest T, then the circle unless a later shape's T exceeds the best so
    far by more than 1e-9.  Then SaTScan's ranking and no-overlap test
    (:func:`satscan_order`, :func:`share_locations`; ``ids`` name the locations, default
    L0, L1, ...)."""
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
    coords = np.asarray(coords, float)
    ids = [f"L{i}" for i in range(n)] if ids is None else list(ids)
    names, centroids = name_rank(ids), centroid_rank(coords, ids)
    cands = []
    for i in range(n):
        r = chosen[i]
        t, size, pen = per_row[r]
        if t <= 0:
            continue
        members = rows[r][4][:size]
        c = cluster(coords, coords, coords[i], coords[i], members, shape=rows[r][1],
                    angle=satscan_degrees(rows[r][2]), llr=t / pen, statistic=t, centre=i,
                    central=names[members[0]], centroid=centroids[i])
        c["row"] = r
        cands.append(c)
    kept = secondary_clusters(cands, "no-overlap", coords, min(n, 500))
    return [(c["llr"], c["statistic"], c["centre"], c["shape"], c["angle"],
             sorted(c["members"])) for c in kept]
