"""Deterministic LAEI-like concentration grids for an embedded borough shaped like Barking and
Dagenham (London Borough, E09000002).

Concentration at a cell centre (x, y), for each pollutant::

    c(x, y) = background(x) + sum over roads r of  peak_r * exp(-d_r / NEAR_DECAY_M)
                                                 + broad_r * exp(-d_r / BROAD_DECAY_M)

``background`` rises linearly westwards (towards central London) from ``east`` at the eastern
edge of the borough to ``west`` at its western edge; ``d_r`` is the distance in metres from the
cell centre to road ``r`` (a shapely LineString in :data:`ROADS`).  No randomness.

The levels are set to the LAEI 2019 modelled annual means summarised by LSOA for the real
borough (/work/shared/data/real/lbbd_lsoa11_laei_concentration_summary.csv): LSOA means of
NO2 ≈ 22–32 µg/m³ with maxima up to ≈ 110 near roads; PM10 ≈ 14–19; PM2.5 ≈ 10–11.4.
They are a plausible stand-in for demonstrations and tests, not a model of the real air.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString

from .grids import make_dataset

BOROUGH_EXTENT = (543_400.0, 180_700.0, 551_900.0, 191_200.0)  # (xmin, ymin, xmax, ymax), m

# Roads as LineStrings in British National Grid metres (they run past the extent on purpose,
# so there is no artificial road end inside the study area).
ROADS: dict[str, LineString] = {
    # A13: east-west across the middle-south of the borough.
    "A13": LineString([(542_500, 184_000), (544_500, 183_800), (546_500, 183_600),
                       (548_500, 183_300), (550_500, 183_100), (552_900, 182_900)]),
    # A406 North Circular: north-south along the western edge.
    "A406": LineString([(543_700, 179_700), (543_650, 182_500), (543_600, 184_200),
                        (543_550, 186_500), (543_650, 189_000), (543_750, 192_200)]),
    # A12 Eastern Avenue: east-west in the north.
    "A12": LineString([(542_400, 190_500), (545_000, 190_200), (547_500, 189_900),
                       (550_000, 189_600), (552_900, 189_500)]),
}

NEAR_DECAY_M = 50.0    # e-folding distance of the kerbside plume, metres
BROAD_DECAY_M = 600.0  # e-folding distance of the neighbourhood-scale road increment, metres


@dataclass(frozen=True)
class PollutantLevels:
    """Background and road increments of one pollutant, µg/m³."""

    east: float                 # background at the eastern edge of the borough
    west: float                 # background at the western edge
    peak: dict[str, float]      # kerbside increment on each road's centreline
    broad: dict[str, float]     # neighbourhood-scale increment on each road's centreline


LEVELS: dict[str, PollutantLevels] = {
    "NO2": PollutantLevels(east=21.5, west=26.0,
                           peak={"A13": 55.0, "A406": 60.0, "A12": 45.0},
                           broad={"A13": 4.0, "A406": 5.0, "A12": 3.0}),
    "PM10": PollutantLevels(east=14.4, west=16.0,
                            peak={"A13": 9.0, "A406": 10.0, "A12": 7.0},
                            broad={"A13": 0.8, "A406": 0.9, "A12": 0.6}),
    "PM25": PollutantLevels(east=9.75, west=10.6,
                            peak={"A13": 3.2, "A406": 3.6, "A12": 2.5},
                            broad={"A13": 0.3, "A406": 0.35, "A12": 0.25}),
}


def road_distances(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Distance in metres from each point ``(x[i], y[i])`` to each road in :data:`ROADS`."""
    points = shapely.points(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return {name: shapely.distance(points, line) for name, line in ROADS.items()}


def _concentration(levels: PollutantLevels, x: np.ndarray, distances: dict[str, np.ndarray],
                   extent: tuple[float, float, float, float]) -> np.ndarray:
    west_share = (extent[2] - x) / (extent[2] - extent[0])  # 0 at the east edge, 1 at the west
    c = levels.east + (levels.west - levels.east) * west_share
    for name, d in distances.items():
        c = c + levels.peak[name] * np.exp(-d / NEAR_DECAY_M) \
              + levels.broad[name] * np.exp(-d / BROAD_DECAY_M)
    return c


def synthetic_laei(extent: tuple[float, float, float, float] = BOROUGH_EXTENT,
                   resolution: float = 20.0, margin: float = 500.0):
    """LAEI-like annual-mean NO2, PM10 and PM25 grids (µg/m³) over the embedded borough.

    Parameters
    ----------
    extent : ``(xmin, ymin, xmax, ymax)`` of the study area in BNG metres.
    resolution : cell size in metres (LAEI publishes 20 m grids).
    margin : metres added on every side, so points near the edge can still be interpolated.

    Returns
    -------
    xarray.Dataset in the layout of :func:`scan.exposure.grids.read_grid`.
    """
    xmin, ymin, xmax, ymax = (float(v) for v in extent)
    x = np.arange(xmin - margin + resolution / 2, xmax + margin, resolution)
    y = np.arange(ymin - margin + resolution / 2, ymax + margin, resolution)
    xx, yy = np.meshgrid(x, y)
    distances = road_distances(xx.ravel(), yy.ravel())
    arrays = {name: _concentration(levels, xx.ravel(), distances, (xmin, ymin, xmax, ymax))
                    .reshape(yy.shape)
              for name, levels in LEVELS.items()}
    return make_dataset(arrays, x, y, source="scan.exposure.synthetic_laei",
                        extra_attrs={"note": "synthetic, deterministic; not real LAEI data"})
