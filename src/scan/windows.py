"""Scanning windows: circles (and SaTScan's ellipses) around each centre, grown one nearest
neighbour at a time.

**Order.**  For every row (a centre with a shape and an angle) the locations are ordered by
distance; at equal distance the location with the lesser coordinates comes first (x, then y; for
latlong data the 3-D Cartesian x, y, z that SaTScan converts latitude/longitude to), then the
lower index.  A window is every prefix of that order whose population at risk stays within the
cap (``cumulative <= max_population_fraction * total``, inclusive; the window stops at the first
neighbour that would exceed it, as SaTScan does) and, optionally, whose farthest member is
within ``max_radius`` (inclusive).

**Latitude/longitude** follow SaTScan exactly: points on a sphere of radius 6,367 km,
straight-line (chord) distances for ordering and for the radius cap, and the reported radius is
the great-circle arc ``2 R asin(chord / 2R)``.

**Ellipses** (SaTScan's elliptic window, Cartesian coordinates only).  Shape ``s`` (major axis /
minor axis) with ``n`` angles has the angles ``theta = pi k / n``, k = 0..n-1, the direction of
the major axis counter-clockwise from +x.  The distance from centre C to location L is

    d_e = sqrt(u^2 + v^2),   u = (dx cos(theta) + dy sin(theta)) / s,
                             v = dy cos(theta) - dx sin(theta)

with ``(dx, dy) = L - C``, evaluated in that order in double precision (SaTScan transforms both
points in single precision, so its exact ties differ; see below).  A window of transformed
radius r is the ellipse with semi-minor axis r and semi-major axis r s; the population cap
applies to each ellipse in its own order and ``max_radius`` caps the **semi-minor axis**, as in
SaTScan.  Ties are ordered exactly as for circles.  With SaTScan's defaults (shapes 1.5, 2, 3,
4, 5 with 4, 6, 9, 12, 15 angles) every centre has 47 rows: the circle then 46 ellipses.

**Rows.**  The result is one compressed-sparse-row structure shared by every analysis: a row is
a centre with a shape and an angle, and window ``k`` of row ``r`` is the first ``k + 1`` entries
of ``neighbors[offsets[r]:offsets[r + 1]]``.  Rows are centre-major, in SaTScan's evaluation
order: the rows of centre ``i`` are ``i * R .. i * R + R - 1`` (``R = rows_per_centre``), the
circle first, then the ellipses shape by shape, each shape's angles in increasing k.  Circle-only
windows have one row per centre (row ``i`` is centre ``i``).  Space-time scans add a time
interval to each window; a focused inquiry uses rows centred on given points; the purely temporal
scan is the single row of :meth:`Windows.single`.  Neighbour ids are ``uint16`` when there are at
most 65,536 locations, else ``int32`` (the kernels are compiled for both).

**Build** (:func:`build_windows`).  Two parallel passes over the rows (Numba threads), no full
sort of any centre's distances: pass 1 finds, by a weighted three-way quickselect on the
distances, how many neighbours a row can hold at most (its length, up to ties and rounding at the
cap); the neighbour array is allocated once from those counts; pass 2 selects the same
neighbours again, sorts only them, applies the exact sequential cap and writes them in place; a
last sequential pass closes the rare gaps left by rows that came out shorter than their bound.
Before pass 1 a sample of 128 rows spread over all rows estimates the windows, bytes and seconds
of the whole build (logged; :func:`estimate_windows`), and the build refuses with those figures
and the fix (:class:`~scan.errors.ScanParameterError`) when the memory it needs exceeds what is
available (``MemAvailable`` in /proc/meminfo, or ``memory_limit`` / ``SCAN_MEMORY_LIMIT``:
:func:`memory_budget`): from the sample when its estimate exceeds the budget by a quarter (a
sample can err), else from pass 1's exact count, before the neighbour array is allocated.
Memory is the neighbour array (2 or 4 bytes a window), about 100 bytes a row and each thread's
scratch (48 bytes a location): 35,000 locations with 50% circles, 613 million windows, peak
at 1.3 GiB for the whole process.
"""
from __future__ import annotations

import functools
import logging
import math
import os
import time
from dataclasses import dataclass

import numba as nb
import numpy as np

from .errors import ScanParameterError

log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6367.0
"""SaTScan's Earth radius (km) for latitude/longitude data."""

ELLIPSE_SHAPES = (1.5, 2, 3, 4, 5)
"""SaTScan's default ellipse shapes (major axis / minor axis)."""
ELLIPSE_ANGLES = (4, 6, 9, 12, 15)
"""SaTScan's default number of angles for each shape."""
MAX_ELLIPSE_SHAPES = 10
"""SaTScan's limit on the number of shapes (``CParameters::MAXIMUM_ELLIPSOIDS``)."""
PENALTY_POWER = {"none": 0.0, "medium": 0.5, "strong": 1.0}
"""Exponent of SaTScan's non-compactness penalty ``(4 s / (1 + s)^2) ^ a`` by name."""
TIE_TOLERANCE = 1e-9
"""SaTScan's DBL_CMP_TOLERANCE: how much a shape's test statistic must exceed the current best
one's to replace it (purely spatial, penalised ellipses)."""
SAMPLE_ROWS = 128
"""Rows built ahead of the whole build to estimate its windows, bytes and time."""
_RUN = 16
"""Rows per unit of parallel work."""


def non_compactness_penalty(shape, penalty: str = "medium"):
    """SaTScan's penalty ``(4 s / (1 + s)^2) ^ a``, a = 0 (none), 1/2 (medium), 1 (strong);
    1 for circles."""
    a = PENALTY_POWER[penalty]
    s = np.asarray(shape, dtype=np.float64)
    return (4.0 * s / (s + 1.0) ** 2) ** a


def satscan_degrees(theta: float) -> float:
    """An angle in radians as SaTScan reports it: degrees in (-90, 90]."""
    degrees = 180.0 * (theta / math.pi)
    return degrees - 180.0 if degrees > 90.0 else degrees


def ellipse_offsets(shapes=(), angles=()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SaTScan's shape offsets for one centre: ``(shape, theta, group)`` of offset 0 (the
    circle: 1, 0, 0) then of every ellipse, shape by shape, angles ``pi k / n`` in increasing k;
    ``group`` is 0 for the circle and ``i + 1`` for the angles of shape ``i``."""
    shape, theta, group = [1.0], [0.0], [0]
    for i, (s, n) in enumerate(zip(shapes, angles)):
        for k in range(int(n)):
            shape.append(float(s))
            theta.append(math.pi * k / int(n))
            group.append(i + 1)
    return np.array(shape), np.array(theta), np.array(group, dtype=np.int64)


def index_dtype(n_locations: int) -> np.dtype:
    """The smallest integer type for neighbour ids: uint16 up to 65,536 locations, else int32."""
    return np.dtype(np.uint16) if n_locations <= 2**16 else np.dtype(np.int32)


@dataclass(frozen=True, eq=False)
class Windows:
    """Scanning windows in CSR form, one row per (centre, shape, angle).

    offsets : (n_rows + 1,) int64.  neighbors : location indices (uint16 or int32), nearest
    first.  centre : (n_rows,) int64 location index of each row's centre, -1 when the centre is a
    point that is not a location (a focus) or the whole area.  centre_xy : (n_rows, 2) the
    centre's coordinates (as the data's).  shape : (n_rows,) ratio of the axes, 1 for circles.
    angle : (n_rows,) direction of the major axis in degrees as SaTScan reports it, in
    (-90, 90] (0 for circles).  ellipse_shapes / ellipse_angles : the elliptic settings the rows
    were built with (empty for circles only): every centre then has ``rows_per_centre``
    consecutive rows, the circle first.
    """

    offsets: np.ndarray
    neighbors: np.ndarray
    max_population_fraction: float
    max_radius: float | None
    centre: np.ndarray | None = None
    centre_xy: np.ndarray | None = None
    shape: np.ndarray | None = None
    angle: np.ndarray | None = None
    ellipse_shapes: tuple = ()
    ellipse_angles: tuple = ()

    def __post_init__(self):
        n = len(self.offsets) - 1
        if self.centre is None:
            object.__setattr__(self, "centre", np.arange(n, dtype=np.int64))
        if self.shape is None:
            object.__setattr__(self, "shape", np.ones(n))
        if self.angle is None:
            object.__setattr__(self, "angle", np.zeros(n))

    @classmethod
    def single(cls, members: np.ndarray, centre_xy=(np.nan, np.nan)) -> "Windows":
        """One row holding ``members`` in order: the purely temporal scan's window over the
        whole area (its data aggregated to one location) is ``Windows.single([0])``."""
        members = np.asarray(members)
        members = members.astype(index_dtype(int(members.max()) + 1 if members.size else 1))
        return cls(offsets=np.array([0, len(members)], dtype=np.int64), neighbors=members,
                   max_population_fraction=1.0, max_radius=None,
                   centre=np.array([-1], dtype=np.int64),
                   centre_xy=np.array([centre_xy], dtype=np.float64))

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_windows(self) -> int:
        return int(self.offsets[-1])

    @property
    def elliptic(self) -> bool:
        """Whether the rows include ellipses (SaTScan's elliptic window)."""
        return len(self.ellipse_angles) > 0

    @property
    def rows_per_centre(self) -> int:
        return 1 + int(sum(self.ellipse_angles))

    def members(self, row: int, size: int) -> np.ndarray:
        start = self.offsets[row]
        return self.neighbors[start:start + size]

    def centre_of(self, row: int, coords: np.ndarray) -> tuple[float, float]:
        """The row's centre coordinates."""
        if self.centre_xy is not None:
            return float(self.centre_xy[row, 0]), float(self.centre_xy[row, 1])
        i = int(self.centre[row])
        return float(coords[i, 0]), float(coords[i, 1])

    def penalty(self, kind: str = "medium") -> np.ndarray | None:
        """Per row, the multiplier of the LLR in the test statistic: SaTScan's non-compactness
        penalty of the row's shape; None (1 everywhere) for circles or ``kind="none"``."""
        if not self.elliptic or PENALTY_POWER[kind] == 0.0:
            return None
        return non_compactness_penalty(self.shape, kind)


def embed_points(coords: np.ndarray, coordinates: str) -> np.ndarray:
    """Points in which Euclidean distance orders neighbours as the analysis requires.

    Cartesian: the coordinates themselves.  Latlong: 3-D points on SaTScan's sphere (km), so
    Euclidean distance is SaTScan's chord distance.
    """
    if coordinates == "cartesian":
        return np.ascontiguousarray(coords, dtype=np.float64)
    lon = np.radians(coords[:, 0])
    lat = np.radians(coords[:, 1])
    R = EARTH_RADIUS_KM
    return np.column_stack([R * np.cos(lon) * np.cos(lat), R * np.sin(lon) * np.cos(lat),
                            R * np.sin(lat)])


def chord2_to_distance(d2: np.ndarray | float, coordinates: str):
    """Squared embedded distance -> reported distance (coordinate units, or km for latlong)."""
    d = np.sqrt(d2)
    if coordinates == "cartesian":
        return d
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.minimum(d / (2.0 * EARTH_RADIUS_KM), 1.0))


def distance_to_chord2(r: float, coordinates: str) -> float:
    """Squared cap on the embedded distance: SaTScan caps the chord (km) for latlong data."""
    return r * r


# --- kernels: distances, selection, order -------------------------------------------------------

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
    _order_ties(d2, order, order.shape[0], pts)
    return order


@nb.njit(cache=True)
def _order_ties(d2, order, m, pts):
    """Insertion pass over ``order[:m]``, already sorted by distance: equal distances ordered by
    the full key of :func:`_precedes`."""
    for p in range(1, m):
        v = order[p]
        q = p - 1
        while q >= 0 and _precedes(d2[v], v, d2[order[q]], order[q], pts):
            order[q + 1] = order[q]
            q -= 1
        order[q + 1] = v


@nb.njit(cache=True)
def _row_distances(c, cpts, pts, cos_t, sin_t, shape, elliptic, d2):
    """Squared distances from centre ``c`` (a row of ``cpts``) to every location: Euclidean
    over the embedded coordinates for a circle (summed over the coordinates in order, from 0),
    the transformed distance for an ellipse.  Branch-free loops, so they vectorise."""
    n = pts.shape[0]
    if elliptic:
        cx = cpts[c, 0]
        cy = cpts[c, 1]
        for j in range(n):
            dx = pts[j, 0] - cx
            dy = pts[j, 1] - cy
            u = (dx * cos_t + dy * sin_t) / shape
            v = dy * cos_t - dx * sin_t
            d2[j] = u * u + v * v
    elif pts.shape[1] == 2:
        cx = cpts[c, 0]
        cy = cpts[c, 1]
        for j in range(n):
            dx = pts[j, 0] - cx
            dy = pts[j, 1] - cy
            d2[j] = dx * dx + dy * dy
    else:
        d2[:] = 0.0
        for t in range(pts.shape[1]):
            ct = cpts[c, t]
            for j in range(n):
                diff = pts[j, t] - ct
                d2[j] += diff * diff


@nb.njit(cache=True, inline="always")
def _swap(keys, idx, a, b):
    k = keys[a]
    keys[a] = keys[b]
    keys[b] = k
    i = idx[a]
    idx[a] = idx[b]
    idx[b] = i


@nb.njit(cache=True)
def _weighted_select(keys, idx, m, weight, acc, cap_lo, cap_hi):
    """Weighted three-way quickselect among ``keys[:m]`` (squared distances; ``acc`` is the
    weight of every location nearer than all of them): ``(k, d_stop, found)`` where the
    smallest distance value at which the cumulative weight exceeds ``cap_hi`` has been found,
    at most ``k`` of the ``m`` locations can be in the window and all of them are at distance
    <= ``d_stop``.  When that value's tie group is a single location and the weight before it is
    at most ``cap_lo``, the window certainly stops just before it and ``k`` is exact.  ``found``
    is False when all ``m`` fit.  Expected linear time."""
    lo = np.int64(0)   # not a literal: Numba would compile the callees again for it
    hi = m
    while lo < hi:
        a = keys[lo]
        b = keys[(lo + hi) // 2]
        c = keys[hi - 1]
        p = max(min(a, b), min(max(a, b), c))
        lt = lo
        i = lo
        gt = hi
        w_less = 0.0
        w_eq = 0.0
        while i < gt:
            v = keys[i]
            if v < p:
                _swap(keys, idx, i, lt)
                w_less += weight[idx[lt]]
                lt += 1
                i += 1
            elif v > p:
                gt -= 1
                _swap(keys, idx, i, gt)
            else:
                w_eq += weight[idx[i]]
                i += 1
        if acc + w_less > cap_hi:
            hi = lt
        elif acc + w_less + w_eq > cap_hi:
            if gt - lt == 1 and acc + w_less <= cap_lo:
                return lt, np.nextafter(p, -np.inf), True
            return gt, p, True
        else:
            acc += w_less + w_eq
            lo = gt
    if lo >= m:
        return m, np.inf, False
    # rounding made the sums disagree: the bound ends with the next distance's tie group
    q = keys[lo]
    for t in range(lo, m):
        q = min(q, keys[t])
    k = lo
    for t in range(lo, m):
        if keys[t] == q:
            k += 1
    return k, q, True


@nb.njit(cache=True)
def _row_bound(d2, weight, cap_lo, cap_hi, r2max, scale, keys, idx, hist_w):
    """``(k, d_stop)``: at most ``k`` neighbours fit in the row, all at distance <= ``d_stop``.

    A partial selection, no sort: the squared distances ``d2`` within ``r2max`` are binned into
    buckets of equal width ``1 / scale`` (a monotone map, so bucket order is distance order;
    the last bucket takes everything beyond) with their weights; the bucket where the cumulative
    weight first exceeds ``cap_hi`` (slightly above the cap, so that sums taken in another
    order than the window's can never make the bound too small) is the only one searched, by
    :func:`_weighted_select`.
    """
    n = d2.shape[0]
    B = hist_w.shape[0]
    hist_w[:] = 0.0
    m = np.int64(0)
    for j in range(n):
        v = d2[j]
        if v <= r2max:
            hist_w[min(int(v * scale), B - 1)] += weight[j]
            m += 1
    acc = 0.0
    edge = -1
    for b in range(B):
        if acc + hist_w[b] > cap_hi:
            edge = b
            break
        acc += hist_w[b]
    if edge < 0:
        return m, r2max
    before = np.int64(0)
    mb = np.int64(0)
    for j in range(n):
        v = d2[j]
        b = min(int(min(v, r2max) * scale), B - 1)      # branch-free: half the rows are in
        before += (b < edge) & (v <= r2max)
        if b == edge and v <= r2max:
            keys[mb] = v
            idx[mb] = j
            mb += 1
    k, d, found = _weighted_select(keys, idx, mb, weight, acc, cap_lo, cap_hi)
    if found:
        return before + k, d
    m = np.int64(0)                             # sums that disagreed by rounding: select all
    for j in range(n):
        if d2[j] <= r2max:
            keys[m] = d2[j]
            idx[m] = j
            m += 1
    k, d, found = _weighted_select(keys, idx, m, weight, 0.0, cap_lo, cap_hi)
    return (k, d) if found else (m, r2max)


@nb.njit(cache=True)
def _insertion_sort(keys, idx, a, b, pts):
    """Sort ``keys[a:b]`` (squared distances) and ``idx[a:b]`` by the neighbour order."""
    for p in range(a + 1, b):
        kv = keys[p]
        iv = idx[p]
        q = p - 1
        while q >= a and _precedes(kv, iv, keys[q], idx[q], pts):
            keys[q + 1] = keys[q]
            idx[q + 1] = idx[q]
            q -= 1
        keys[q + 1] = kv
        idx[q + 1] = iv


@nb.njit(cache=True)
def _sift_down(keys, idx, a, root, end, pts):
    """Restore the max-heap (in neighbour order) of ``keys[a:a + end]`` below ``root``."""
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        c = a + child
        if child + 1 < end and _precedes(keys[c], idx[c], keys[c + 1], idx[c + 1], pts):
            child += 1
            c += 1
        r = a + root
        if not _precedes(keys[r], idx[r], keys[c], idx[c], pts):
            return
        _swap(keys, idx, r, c)
        root = child


@nb.njit(cache=True)
def _sort_segment(keys, idx, a, b, pts):
    """A long segment: heapsort by the full neighbour order (distance, coordinates, index; a
    strict order, so any correct sort gives the same result).  Hand-written rather than
    ``np.argsort``: NumPy's sorts take seconds of a first run's compilation, and long segments
    are rare (a bucket holds about two locations)."""
    n = b - a
    for root in range(n // 2 - 1, -1, -1):
        _sift_down(keys, idx, a, root, n, pts)
    for end in range(n - 1, 0, -1):
        _swap(keys, idx, a, a + end)
        _sift_down(keys, idx, a, np.int64(0), end, pts)


_SHORT = 32
"""Segments up to this length are insertion-sorted."""


@nb.njit(cache=True)
def _sort_row(keys, idx, m, pts, tk, ti, counts):
    """Sort ``keys[:m]``/``idx[:m]`` by the neighbour order: a bucket sort on the distance (a
    monotone map into about m/2 buckets of equal width, so distance order is bucket order and
    equal distances share a bucket), then each bucket by the full key."""
    if m <= _SHORT:
        _insertion_sort(keys, idx, np.int64(0), m, pts)
        return
    lo = keys[0]
    hi = keys[0]
    for p in range(m):
        lo = min(lo, keys[p])
        hi = max(hi, keys[p])
    if not hi > lo:
        _sort_segment(keys, idx, np.int64(0), m, pts)
        return
    nbk = min(counts.shape[0] - 1, m // 2 + 1)
    scale = nbk / (hi - lo)
    counts[:nbk + 1] = 0
    for p in range(m):
        counts[min(int((keys[p] - lo) * scale), nbk - 1) + 1] += 1
    for b in range(nbk):
        counts[b + 1] += counts[b]
    for p in range(m):
        b = min(int((keys[p] - lo) * scale), nbk - 1)
        pos = counts[b]
        tk[pos] = keys[p]
        ti[pos] = idx[p]
        counts[b] = pos + 1
    a = np.int64(0)
    for b in range(nbk):
        e = counts[b]
        if e - a > _SHORT:
            _sort_segment(tk, ti, a, e, pts)
        elif e - a > 1:
            _insertion_sort(tk, ti, a, e, pts)
        a = e
    for p in range(m):
        keys[p] = tk[p]
        idx[p] = ti[p]


@nb.njit(cache=True)
def _row_members(d2, d_stop, weight, cap, pts, keys, idx, tk, ti, counts):
    """The row's window: the locations at distance <= ``d_stop`` sorted by the neighbour order,
    cut where the cumulative weight first exceeds ``cap``; returns its length (the members are
    ``idx[:length]``)."""
    m = np.int64(0)
    for j in range(d2.shape[0]):       # branch-free compaction (``keys`` has a spare slot)
        v = d2[j]
        keys[m] = v
        idx[m] = j
        m += v <= d_stop
    _sort_row(keys, idx, m, pts, tk, ti, counts)
    total = 0.0
    for p in range(m):
        total += weight[idx[p]]
        if total > cap:
            return p
    return m


_BUCKETS_PER_LOCATION = 0.25
"""Buckets of pass 1's partial selection per location (at least 64, at most 2**16)."""


@nb.njit(parallel=True, cache=True)
def _bound_rows(rows, row_centre, row_cos, row_sin, row_shape, row_ellipse, cpts, pts, weight,
                cap_lo, cap_hi, r2max, scale, n_buckets, k_bound, d_stop):
    """Pass 1: :func:`_row_bound` of every row in ``rows`` (runs of rows over threads)."""
    m = rows.shape[0]
    n = pts.shape[0]
    for run in nb.prange((m + _RUN - 1) // _RUN):
        d2 = np.empty(n)
        keys = np.empty(n)
        idx = np.empty(n, dtype=np.int64)
        hist_w = np.empty(n_buckets)
        for t in range(run * _RUN, min(m, run * _RUN + _RUN)):
            r = rows[t]
            _row_distances(row_centre[r], cpts, pts, row_cos[r], row_sin[r], row_shape[r],
                           row_ellipse[r], d2)
            k, d = _row_bound(d2, weight, cap_lo, cap_hi, r2max, scale, keys, idx, hist_w)
            k_bound[t] = k
            d_stop[t] = d


@nb.njit(parallel=True, cache=True)
def _fill_rows(rows, row_centre, row_cos, row_sin, row_shape, row_ellipse, cpts, pts, weight,
               cap, d_stop, start, k_max, out, lengths):
    """Pass 2: each row's ordered members written at ``out[start[t]:]`` (its own slot)."""
    m = rows.shape[0]
    n = pts.shape[0]
    for run in nb.prange((m + _RUN - 1) // _RUN):
        d2 = np.empty(n)
        keys = np.empty(k_max + 1)
        idx = np.empty(k_max + 1, dtype=np.int64)
        tk = np.empty(k_max)
        ti = np.empty(k_max, dtype=np.int64)
        counts = np.empty(k_max // 2 + 3, dtype=np.int64)
        for t in range(run * _RUN, min(m, run * _RUN + _RUN)):
            r = rows[t]
            _row_distances(row_centre[r], cpts, pts, row_cos[r], row_sin[r], row_shape[r],
                           row_ellipse[r], d2)
            length = _row_members(d2, d_stop[t], weight, cap, pts, keys, idx, tk, ti, counts)
            s = start[t]
            for p in range(length):
                out[s + p] = idx[p]
            lengths[t] = length


@nb.njit(cache=True)
def _close_gaps(out, start, lengths, offsets):
    """Move rows left over the slack of rows shorter than their bound (in place, in order)."""
    pos = 0
    for t in range(lengths.shape[0]):
        s = start[t]
        length = lengths[t]
        if s != pos:
            for p in range(length):
                out[pos + p] = out[s + p]
        offsets[t] = pos
        pos += length
    offsets[lengths.shape[0]] = pos


# --- memory: what a build needs and what there is -----------------------------------------------

def _parse_bytes(text: str) -> float | None:
    """'8G', '512M', '2.5GiB', '1000000' -> bytes; 'none', 'off', '0', '' -> None (no limit)."""
    t = text.strip().lower().replace("ib", "").replace("b", "")
    if t in ("", "none", "off", "0", "inf"):
        return None
    scale = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in "kmgt" else t
    return float(number) * scale


def available_memory() -> int | None:
    """``MemAvailable`` from /proc/meminfo in bytes, or None where there is no such file."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_budget(memory_limit=None) -> float | None:
    """Bytes a window build may use: ``memory_limit`` when given (bytes, or a string such as
    "8G"; ``False``/"none" for no check), else the environment variable ``SCAN_MEMORY_LIMIT``
    (same forms), else ``MemAvailable`` from /proc/meminfo; None means no check."""
    if memory_limit is False:
        return None
    if memory_limit is not None:
        if isinstance(memory_limit, str):
            return _parse_bytes(memory_limit)
        return float(memory_limit) if memory_limit > 0 else None
    env = os.environ.get("SCAN_MEMORY_LIMIT")
    if env is not None:
        try:
            return _parse_bytes(env)
        except ValueError:
            raise ScanParameterError("SCAN_MEMORY_LIMIT", "a size such as 8G, 512M or a number "
                                     "of bytes, or 'none'", env) from None
    return available_memory()


@dataclass(frozen=True)
class WindowEstimate:
    """What a window build will take, before it runs.

    n_rows : rows (centres x shapes and angles).  n_windows : estimated windows (neighbour
    entries), from the rows sampled (exact bound when every row was sampled).
    n_windows_bound : a bound that can only over-count: every row holding the most locations
    that can fit under the cap.  bytes : estimated memory of the build (neighbour array, row
    arrays and scratch).  seconds : estimated build time on this machine's threads.
    sampled : rows built to make the estimate.  itemsize : bytes per neighbour id.
    """

    n_rows: int
    n_windows: int
    n_windows_bound: int
    bytes: int
    seconds: float
    sampled: int
    itemsize: int

    def describe(self) -> str:
        return (f"about {self.n_windows:,} windows in {self.n_rows:,} rows "
                f"({_gib(self.bytes)} with {self.itemsize}-byte neighbour ids), about "
                f"{_duration(self.seconds)} to build")


def _gib(b: float) -> str:
    if b >= 2**28:
        return f"{b / 2**30:.2f} GiB"
    return f"{b / 2**20:.0f} MiB" if b >= 2**20 else f"{b / 2**10:.0f} KiB"


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.1f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


_ROW_BYTES = 8 + 8 + 16 + 8 + 8 + 8 + 8 + 8 + 8 + 8
"""Per row: offsets, centre, centre_xy, shape, angle, and the build's bound, stop distance,
start and length arrays."""


def _build_bytes(n_windows: int, n_rows: int, n: int, itemsize: int, threads: int) -> int:
    return int(n_windows * itemsize + n_rows * _ROW_BYTES + threads * n * 24 * 2)


# --- the build ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """Everything the kernels need, per row."""

    pts: np.ndarray
    cpts: np.ndarray
    weight: np.ndarray
    cap: float
    r2max: float
    row_centre: np.ndarray
    row_cos: np.ndarray
    row_sin: np.ndarray
    row_shape: np.ndarray
    row_ellipse: np.ndarray
    row_theta: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.row_centre)

    @property
    def cap_hi(self) -> float:
        return self.cap * (1.0 + 1e-9) + 1e-300

    @property
    def cap_lo(self) -> float:
        return self.cap * (1.0 - 1e-9)

    def bound(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pass 1 on ``rows``.  The buckets span the largest distance any row can have (the
        squared diagonal of the box around locations and centres: an ellipse's transformed
        distance is never longer), or ``max_radius``."""
        k = np.empty(len(rows), dtype=np.int64)
        d = np.empty(len(rows))
        n_buckets = int(min(2**16, max(64, len(self.weight) * _BUCKETS_PER_LOCATION)))
        both = np.vstack([self.pts, self.cpts]) if len(self.pts) else self.cpts
        extent = float(((both.max(axis=0) - both.min(axis=0)) ** 2).sum()) if len(both) else 0.0
        extent = min(extent, self.r2max)
        scale = n_buckets / extent if extent > 0 else 0.0
        _bound_rows(rows, self.row_centre, self.row_cos, self.row_sin, self.row_shape,
                    self.row_ellipse, self.cpts, self.pts, self.weight, self.cap_lo, self.cap_hi,
                    self.r2max, scale, n_buckets, k, d)
        return k, d

    def fill(self, rows, d_stop, start, k_max, out, lengths) -> None:
        _fill_rows(rows, self.row_centre, self.row_cos, self.row_sin, self.row_shape,
                   self.row_ellipse, self.cpts, self.pts, self.weight, self.cap, d_stop, start,
                   max(int(k_max), 1), out, lengths)


def _plan(coords, weight, coordinates, max_population_fraction, max_radius, centres, shapes,
          angles) -> _Plan:
    pts = embed_points(np.asarray(coords, dtype=np.float64), coordinates)
    cpts = pts if centres is None else embed_points(
        np.asarray(centres, dtype=np.float64).reshape(-1, 2), coordinates)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    cap = max_population_fraction * weight.sum()
    r2max = np.inf if max_radius is None else distance_to_chord2(max_radius, coordinates)
    if max_radius is not None:
        r2max *= 1.0 + 1e-12  # inclusive of a neighbour exactly at the radius, despite rounding
    shape, theta, _ = ellipse_offsets(shapes, angles)
    R = len(shape)
    n_c = len(cpts)
    return _Plan(pts=pts, cpts=np.ascontiguousarray(cpts), weight=weight, cap=float(cap),
                 r2max=float(r2max),
                 row_centre=np.repeat(np.arange(n_c, dtype=np.int64), R),
                 row_cos=np.tile(np.array([math.cos(t) for t in theta]), n_c),
                 row_sin=np.tile(np.array([math.sin(t) for t in theta]), n_c),
                 row_shape=np.tile(shape, n_c),
                 row_ellipse=np.tile(np.arange(R) > 0, n_c),
                 row_theta=np.tile(theta, n_c))


def _max_window_length(weight: np.ndarray, cap: float) -> int:
    """No window can hold more locations than the lightest ones that fit under the cap."""
    light = np.cumsum(np.sort(weight))
    return max(1, int(np.searchsorted(light, cap, side="right")))


def _threads() -> int:
    return max(1, int(nb.get_num_threads()))


def _estimate(plan: _Plan, dtype: np.dtype, sample: int) -> WindowEstimate:
    n_rows, n = plan.n_rows, len(plan.weight)
    itemsize = dtype.itemsize
    bound = n_rows * min(n, _max_window_length(plan.weight, plan.cap * (1 + 1e-9)))
    if n_rows == 0:
        return WindowEstimate(0, 0, 0, _build_bytes(0, 0, n, itemsize, 1), 0.0, 0, itemsize)
    rows = np.unique(np.linspace(0, n_rows - 1, min(n_rows, sample)).round().astype(np.int64))
    warm = rows[:2]
    k, d = plan.bound(warm)        # loads (or compiles) the kernels before timing them
    plan.fill(warm, d, np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64), k.max(),
              np.empty(int(k.sum()), dtype=dtype), np.empty(len(warm), dtype=np.int64))
    times = []
    for _ in range(2):     # the faster of two: a short sample is easily hit by other jobs
        t0 = time.perf_counter()
        k, d = plan.bound(rows)
        start = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
        plan.fill(rows, d, start, k.max(), np.empty(int(k.sum()), dtype=dtype),
                  np.empty(len(rows), dtype=np.int64))
        times.append(time.perf_counter() - t0)
    seconds = min(times) * n_rows / len(rows)
    n_windows = int(k.sum()) if len(rows) == n_rows else int(round(k.mean() * n_rows))
    return WindowEstimate(n_rows=n_rows, n_windows=n_windows, n_windows_bound=int(bound),
                          bytes=_build_bytes(n_windows, n_rows, n, itemsize, _threads()),
                          seconds=seconds, sampled=len(rows), itemsize=itemsize)


def estimate_windows(coords: np.ndarray, weight: np.ndarray, *, coordinates: str = "cartesian",
                     max_population_fraction: float = 0.5, max_radius: float | None = None,
                     centres: np.ndarray | None = None, shape: str = "circle",
                     ellipse_shapes=ELLIPSE_SHAPES, ellipse_angles=ELLIPSE_ANGLES,
                     sample: int = SAMPLE_ROWS) -> WindowEstimate:
    """Estimate what :func:`build_windows` with the same arguments will take, from ``sample``
    rows spread evenly over all rows (every row when there are no more): the windows, the bytes
    and the seconds (see :class:`WindowEstimate`)."""
    shapes, angles = _check_window_args(coordinates, max_population_fraction, max_radius, shape,
                                        ellipse_shapes, ellipse_angles)
    plan = _plan(coords, weight, coordinates, max_population_fraction, max_radius, centres,
                 shapes, angles)
    return _estimate(plan, index_dtype(len(plan.weight)), sample)


def _check_window_args(coordinates, max_population_fraction, max_radius, shape, ellipse_shapes,
                       ellipse_angles) -> tuple[tuple, tuple]:
    """Validated ``(shapes, angles)`` of the ellipses (empty for circles)."""
    if not (0.0 < max_population_fraction <= 0.5):
        raise ScanParameterError("max_population_fraction", "in (0, 0.5]",
                                 max_population_fraction,
                                 "SaTScan allows circles of up to 50% of the population at risk")
    if max_radius is not None and not (max_radius > 0 and np.isfinite(max_radius)):
        raise ScanParameterError("max_radius", "a positive finite distance or None", max_radius)
    return check_ellipse_settings(shape, ellipse_shapes, ellipse_angles, coordinates)


def check_ellipse_settings(shape: str, ellipse_shapes, ellipse_angles,
                           coordinates: str = "cartesian") -> tuple[tuple, tuple]:
    """SaTScan's rules for elliptic windows (``ValidateEllipseParameters``); returns the
    ``(shapes, angles)`` to build (both empty for circles)."""
    from .params import check

    shape = check("shape", shape)
    shapes = check("ellipse_shapes", ellipse_shapes)
    angles = check("ellipse_angles", ellipse_angles)
    if shape == "circle":
        return (), ()
    if coordinates != "cartesian":
        raise ScanParameterError(
            "shape", "'circle' for latitude/longitude coordinates", shape,
            "SaTScan's elliptic windows need Cartesian coordinates: project the locations "
            "first (scan spatial --project-to EPSG:27700, or pyproj), or use circles",
            flag="--shape")
    if len(shapes) != len(angles):
        raise ScanParameterError(
            "ellipse_angles", f"one number of angles per ellipse shape ({len(shapes)} shapes)",
            angles, "give as many entries to --ellipse-angles as to --ellipse-shapes",
            flag="--ellipse-angles")
    return shapes, angles


def build_windows(coords: np.ndarray, weight: np.ndarray, *, coordinates: str = "cartesian",
                  max_population_fraction: float = 0.5,
                  max_radius: float | None = None, centres: np.ndarray | None = None,
                  shape: str = "circle", ellipse_shapes=ELLIPSE_SHAPES,
                  ellipse_angles=ELLIPSE_ANGLES, memory_limit=None) -> Windows:
    """Circular (or circular and elliptic) windows around every location, or around the points
    ``centres``.

    Parameters
    ----------
    coords : (n, 2) coordinates (x, y or longitude, latitude).
    weight : (n,) population at risk for the size cap: SaTScan's "measure", i.e. the expected
        counts for the Poisson model (covariate-adjusted when strata are given) and cases +
        controls for the Bernoulli model.
    max_population_fraction : in (0, 0.5]; the largest share of the total population a window
        may hold.
    max_radius : optional largest radius (coordinate units, km for latlong), inclusive; for an
        ellipse, its semi-minor axis.
    centres : optional (k, 2) points, in the coordinates of ``coords``, to centre the rows on
        instead of the locations (a focused inquiry); their rows have ``centre = -1``.
    shape : "circle" (default) or "ellipse": every centre then also gets one row per ellipse
        shape and angle (Cartesian coordinates only).
    ellipse_shapes, ellipse_angles : SaTScan's shapes (major/minor axis, >= 1) and the number of
        angles of each (defaults 1.5, 2, 3, 4, 5 and 4, 6, 9, 12, 15: 46 ellipses).
    memory_limit : bytes the build may use (see :func:`memory_budget`: default the
        ``SCAN_MEMORY_LIMIT`` environment variable, else MemAvailable; ``False`` for no check).

    Raises
    ------
    ScanParameterError
        When the windows would need more memory than the budget: the message gives the
        estimated windows, bytes and time, and the fix.
    """
    shapes, angles = _check_window_args(coordinates, max_population_fraction, max_radius, shape,
                                        ellipse_shapes, ellipse_angles)
    plan = _plan(coords, weight, coordinates, max_population_fraction, max_radius, centres,
                 shapes, angles)
    n = len(plan.weight)
    dtype = index_dtype(n)
    n_rows = plan.n_rows
    budget = memory_budget(memory_limit)
    estimate = None
    if n_rows > SAMPLE_ROWS and (budget is not None or log.isEnabledFor(logging.INFO)):
        estimate = _estimate(plan, dtype, SAMPLE_ROWS)
        log.info("windows: %s", estimate.describe())
        if budget is not None and estimate.bytes > 1.25 * budget:
            _refuse(estimate, budget, max_population_fraction, max_radius)
    rows = np.arange(n_rows, dtype=np.int64)
    k_bound, d_stop = plan.bound(rows)
    total_bound = int(k_bound.sum())
    if budget is not None:
        need = _build_bytes(total_bound, n_rows, n, dtype.itemsize, _threads())
        if need > budget:
            exact = WindowEstimate(n_rows, total_bound, total_bound, need,
                                   estimate.seconds if estimate else 0.0, n_rows,
                                   dtype.itemsize)
            _refuse(exact, budget, max_population_fraction, max_radius)
    start = np.zeros(n_rows, dtype=np.int64)
    if n_rows > 1:
        np.cumsum(k_bound[:-1], out=start[1:])
    out = np.empty(total_bound, dtype=dtype)
    lengths = np.empty(n_rows, dtype=np.int64)
    plan.fill(rows, d_stop, start, k_bound.max() if n_rows else 1, out, lengths)
    offsets = np.empty(n_rows + 1, dtype=np.int64)
    _close_gaps(out, start, lengths, offsets)
    if offsets[-1] < total_bound:
        out.resize(int(offsets[-1]), refcheck=False)   # shrinks in place
    del start, lengths, k_bound, d_stop
    R = len(plan.row_shape) // max(1, len(plan.cpts)) if len(plan.cpts) else 1
    if centres is None:
        centre = plan.row_centre
        centre_xy = np.repeat(np.asarray(coords, dtype=np.float64).reshape(-1, 2), R, axis=0)
    else:
        centre = np.full(n_rows, -1, dtype=np.int64)
        centre_xy = np.repeat(np.asarray(centres, dtype=np.float64).reshape(-1, 2), R, axis=0)
    angle = np.array([satscan_degrees(t) for t in plan.row_theta[:R]])
    return Windows(offsets=offsets, neighbors=out,
                   max_population_fraction=max_population_fraction, max_radius=max_radius,
                   centre=centre, centre_xy=centre_xy, shape=plan.row_shape.copy(),
                   angle=np.tile(angle, n_rows // R if R else 0),
                   ellipse_shapes=tuple(shapes), ellipse_angles=tuple(angles))


def _refuse(estimate: WindowEstimate, budget: float, fraction: float,
            max_radius: float | None) -> None:
    scale = budget / max(estimate.bytes, 1)
    smaller = max(fraction * scale * 0.9, 1e-4)
    raise ScanParameterError(
        "max_population_fraction",
        f"small enough for the windows to fit in memory ({estimate.describe()}, with "
        f"{_gib(budget)} available)", fraction,
        f"Use a smaller window (--max-population-fraction {smaller:.2g} would fit about), a "
        f"--max-radius{'' if max_radius is None else ' smaller than ' + format(max_radius, 'g')}"
        ", fewer ellipse shapes or angles, or the Dask centre-partitioned mode (each worker "
        "builds only its share of the centres); SCAN_MEMORY_LIMIT=<bytes, e.g. 32G> overrides "
        "the available memory read from /proc/meminfo",
        flag="--max-population-fraction")


# --- one candidate per centre -------------------------------------------------------------------

def best_row_per_centre(windows: Windows, statistic: np.ndarray, size: np.ndarray, *,
                        penalised: bool, rule: str = "spatial") -> np.ndarray | None:
    """For each centre, the row of its best window across the circle and the ellipses, as
    SaTScan chooses it; None when every centre has one row (circles only).

    ``statistic`` and ``size``: per row, the test statistic (LLR x the row's penalty) and size of
    the row's best window (the smallest one on ties).  Without a penalty the first row with the
    highest statistic wins (SaTScan keeps one running best over the offsets in order, replaced
    only by a strictly greater LLR).  With a penalty each shape (the circle, then each ellipse
    shape with all its angles) keeps its own best, the first row with the highest statistic;
    then ``rule="spatial"`` (purely spatial and prospective scans): starting from the circle, a
    later shape replaces the best only if its statistic exceeds it by more than 1e-9;
    ``rule="spacetime"`` (retrospective space-time): the highest statistic, then the fewer
    locations, then the earlier shape.
    """
    R = windows.rows_per_centre
    if R == 1:
        return None
    n_c = windows.n_rows // R
    stat = np.asarray(statistic, dtype=np.float64).reshape(n_c, R)
    base = np.arange(n_c, dtype=np.int64) * R
    if not penalised:
        return base + np.argmax(stat, axis=1)
    _, _, group = ellipse_offsets(windows.ellipse_shapes, windows.ellipse_angles)
    n_groups = int(group.max()) + 1
    cols = np.empty((n_c, n_groups), dtype=np.int64)
    for g in range(n_groups):
        members = np.flatnonzero(group == g)
        cols[:, g] = members[np.argmax(stat[:, members], axis=1)]
    best = np.take_along_axis(stat, cols, axis=1)
    top = np.zeros(n_c, dtype=np.int64)
    if rule == "spatial":
        top_value = best[:, 0].copy()
        for g in range(1, n_groups):
            better = (np.abs(best[:, g] - top_value) > TIE_TOLERANCE) & (best[:, g] > top_value)
            top[better] = g
            top_value[better] = best[better, g]
    else:
        sizes = np.take_along_axis(np.asarray(size).reshape(n_c, R), cols, axis=1)
        for i in range(n_c):
            top[i] = min(range(n_groups), key=lambda g: (-best[i, g], sizes[i, g], g))
    return base + cols[np.arange(n_c), top]


# --- geometry of a reported window --------------------------------------------------------------

def window_radius(coords: np.ndarray, coordinates: str, centre_xy, members: np.ndarray) -> float:
    """Distance from the centre point to the farthest member (coordinate units, km for
    latlong)."""
    pts = embed_points(np.asarray(coords, dtype=np.float64), coordinates)
    c = embed_points(np.asarray(centre_xy, dtype=np.float64).reshape(1, 2), coordinates)[0]
    d2 = ((pts[members] - c) ** 2).sum(axis=1)
    return float(chord2_to_distance(d2.max(), coordinates))


def window_geometry(windows: Windows, row: int, coords: np.ndarray, coordinates: str,
                    centre_xy, members: np.ndarray) -> dict:
    """The reported size of a window: ``{"radius": ...}`` for circle-only windows; for an
    elliptic analysis (every row, the circle included, as SaTScan reports them) also
    ``semi_minor`` (the transformed distance to the farthest member, SaTScan's E_MINOR) and
    ``semi_major`` (``semi_minor x shape``, E_MAJOR), and ``radius`` is the semi-minor axis
    (what ``max_radius`` caps)."""
    if not windows.elliptic:
        return {"radius": window_radius(coords, coordinates, centre_xy, members)}
    s = float(windows.shape[row])
    theta = math.radians(float(windows.angle[row]))
    if len(members) == 0:
        minor = 0.0
    else:
        xy = np.asarray(coords, dtype=np.float64)[np.asarray(members, dtype=np.int64)]
        dx = xy[:, 0] - float(centre_xy[0])
        dy = xy[:, 1] - float(centre_xy[1])
        u = (dx * math.cos(theta) + dy * math.sin(theta)) / s
        v = dy * math.cos(theta) - dx * math.sin(theta)
        minor = float(np.sqrt((u * u + v * v).max()))
    return {"radius": minor, "semi_minor": minor, "semi_major": minor * s}


def distance_units(coordinates: str, crs: str | None) -> str:
    """Units of radii and distances: km for latitude/longitude, the projected CRS's unit
    (m for British National Grid), else "coordinate units"."""
    if coordinates == "latlong":
        return "km"
    if crs is None:
        return "coordinate units"
    return _crs_unit(str(crs))


@functools.lru_cache(maxsize=32)
def _crs_unit(crs: str) -> str:
    from pyproj.exceptions import CRSError

    from ._crs import crs as crs_object

    try:
        name = crs_object(crs).axis_info[0].unit_name
    except (CRSError, IndexError):
        return "coordinate units"
    return {"metre": "m", "meter": "m", "kilometre": "km", "US survey foot": "US ft",
            "foot": "ft"}.get(name, name)
