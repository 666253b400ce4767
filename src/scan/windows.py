"""Scanning windows: circles centred on each location, grown one nearest neighbour at a time.

For every centre the locations are ordered by distance; at equal distance the location with the
lesser coordinates comes first (x, then y; for latlong data the 3-D Cartesian x, y, z that SaTScan
converts latitude/longitude to), then the lower index.  A circle is every prefix of that order
whose population at risk stays within the cap (``cumulative <= max_population_fraction * total``,
inclusive; the circle stops at the first neighbour that would exceed it, as SaTScan does) and,
optionally, whose farthest member is within ``max_radius`` (inclusive).

SaTScan's conventions for latitude/longitude are followed exactly: points on a sphere of radius
6,367 km, straight-line (chord) distances for ordering and for the radius cap, and the reported
radius is the great-circle arc ``2 R asin(chord / 2R)``.

The result is one compressed-sparse-row structure shared by every analysis: a **row** is a
centre with a shape and an angle (circles: shape 1, angle 0; centre ``i`` of the default rows is
location ``i``), and window ``k`` of row ``r`` is the first ``k + 1`` entries of
``neighbors[offsets[r]:offsets[r + 1]]``.  Space-time scans add a time interval to each window; a
focused inquiry uses rows centred on given points; the purely temporal scan is the single row
of :meth:`Windows.single`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numba as nb
import numpy as np

from .errors import ScanParameterError

EARTH_RADIUS_KM = 6367.0
"""SaTScan's Earth radius (km) for latitude/longitude data."""


@dataclass(frozen=True, eq=False)
class Windows:
    """Scanning windows in CSR form, one row per (centre, shape, angle).

    offsets : (n_rows + 1,) int64.  neighbors : int32 location indices, nearest first.
    centre : (n_rows,) int64 location index of each row's centre, -1 when the centre is a point
    that is not a location (a focus) or the whole area.  centre_xy : (n_rows, 2) the centre's
    coordinates (as the data's).  shape : (n_rows,) ratio of the axes, 1 for circles.
    angle : (n_rows,) degrees.
    """

    offsets: np.ndarray
    neighbors: np.ndarray
    max_population_fraction: float
    max_radius: float | None
    centre: np.ndarray | None = None
    centre_xy: np.ndarray | None = None
    shape: np.ndarray | None = None
    angle: np.ndarray | None = None

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
        members = np.asarray(members, dtype=np.int32)
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

    def members(self, row: int, size: int) -> np.ndarray:
        start = self.offsets[row]
        return self.neighbors[start:start + size]

    def centre_of(self, row: int, coords: np.ndarray) -> tuple[float, float]:
        """The row's centre coordinates."""
        if self.centre_xy is not None:
            return float(self.centre_xy[row, 0]), float(self.centre_xy[row, 1])
        i = int(self.centre[row])
        return float(coords[i, 0]), float(coords[i, 1])


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


def build_windows(coords: np.ndarray, weight: np.ndarray, *, coordinates: str = "cartesian",
                  max_population_fraction: float = 0.5,
                  max_radius: float | None = None, centres: np.ndarray | None = None) -> Windows:
    """Circular windows around every location (or around the points ``centres``).

    Parameters
    ----------
    coords : (n, 2) coordinates (x, y or longitude, latitude).
    weight : (n,) population at risk for the size cap: SaTScan's "measure", i.e. the expected
        counts for the Poisson model (covariate-adjusted when strata are given) and cases +
        controls for the Bernoulli model.
    max_population_fraction : in (0, 0.5]; the largest share of the total population a circle
        may hold.
    max_radius : optional largest radius (coordinate units, km for latlong), inclusive.
    centres : optional (k, 2) points, in the coordinates of ``coords``, to centre the rows on
        instead of the locations (a focused inquiry); their rows have ``centre = -1``.
    """
    if not (0.0 < max_population_fraction <= 0.5):
        raise ScanParameterError("max_population_fraction", "in (0, 0.5]",
                                 max_population_fraction,
                                 "SaTScan allows circles of up to 50% of the population at risk")
    if max_radius is not None and not (max_radius > 0 and np.isfinite(max_radius)):
        raise ScanParameterError("max_radius", "a positive finite distance or None", max_radius)
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
    if centres is None:
        centre, centre_xy = np.arange(n, dtype=np.int64), np.asarray(coords, dtype=np.float64)
    else:
        centre = np.full(n_rows, -1, dtype=np.int64)
        centre_xy = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    return Windows(offsets=offsets, neighbors=neighbors,
                   max_population_fraction=max_population_fraction, max_radius=max_radius,
                   centre=centre, centre_xy=centre_xy)


def window_radius(coords: np.ndarray, coordinates: str, centre_xy, members: np.ndarray) -> float:
    """Distance from the centre point to the farthest member (coordinate units, km for
    latlong)."""
    pts = embed_points(np.asarray(coords, dtype=np.float64), coordinates)
    c = embed_points(np.asarray(centre_xy, dtype=np.float64).reshape(1, 2), coordinates)[0]
    d2 = ((pts[members] - c) ** 2).sum(axis=1)
    return float(chord2_to_distance(d2.max(), coordinates))


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
