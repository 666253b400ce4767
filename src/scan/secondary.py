"""Secondary clusters: which candidates are reported after the most likely one, SaTScan's way
(SaTScan 10.3, ``MostLikelyClustersContainer``), and the Gini-optimised collections.

1. **One candidate per centre** (:func:`per_centre`).  The observed kernel gives the best window
   of every window row (ties: the smallest window).  When a centre has several rows (the circle
   and the ellipses), its candidate is SaTScan's: without a non-compactness penalty the first
   row, in row order (the circle, then the ellipses in shape and angle order), whose statistic
   is strictly the largest; with a penalty the best window of each shape (strictly larger LLR,
   in row order), then across shapes by test statistic, a later shape replacing the current one
   only when more than 1e-9 larger.  Analyses that supply several candidates per row (a row
   map) give them already chosen per centre.
2. **Order** (:func:`ranked`): test statistic, highest first; statistics within 1e-9 of each
   other are tied and go fewer locations first, then the lower "most central" location (the
   window's first location not removed by an iterative scan), then the lower centre.
3. **Greedy selection**: walk the order and keep a candidate when it passes the criterion
   against every cluster kept so far; rejected candidates are not compared against.  The walk
   stops at SaTScan's cap (:func:`max_kept`): the number of locations for ``"none"``, 500 for
   retrospective space-time scans, otherwise the smaller of the number of centres and 500.

The criteria (:data:`CRITERIA`, SaTScan's ``CriteriaForReportingSecondaryClusters`` 0-5):

* ``"no-overlap"`` (0, default): no location in common with a kept cluster, as SaTScan decides
  it: two clusters whose centres are farther apart than the sum of their major axes (by more
  than 1e-9) do not overlap; a centre strictly inside the other's radius (by more than 1e-9)
  overlaps; otherwise, when one of them is a circle, they overlap when a location of the other
  one (of the ellipse, or of the circle with fewer locations, the kept one on a tie) lies within
  the circle's radius + 1e-9 of its centre -- so a location exactly on a circle's edge that its
  population cap left out still counts as shared; two ellipses compare their locations.
* ``"no-centres-in-others"`` (1): neither centre inside the other cluster.
* ``"no-centres-in-more-likely"`` (2): the candidate's centre inside no kept cluster.
* ``"no-centres-in-less-likely"`` (3): no kept cluster's centre inside the candidate.
* ``"no-pairs-of-centres"`` (4): not both centres inside each other's cluster.
* ``"none"`` (5): every candidate, up to the cap.

"Centre inside a cluster" is geometric, not membership: a circle holds point P when
``float32(|P - c|) <= float32(r)``, ``r`` the distance from its centre to its farthest
location (straight-line distances on SaTScan's sphere for latitude/longitude); an ellipse with
semi-minor axis ``r`` (its largest scaled distance), shape ``s`` and angle ``theta`` holds P when
the distances to its foci ``c +- r sqrt(s^2 - 1) (cos theta, sin theta)``, rounded to float32,
add up to at most ``2 r s`` (float32).  SaTScan rounds to single precision exactly so.

Analyses whose ``temporal_secondary`` is true (retrospective space-time and purely temporal
scans, SaTScan >= 10.2; :mod:`scan.spacetime`) get SaTScan's time-aware rule: a candidate that
fails the criterion against a kept cluster is still kept when both are space-time clusters that
do not overlap in time (:func:`overlap_in_time`: ``[s, e)`` windows need a gap of at least one
interval).  Purely temporal candidates (the whole area) are always kept.

A criterion is one entry of :data:`CRITERIA`: ``criterion(candidates, windows, analysis,
limit=None, removed=None) -> [candidate indices]``, most likely first.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

Criterion = Callable[..., list[int]]

TIE = 1e-9
"""SaTScan's DBL_CMP_TOLERANCE: statistics (and distances) within it are equal."""
MAX_RANKED = 500
"""SaTScan's MAX_RANKED_CLUSTERS."""
MAX_RETAINED = MAX_RANKED
"""Most clusters SaTScan keeps for a retrospective space-time analysis, whatever the
criterion."""
MIN_REPORTED_STATISTIC = 0.001
"""SaTScan's MIN_CLUSTER_LLR_REPORT: a secondary cluster below it is not reported."""
MIN_REPLICATIONS_FOR_P = 99
"""SaTScan reports p-values (and uses them for Gini coefficients) from 99 replications on."""
GINI_MAXIMA = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50)
"""SaTScan's default ``SpatialMaxima``: the maximum sizes (% of the population at risk) of the
Gini collections."""


# --- one candidate per centre, and their order --------------------------------------------------

def _id_rank(analysis) -> np.ndarray | None:
    """Each location's place in the sorted order of the ids (SaTScan keeps its locations sorted
    by name, and breaks ties by those indices), or None when the data have no ids."""
    ids = getattr(getattr(analysis, "data", None), "ids", None)
    if ids is None:
        return None
    ids = np.asarray([str(v) for v in ids])
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    return rank


def _centre_keys(windows, analysis=None) -> np.ndarray:
    """Per row, SaTScan's centroid index of its centre.  Locations sharing coordinates are one
    centroid in SaTScan (one location holding several ids), named after the first of them; a
    centroid's index is its place in the sorted names.  Rows centred on points that are not
    locations come after, in order of first appearance."""
    centre = np.asarray(windows.centre, dtype=np.int64)
    key = centre.copy()
    located = centre >= 0
    n = int(centre.max(initial=-1)) + 1
    rank = _id_rank(analysis)
    if rank is not None:
        n = len(rank)
    if located.any() and windows.centre_xy is not None:
        xy = np.asarray(windows.centre_xy, dtype=np.float64).reshape(-1, 2)[located]
        _, inverse = np.unique(xy, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        # the first location (in file order) at those coordinates names the centroid
        locs = centre[located]
        lowest = np.full(inverse.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(lowest, inverse, locs)
        rep = lowest[inverse]
        key[located] = rank[rep] if rank is not None else rep
    elif located.any() and rank is not None:
        key[located] = rank[centre[located]]
    free = ~located
    if free.any():
        xy = (np.asarray(windows.centre_xy)[free] if windows.centre_xy is not None
              else np.zeros((int(free.sum()), 2)))
        _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
        appearance = np.argsort(np.argsort(first))
        key[free] = n + appearance[inverse.ravel()]
    return key


def per_centre(candidates, windows, analysis=None) -> np.ndarray:
    """Indices of the candidates that represent their centre (see the module docstring)."""
    n = len(candidates)
    if candidates.row is not None or windows is None:
        return np.arange(n)
    keys = _centre_keys(windows, analysis)
    if len(np.unique(keys)) == n:
        return np.arange(n)
    stat = np.asarray(candidates.statistic, dtype=np.float64)
    shape = np.asarray(windows.shape, dtype=np.float64)
    penalised = candidates.scale is not None and bool(np.any(np.asarray(candidates.scale) != 1))
    order = np.argsort(keys, kind="stable")           # rows of a centre stay in row order
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    chosen = []
    for rows in np.split(order, bounds):
        if not penalised:
            best = rows[0]
            for r in rows[1:]:
                if stat[r] > stat[best]:
                    best = r
            chosen.append(best)
            continue
        groups: dict[float, int] = {}
        for r in rows:                                # best of each shape, strict, row order
            g = float(shape[r])
            if g not in groups or candidates.llr(r) > candidates.llr(groups[g]):
                groups[g] = r
        ordered = sorted(groups.items(), key=lambda kv: (kv[0] != 1.0, list(rows).index(kv[1])))
        best = ordered[0][1]
        for _, r in ordered[1:]:
            if stat[r] - stat[best] > TIE:
                best = r
        chosen.append(best)
    return np.sort(np.asarray(chosen, dtype=np.int64))


def _most_central(candidates, windows, analysis, k: int, removed, rank) -> int:
    """SaTScan's most central location of a candidate: the first of its window not removed by
    an iterative scan, as its index among the sorted ids."""
    if getattr(analysis, "whole_area", False):
        return 0
    members = analysis.members(windows, candidates.row_of(k), int(candidates.size[k]))
    if removed is not None:
        alive = members[~removed[members]]
        if len(alive):
            members = alive
    if not len(members):
        return -1
    return int(rank[members[0]]) if rank is not None else int(members[0])


def ranked(candidates, windows=None, analysis=None, removed=None) -> np.ndarray:
    """Candidates with a positive test statistic, one per centre, most likely first (SaTScan's
    order: statistic; within 1e-9, fewer locations, lower most central location, lower
    centre)."""
    idx = per_centre(candidates, windows, analysis)
    stat = np.asarray(candidates.statistic, dtype=np.float64)
    idx = idx[stat[idx] > 0]
    if len(idx) == 0:
        return idx
    size = np.asarray(candidates.size)[idx]
    rows = np.array([candidates.row_of(int(k)) for k in idx], dtype=np.int64)
    if windows is not None:
        centroid = _centre_keys(windows, analysis)[rows]
    else:
        centroid = rows
    if windows is not None and analysis is not None:
        rank = _id_rank(analysis)
        central = np.array([_most_central(candidates, windows, analysis, int(k), removed, rank)
                            for k in idx], dtype=np.int64)
    else:
        central = centroid
    s = stat[idx]
    order = np.lexsort((centroid, central, size, -s))
    sorted_s = s[order]
    breaks = np.flatnonzero(np.abs(np.diff(sorted_s)) >= TIE) + 1
    pieces = []
    for g in np.split(order, breaks):
        if len(g) > 1:
            g = g[np.lexsort((centroid[g], central[g], size[g]))]
        pieces.append(g)
    return idx[np.concatenate(pieces)]


# --- geometry -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Geometry:
    """Coordinates the criteria need: locations and row centres embedded as the windows were
    built (3-D points on SaTScan's sphere for latitude/longitude), and planar ones for ellipses.
    """

    points: np.ndarray          # (n, d) locations
    planar: np.ndarray          # (n, 2) locations as given
    centres: np.ndarray         # (rows, d) row centres
    planar_centres: np.ndarray  # (rows, 2)
    located: np.ndarray         # (rows,) the centre is a location (not a free point)

    @classmethod
    def of(cls, windows, analysis) -> "Geometry | None":
        from .windows import embed_points

        data = getattr(analysis, "data", None)
        coords = getattr(data, "coords", None)
        if coords is None or windows is None:
            return None
        coordinates = getattr(data, "coordinates", "cartesian")
        planar = np.asarray(coords, dtype=np.float64)
        if windows.centre_xy is not None:
            planar_centres = np.asarray(windows.centre_xy, dtype=np.float64).reshape(-1, 2)
        else:
            planar_centres = planar[np.asarray(windows.centre)]
        return cls(points=embed_points(planar, coordinates), planar=planar,
                   centres=embed_points(planar_centres, coordinates),
                   planar_centres=planar_centres, located=np.asarray(windows.centre) >= 0)


def scaled_distance(points: np.ndarray, centre, shape: float, angle_deg: float) -> np.ndarray:
    """Distances in an ellipse's transformed plane: the component along the major axis (at
    ``angle_deg`` from the x axis) divided by ``shape``."""
    theta = math.radians(angle_deg)
    d = np.asarray(points, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    along = d[..., 0] * math.cos(theta) + d[..., 1] * math.sin(theta)
    across = -d[..., 0] * math.sin(theta) + d[..., 1] * math.cos(theta)
    return np.sqrt((along / shape) ** 2 + across ** 2)


@dataclass(eq=False)
class Shape:
    """One candidate as the criteria see it."""

    k: int
    members: np.ndarray
    centre: np.ndarray        # embedded
    centre_xy: np.ndarray     # planar
    radius: float             # circle: farthest member; ellipse: semi-minor axis
    shape: float
    angle: float              # degrees
    located: bool
    t1: int | None
    t2: int | None
    temporal: bool            # purely temporal (the whole area)

    @property
    def ellipse(self) -> bool:
        return self.shape != 1.0

    def holds(self, points: np.ndarray, planar: np.ndarray) -> np.ndarray:
        """Whether each point lies inside this cluster's circle or ellipse (SaTScan's float32
        tests)."""
        if not self.ellipse:
            d = np.sqrt(((np.atleast_2d(points) - self.centre) ** 2).sum(axis=1))
            return d.astype(np.float32) <= np.float32(self.radius)
        theta = math.radians(self.angle)
        c = self.radius * math.sqrt(self.shape ** 2 - 1.0)
        f = np.array([c * math.cos(theta), c * math.sin(theta)])
        p = np.atleast_2d(planar)
        d1 = np.sqrt(((p - (self.centre_xy + f)) ** 2).sum(axis=1)).astype(np.float32)
        d2 = np.sqrt(((p - (self.centre_xy - f)) ** 2).sum(axis=1)).astype(np.float32)
        return (d1 + d2) <= np.float32(2) * np.float32(self.radius) * np.float32(self.shape)


def describe(candidates, windows, analysis, geometry: Geometry | None, k: int) -> Shape:
    row = candidates.row_of(k)
    size = int(candidates.size[k])
    members = np.asarray(analysis.members(windows, row, size), dtype=np.int64)
    temporal = bool(getattr(analysis, "whole_area", False))
    t = candidates.time_window(k)
    shape = float(windows.shape[row]) if windows is not None else 1.0
    angle = float(windows.angle[row]) if windows is not None else 0.0
    if geometry is None or temporal:
        return Shape(k, members, np.zeros(2), np.zeros(2), 0.0, shape, angle, True,
                     *(t or (None, None)), temporal)
    centre, centre_xy = geometry.centres[row], geometry.planar_centres[row]
    if shape != 1.0:
        radius = float(scaled_distance(geometry.planar[members], centre_xy, shape, angle).max())
    else:
        radius = float(np.sqrt(((geometry.points[members[-1]] - centre) ** 2).sum()))
    return Shape(k, members, centre, centre_xy, radius, shape, angle,
                 bool(geometry.located[row]), *(t or (None, None)), temporal)


# --- the criteria -------------------------------------------------------------------------------

def _holds_many(centres, centres_xy, radius, shape, angle, point, point_xy) -> np.ndarray:
    """Whether ``point`` lies inside each of several clusters (SaTScan's float32 tests)."""
    out = np.zeros(len(radius), dtype=bool)
    circle = shape == 1.0
    if circle.any():
        d = np.sqrt(((centres[circle] - point) ** 2).sum(axis=1))
        out[circle] = d.astype(np.float32) <= radius[circle].astype(np.float32)
    ell = ~circle
    if ell.any():
        theta = np.radians(angle[ell])
        c = radius[ell] * np.sqrt(shape[ell] ** 2 - 1.0)
        f = np.column_stack([c * np.cos(theta), c * np.sin(theta)])
        d1 = np.sqrt(((point_xy - (centres_xy[ell] + f)) ** 2).sum(axis=1)).astype(np.float32)
        d2 = np.sqrt(((point_xy - (centres_xy[ell] - f)) ** 2).sum(axis=1)).astype(np.float32)
        out[ell] = (d1 + d2) <= (np.float32(2) * radius[ell].astype(np.float32)
                                 * shape[ell].astype(np.float32))
    return out


class Kept:
    """The clusters kept so far, as arrays for tests against all of them at once."""

    def __init__(self):
        self.shapes: list[Shape] = []
        self._arrays = None

    def add(self, s: Shape) -> None:
        self.shapes.append(s)
        self._arrays = None

    def __len__(self) -> int:
        return len(self.shapes)

    @property
    def arrays(self) -> dict:
        if self._arrays is None:
            sh = [s for s in self.shapes if not s.temporal]
            self._arrays = {
                "shapes": sh,
                "centre": np.array([s.centre for s in sh]).reshape(len(sh), -1),
                "centre_xy": np.array([s.centre_xy for s in sh]).reshape(len(sh), 2),
                "radius": np.array([s.radius for s in sh], dtype=np.float64),
                "shape": np.array([s.shape for s in sh], dtype=np.float64),
                "angle": np.array([s.angle for s in sh], dtype=np.float64),
                "located": np.array([s.located for s in sh], dtype=bool),
                "size": np.array([len(s.members) for s in sh], dtype=np.int64),
                "spacetime": np.array([s.t1 is not None for s in sh], dtype=bool),
                "t1": np.array([-1 if s.t1 is None else s.t1 for s in sh], dtype=np.int64),
                "t2": np.array([-1 if s.t2 is None else s.t2 for s in sh], dtype=np.int64),
            }
        return self._arrays


def _overlap_pair(kept: Shape, cand: Shape, geometry: Geometry) -> bool:
    """SaTScan's ``HasAnyTractsInCommon(kept, candidate)`` once its two quick answers have not
    decided: locations of one tested against the other's circle, or both ellipses' locations."""
    if not (kept.ellipse and cand.ellipse):
        test, other = (kept, cand) if len(kept.members) <= len(cand.members) else (cand, kept)
        if other.ellipse:
            test, other = other, test
        d = np.sqrt(((geometry.points[test.members] - other.centre) ** 2).sum(axis=1))
        r = other.radius
        return bool(np.any(~((np.abs(r - d) >= TIE) & (r < d))))
    return bool(np.intersect1d(kept.members, cand.members).size)


def _overlaps(a: dict, cand: Shape, geometry: Geometry) -> np.ndarray:
    """Against every kept cluster: whether it shares a location with ``cand`` (SaTScan)."""
    D = np.sqrt(((a["centre"] - cand.centre) ** 2).sum(axis=1))
    r1, r2 = a["radius"], cand.radius
    major = r1 * a["shape"] + r2 * cand.shape
    far = (np.abs(D - major) > TIE) & (D > major)
    located = a["located"] & cand.located
    near_loc = ((np.abs(D - r1) > TIE) & (D <= r1)) | ((np.abs(D - r2) > TIE) & (D <= r2))
    near_grid = (((np.abs(r1 - (D + r2)) > TIE) & (r1 >= D + r2))
                 | ((np.abs(r2 - (D + r1)) > TIE) & (r2 >= D + r1)))
    near = ~far & np.where(located, near_loc, near_grid)
    out = near.copy()
    for j in np.flatnonzero(~far & ~near):
        out[j] = _overlap_pair(a["shapes"][j], cand, geometry)
    return out


def _fails(criterion: str, a: dict, cand: Shape, geometry: Geometry) -> np.ndarray:
    """Against every kept cluster: whether ``cand`` fails the geographic criterion."""
    if criterion == "no-overlap":
        return _overlaps(a, cand, geometry)
    cand_in_kept = _holds_many(a["centre"], a["centre_xy"], a["radius"], a["shape"],
                               a["angle"], cand.centre, cand.centre_xy)
    if criterion == "no-centres-in-more-likely":
        return cand_in_kept
    kept_in_cand = (cand.holds(a["centre"], a["centre_xy"]) if len(a["radius"])
                    else np.zeros(0, dtype=bool))
    if criterion == "no-centres-in-less-likely":
        return kept_in_cand
    if criterion == "no-centres-in-others":
        return cand_in_kept | kept_in_cand
    if criterion == "no-pairs-of-centres":
        return cand_in_kept & kept_in_cand
    return np.zeros(len(a["radius"]), dtype=bool)


def retains(criterion: str, kept: Kept, cand: Shape, geometry: Geometry, *,
            temporal_overlap: bool = False) -> bool:
    """SaTScan's ``ShouldRetainCandidateCluster``: ``cand`` against every kept cluster."""
    if criterion == "none" or cand.temporal or len(kept) == 0:
        return True
    a = kept.arrays
    if len(a["radius"]) == 0:
        return True
    fails = _fails(criterion, a, cand, geometry)
    if temporal_overlap and cand.t1 is not None:
        # SaTScan tests the exclusive ends as stored (overlap_in_time)
        apart = a["spacetime"] & ((a["t2"] < cand.t1) | (a["t1"] > cand.t2))
        fails &= ~apart
    return not fails.any()


def overlap_in_time(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """SaTScan's temporal overlap of windows ``[a0, a1)`` and ``[b0, b1)``, tested on the
    exclusive ends as stored: they overlap unless ``b1 < a0`` or ``b0 > a1``, so adjacent
    windows ([2, 5) and [5, 8)) overlap and a gap of one interval ([2, 5) and [6, 8)) does
    not."""
    return not (b[1] < a[0] or b[0] > a[1])


def n_centres(windows, analysis=None) -> int:
    """SaTScan's number of centroids (locations sharing coordinates are one)."""
    return int(len(np.unique(_centre_keys(windows, analysis))))


def max_kept(criterion: str, windows, analysis) -> int | None:
    """SaTScan's cap on the clusters kept (None: no cap)."""
    if getattr(analysis, "whole_area", False):
        return None
    if getattr(analysis, "analysis", None) == "retrospective":
        return MAX_RETAINED
    if criterion == "none":
        return int(analysis.data.n_locations)
    return min(n_centres(windows, analysis), MAX_RANKED)


def _greedy(criterion: str):
    def select_(candidates, windows, analysis, limit: int | None = None,
                removed: np.ndarray | None = None) -> list[int]:
        cap = max_kept(criterion, windows, analysis)
        if limit is not None:
            cap = limit if cap is None else min(cap, limit)
        geometry = Geometry.of(windows, analysis)
        if geometry is None and criterion not in ("no-overlap", "none"):
            raise ValueError(f"the criterion {criterion!r} needs the data's coordinates")
        temporal_overlap = bool(getattr(analysis, "temporal_secondary", False)
                                or getattr(analysis, "temporal_overlap", False))
        kept = Kept()
        spatial = 0
        # locations of the kept clusters: sharing one is overlapping, geometrically too (a
        # shared location lies in both shapes), so such a candidate fails no-overlap without
        # the geometric test; without coordinates membership is the whole test
        taken = None
        if criterion == "no-overlap" and (geometry is None or not temporal_overlap):
            taken = np.zeros(analysis.data.n_locations, dtype=bool)
        for k in ranked(candidates, windows, analysis, removed):
            if cap is not None and spatial >= cap:
                break
            cand = describe(candidates, windows, analysis, geometry, int(k))
            if taken is not None and taken[cand.members].any():
                continue
            if geometry is not None and not retains(criterion, kept, cand, geometry,
                                                    temporal_overlap=temporal_overlap):
                continue
            if taken is not None:
                taken[cand.members] = True
            kept.add(cand)
            spatial += not cand.temporal
        return [s.k for s in kept.shapes]

    select_.__name__ = criterion.replace("-", "_")
    select_.__doc__ = f"SaTScan's secondary-cluster criterion {criterion!r} (module docstring)."
    return select_


no_overlap = _greedy("no-overlap")
no_centres_in_others = _greedy("no-centres-in-others")
no_centres_in_more_likely = _greedy("no-centres-in-more-likely")
no_centres_in_less_likely = _greedy("no-centres-in-less-likely")
no_pairs_of_centres = _greedy("no-pairs-of-centres")
no_restrictions = _greedy("none")

CRITERIA: dict[str, Criterion] = {
    "no-overlap": no_overlap,                                  # SaTScan 0 (default)
    "no-centres-in-others": no_centres_in_others,              # 1
    "no-centres-in-more-likely": no_centres_in_more_likely,    # 2
    "no-centres-in-less-likely": no_centres_in_less_likely,    # 3
    "no-pairs-of-centres": no_pairs_of_centres,                # 4
    "none": no_restrictions,                                   # 5
}
"""Secondary-cluster criteria by name (SaTScan's CriteriaForReportingSecondaryClusters 0-5)."""

SATSCAN_CODES = {name: code for code, name in enumerate(CRITERIA)}
"""The criterion's number in SaTScan parameter files."""


def time_aware(criterion: str, candidates, windows, analysis) -> list[int]:
    """SaTScan's (>= 10.2) selection for retrospective space-time analyses: the criterion, with
    time-disjoint space-time clusters kept beside each other (the module docstring)."""
    return CRITERIA[criterion](candidates, windows, _TimeAware(analysis))


class _TimeAware:
    """An analysis seen with ``temporal_secondary`` set."""

    temporal_secondary = True

    def __init__(self, analysis):
        self._analysis = analysis

    def __getattr__(self, name):
        return getattr(self._analysis, name)


def select(criterion: str, candidates, windows, analysis, *, limit: int | None = None,
           removed: np.ndarray | None = None) -> list[int]:
    """Candidates to report, most likely first, under ``criterion`` (at most ``limit``;
    ``removed``: locations an iterative scan removed, for the most-central tie rule)."""
    from .errors import check_choice

    check_choice("secondary_criterion", criterion, tuple(CRITERIA))
    return CRITERIA[criterion](candidates, windows, analysis, limit=limit, removed=removed)


# --- Gini collections ---------------------------------------------------------------------------

def gini_maxima(max_percent: float, maxima=GINI_MAXIMA) -> tuple[float, ...]:
    """The Gini maximum sizes (percent) at most the window's maximum, ascending."""
    top = round(max_percent, 9)
    return tuple(sorted(float(q) for q in maxima if q <= top))


def _prefix_lengths_kernel():
    import numba as nb

    @nb.njit(cache=True)
    def prefix_lengths(offsets, neighbors, weights, caps, out):
        """out[i, q]: how many leading locations of row i fit under caps[q] (ascending), adding
        the weights one at a time as the windows were built (inclusive)."""
        for i in range(offsets.shape[0] - 1):
            total = 0.0
            q = 0
            m = offsets[i + 1] - offsets[i]
            for t in range(m):
                total += weights[neighbors[offsets[i] + t]]
                while q < caps.shape[0] and total > caps[q]:
                    out[i, q] = t
                    q += 1
            while q < caps.shape[0]:
                out[i, q] = m
                q += 1

    return prefix_lengths


@functools.lru_cache(maxsize=1)
def _prefix_lengths():
    return _prefix_lengths_kernel()


def truncated_windows(windows, weights: np.ndarray, percents) -> list:
    """The windows cut at each maximum size: for each ``q`` in ``percents``, every row keeps
    its leading locations whose cumulative weight stays within ``q / 100`` of the total (SaTScan's
    reported-size neighbour counts), in a Windows of the same rows."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    total = weights.sum()
    caps = np.array([q / 100.0 * total for q in percents], dtype=np.float64)
    lengths = np.zeros((windows.n_rows, len(caps)), dtype=np.int64)
    _prefix_lengths()(windows.offsets, windows.neighbors, weights, caps, lengths)
    out = []
    starts = windows.offsets[:-1]
    for j, q in enumerate(percents):
        n = lengths[:, j]
        offsets = np.zeros(windows.n_rows + 1, dtype=np.int64)
        np.cumsum(n, out=offsets[1:])
        pos = np.repeat(starts - offsets[:-1], n) + np.arange(offsets[-1])
        out.append(replace(windows, offsets=offsets,
                           neighbors=np.ascontiguousarray(windows.neighbors[pos]),
                           max_population_fraction=q / 100.0))
    return out


def gini_coefficient(observed, measure, statistic, *, total_cases: float,
                     total_measure: float, adjustment: float = 1.0) -> float:
    """SaTScan's Gini coefficient of a collection of non-overlapping clusters.

    ``observed``, ``measure`` and ``statistic``: of the clusters counted (p below the cutoff).
    A remainder group holds every case and every unit of measure outside them.  The groups are
    sorted by observed / expected (expected = measure x ``adjustment``), highest first (within
    1e-9: the larger statistic first, the remainder last), and the Lorenz curve steps down from
    (1, 1) by ``observed / total_cases`` and ``expected / total_measure`` for every group but
    the last, which goes to (0, 0); the coefficient is 1 - 2 x the area under it.

    Poisson: measure = expected counts, adjustment 1, total_measure = the total expected (C).
    Bernoulli: measure = population (cases + controls), adjustment C / N and total_measure = N,
    as SaTScan computes it (so the x steps are (n / N)(C / N), not the population share n / N).
    """
    observed = [float(v) for v in observed]
    if not observed:
        return 0.0
    measure = [float(v) for v in measure]
    statistic = [float(v) for v in statistic]
    groups = list(zip(observed, measure, statistic))
    groups.append((total_cases - sum(observed), total_measure - sum(measure), 0.0))

    def ode(g):
        e = g[1] * adjustment
        return g[0] / e if e else 0.0

    def compare(a, b):
        ra, rb = ode(a), ode(b)
        if abs(ra - rb) < TIE:
            return -1 if a[2] > b[2] else (1 if b[2] > a[2] else 0)
        return -1 if ra > rb else 1

    groups.sort(key=functools.cmp_to_key(compare))
    h = [1.0] + [0.0] * len(groups)
    b = [1.0] + [0.0] * len(groups)
    for t in range(1, len(groups)):
        o, m, _ = groups[t - 1]
        h[t] = h[t - 1] - o / total_cases
        b[t] = b[t - 1] - m * adjustment / total_measure
    h.reverse()
    b.reverse()
    twice_area = sum((b[t + 1] - b[t]) * (h[t + 1] + h[t]) for t in range(len(h) - 1))
    return 1.0 - twice_area


def counted_for_gini(p_values, cutoff: float, n_replications: int) -> list[bool]:
    """Clusters that count in the coefficient: p < cutoff (and not within 1e-9 of it), or all
    of them with fewer than 99 replications requested (SaTScan then reports no p-values)."""
    if n_replications < MIN_REPLICATIONS_FOR_P:
        return [True] * len(p_values)
    return [p < cutoff and abs(p - cutoff) >= TIE for p in p_values]


def choose_gini(coefficients, n_clusters, reporting: str) -> tuple[list[int], int | None]:
    """(collections reported, optimal collection) by SaTScan's rule: "all" reports every one;
    "optimal" the largest coefficient (the first on a tie), or when none is positive the
    largest maximum size with a cluster."""
    best, best_g = None, 0.0
    for j, g in enumerate(coefficients):
        if g > best_g:
            best, best_g = j, g
    if reporting == "all":
        return list(range(len(coefficients))), best
    if best is not None:
        return [best], best
    for j in range(len(coefficients) - 1, -1, -1):
        if n_clusters[j]:
            return [j], None
    return [], None
