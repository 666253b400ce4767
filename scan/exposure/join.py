"""Join exposure to a scan: values per location from grids or tables, then per cluster."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ScanInputError

GRID_CRS = "EPSG:27700"
BBOX_MARGIN_M = 2_000.0


def points_in_grid_crs(area) -> tuple[np.ndarray, np.ndarray]:
    """The locations in British National Grid metres (the grids' CRS)."""
    x, y = area.coords[:, 0], area.coords[:, 1]
    source = "EPSG:4326" if area.coordinates == "latlong" else area.crs
    if source is None:
        raise ScanInputError("the study area's coordinates have no CRS, so they cannot be placed "
                             "on a pollutant grid; pass crs='EPSG:27700' (CLI --crs EPSG:27700)")
    if source.upper() == GRID_CRS:
        return np.asarray(x, float), np.asarray(y, float)
    import pyproj

    t = pyproj.Transformer.from_crs(source, GRID_CRS, always_xy=True)
    gx, gy = t.transform(x, y)
    return np.asarray(gx, float), np.asarray(gy, float)


def study_bbox(area, margin: float = BBOX_MARGIN_M) -> tuple[float, float, float, float]:
    x, y = points_in_grid_crs(area)
    return (x.min() - margin, y.min() - margin, x.max() + margin, y.max() + margin)


def values_from_grid(area, ds) -> dict[str, np.ndarray]:
    """Each pollutant of the grid Dataset sampled (bilinear) at every location's point."""
    from .summary import sample_points

    x, y = points_in_grid_crs(area)
    return {name: sample_points(ds[name], x, y) for name in ds.data_vars}


def values_from_table(area, table, source: str = "<table>") -> dict[str, np.ndarray]:
    """Per-location values from a DataFrame indexed by id (every study location must appear)."""
    index = {str(k): i for i, k in enumerate(table.index)}
    missing = [i for i in area.ids if i not in index]
    if missing:
        raise ScanInputError(f"{len(missing)} study location(s) have no exposure value, e.g. "
                             f"'{missing[0]}'; the table must hold every location id",
                             file=source, field="id")
    rows = np.array([index[i] for i in area.ids])
    return {str(col): table[col].to_numpy(float)[rows] for col in table.columns}


def _is_location_table(path: Path) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = fh.readline().lower().replace('"', "").strip().split(",")
    return not {"x", "y"}.issubset(header)


def load_exposure(area, spec: str | os.PathLike, *, year: int | None = None
                  ) -> tuple[dict[str, np.ndarray], object]:
    """Per-location values from ``FILE`` or ``POLLUTANT=FILE``; returns (values, grid or None).

    A grid (LAEI CSV, ESRI ASCII, NetCDF written by scan) is clipped on read to the study area
    plus a margin and sampled at the points; a CSV without x/y columns is a per-location table
    ``id,<pollutant>,...`` (or the LAEI per-area summary layout ``<POLL>-<YEAR>-mean``, for
    which ``year`` picks the LAEI year).
    """
    from .grids import canonical_pollutant, read_grid
    from .summary import read_location_table

    spec = str(spec)
    pollutant = None
    if "=" in spec and not Path(spec).exists():
        pollutant, spec = spec.split("=", 1)
        pollutant = canonical_pollutant(pollutant)
    path = Path(spec)
    if not path.exists():
        raise ScanInputError("exposure file not found", file=str(path))
    if _is_location_table(path):
        table = read_location_table(path, year=year)
        values = values_from_table(area, table, str(path))
        if pollutant is not None:
            if len(values) != 1 and pollutant not in values:
                raise ScanInputError(f"the table has columns {sorted(values)}; name one of them",
                                     file=str(path))
            values = {pollutant: values.get(pollutant, next(iter(values.values())))}
        return values, None
    ds = read_grid(path, pollutant=pollutant, bbox=study_bbox(area))
    return values_from_grid(area, ds), ds


def with_exposure(result, values_by_pollutant: dict[str, np.ndarray]):
    """A copy of ``result`` whose clusters carry an ``exposure`` dict keyed by pollutant."""
    from .summary import cluster_exposure

    population = result.area.population
    clusters = []
    for c in result.clusters:
        exposure = dict(c.exposure or {})
        for pollutant, values in values_by_pollutant.items():
            exposure[pollutant] = cluster_exposure(values, population, c.member_indices,
                                                   pollutant=pollutant)
        clusters.append(replace(c, exposure=exposure))
    return result.with_clusters(clusters)
