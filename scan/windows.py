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

The result is one compressed-sparse-row structure (``offsets``, ``neighbors``) shared by every
analysis: the purely spatial scan reads window ``k`` of centre ``i`` as the first ``k + 1``
entries of ``neighbors[offsets[i]:offsets[i + 1]]``; space-time scans add a time interval to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .errors import ScanParameterError

EARTH_RADIUS_KM = 6367.0
"""SaTScan's Earth radius (km) for latitude/longitude data."""


@dataclass(frozen=True, eq=False)
class Windows:
    """Circular windows in CSR form.

    offsets : (n_centres + 1,) int64; neighbors : int32 location indices, nearest first;
    centres : (n_centres,) int64 location index of each centre; radius2 : squared distance of
    each neighbor from its centre, in the units of :func:`embed_points` (for reporting radii).
    """

    offsets: np.ndarray
    neighbors: np.ndarray
    centres: np.ndarray
    max_population_fraction: float
    max_radius: float | None

    @property
    def n_windows(self) -> int:
        return int(self.offsets[-1])

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def members(self, centre: int, size: int) -> np.ndarray:
        start = self.offsets[centre]
        return self.neighbors[start:start + size]


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
    """Sort candidate indices by (distance, x, y, index): argsort by distance, then fix ties."""
    order = cand[np.argsort(d2[cand], kind="mergesort")]
    m = order.shape[0]
    for p in range(1, m):  # insertion sort: ties are short runs, so this is near-linear
        v = order[p]
        q = p - 1
        while q >= 0 and _precedes(d2[v], v, d2[order[q]], order[q], pts):
            order[q + 1] = order[q]
            q -= 1
        order[q + 1] = v
    return order


@nb.njit(cache=True)
def _window_of_centre(i, pts, weight, cap, r2max, k_guess):
    """Ordered members of centre i's largest allowed circle."""
    n = pts.shape[0]
    d2 = np.empty(n)
    for j in range(n):
        s = 0.0
        for t in range(pts.shape[1]):
            diff = pts[j, t] - pts[i, t]
            s += diff * diff
        d2[j] = s
    k = min(n, max(k_guess, 8))
    while True:
        if k >= n:
            cand = np.arange(n)
        else:
            thr = np.partition(d2, k - 1)[k - 1]
            cand = np.flatnonzero(d2 <= thr)
        order = _sorted_candidates(d2, cand, pts)
        total = 0.0
        length = 0
        for p in range(order.shape[0]):
            j = order[p]
            total += weight[j]
            if total > cap or d2[j] > r2max:
                return order[:length]
            length += 1
        if cand.shape[0] >= n:
            return order
        k = 2 * k


@nb.njit(parallel=True, cache=True)
def _window_lengths(pts, weight, cap, r2max, k_guess, out):
    for i in nb.prange(pts.shape[0]):
        out[i] = _window_of_centre(i, pts, weight, cap, r2max, k_guess).shape[0]


@nb.njit(parallel=True, cache=True)
def _fill_windows(pts, weight, cap, r2max, offsets, neighbors):
    for i in nb.prange(pts.shape[0]):
        length = offsets[i + 1] - offsets[i]
        members = _window_of_centre(i, pts, weight, cap, r2max, length + 1)
        neighbors[offsets[i]:offsets[i + 1]] = members[:length]


def build_windows(coords: np.ndarray, weight: np.ndarray, *, coordinates: str = "cartesian",
                  max_population_fraction: float = 0.5,
                  max_radius: float | None = None) -> Windows:
    """Circular windows around every location.

    Parameters
    ----------
    coords : (n, 2) coordinates (x, y or longitude, latitude).
    weight : (n,) population at risk for the size cap: SaTScan's "measure", i.e. the expected
        counts for the Poisson model (covariate-adjusted when strata are given) and cases +
        controls for the Bernoulli model.
    max_population_fraction : in (0, 0.5]; the largest share of the total population a circle
        may hold.
    max_radius : optional largest radius (coordinate units, km for latlong), inclusive.
    """
    if not (0.0 < max_population_fraction <= 0.5):
        raise ScanParameterError("max_population_fraction", "in (0, 0.5]",
                                 max_population_fraction,
                                 "SaTScan allows circles of up to 50% of the population at risk")
    if max_radius is not None and not (max_radius > 0 and np.isfinite(max_radius)):
        raise ScanParameterError("max_radius", "a positive finite distance or None", max_radius)
    pts = embed_points(np.asarray(coords, dtype=np.float64), coordinates)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    n = len(weight)
    cap = max_population_fraction * weight.sum()
    r2max = np.inf if max_radius is None else distance_to_chord2(max_radius, coordinates)
    if max_radius is not None:
        r2max *= 1.0 + 1e-12  # inclusive of a neighbour exactly at the radius, despite rounding
    k_guess = int(1.5 * max_population_fraction * n) + 16
    lengths = np.empty(n, dtype=np.int64)
    _window_lengths(pts, weight, cap, r2max, k_guess, lengths)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    neighbors = np.empty(offsets[-1], dtype=np.int32)
    _fill_windows(pts, weight, cap, r2max, offsets, neighbors)
    return Windows(offsets=offsets, neighbors=neighbors, centres=np.arange(n, dtype=np.int64),
                   max_population_fraction=max_population_fraction, max_radius=max_radius)


def window_radius(coords: np.ndarray, coordinates: str, centre: int, members: np.ndarray) -> float:
    """Distance from the centre to the farthest member (coordinate units, km for latlong)."""
    pts = embed_points(np.asarray(coords, dtype=np.float64), coordinates)
    d2 = ((pts[members] - pts[centre]) ** 2).sum(axis=1)
    return float(chord2_to_distance(d2.max(), coordinates))
