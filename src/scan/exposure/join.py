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


def values_from_grid(area, ds, polygons=None) -> dict[str, np.ndarray]:
    """Each pollutant of the grid Dataset at every location: the mean over the location's
    polygon when ``polygons`` (in the grid's CRS, in the area's order) are given, else the
    bilinear value at its point."""
    from .summary import polygon_means, sample_points

    if polygons is not None:
        return {name: polygon_means(ds[name], polygons) for name in ds.data_vars}
    x, y = points_in_grid_crs(area)
    return {name: sample_points(ds[name], x, y) for name in ds.data_vars}


def read_boundaries(area, path: str | os.PathLike, *, id_column: str | None = None) -> list:
    """One polygon per study location, in the area's order and in British National Grid.

    A CSV with an id column (``id_column``, else ``id`` or the first column) and a ``geometry``
    column of WKT in EPSG:27700 (as the LSOA boundary extracts), or a GeoJSON FeatureCollection
    in WGS84 whose features carry the id in ``properties.id`` (or ``id_column``).
    """
    import shapely

    path = Path(path)
    if not path.exists():
        raise ScanInputError("boundaries file not found", file=str(path))
    if path.suffix.lower() not in (".geojson", ".json", ".csv"):   # GeoPackage, shapefile, ...
        from ..io.boundaries import read_boundaries as read_any

        return list(read_any(path, ids=list(area.ids), id_column=id_column)
                    .to_crs(GRID_CRS).polygons)
    if path.suffix.lower() in (".geojson", ".json"):
        import json

        import pyproj

        key = id_column or "id"
        t = pyproj.Transformer.from_crs("EPSG:4326", GRID_CRS, always_xy=True)

        def to_bng(geom):
            return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))

        found = {}
        for k, feature in enumerate(json.loads(path.read_text()).get("features", [])):
            props = feature.get("properties") or {}
            if key not in props:
                raise ScanInputError(f"feature {k} has no '{key}' property", file=str(path),
                                     field=key)
            found[str(props[key])] = to_bng(shapely.geometry.shape(feature["geometry"]))
    else:
        import pandas as pd

        df = pd.read_csv(path, dtype=str)
        if "geometry" not in df.columns:
            raise ScanInputError(f"no 'geometry' column (WKT); columns are {', '.join(df.columns)}",
                                 file=str(path), line=1)
        key = id_column or ("id" if "id" in df.columns else df.columns[0])
        found = {}
        for row, (ident, wkt) in enumerate(zip(df[key], df["geometry"]), start=2):
            try:
                found[str(ident)] = shapely.from_wkt(wkt)
            except Exception:
                raise ScanInputError("not a WKT geometry", file=str(path), line=row,
                                     field="geometry") from None
    missing = [i for i in area.ids if i not in found]
    if missing:
        raise ScanInputError(f"{len(missing)} study location(s) have no boundary, e.g. "
                             f"'{missing[0]}'", file=str(path), field=key)
    return [found[i] for i in area.ids]


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


def load_exposure(area, spec: str | os.PathLike, *, year: int | None = None, polygons=None
                  ) -> tuple[dict[str, np.ndarray], object]:
    """Per-location values from ``FILE`` or ``POLLUTANT=FILE``; returns (values, grid or None).

    A grid (LAEI CSV, ESRI ASCII, NetCDF written by scan) is clipped on read to the study area
    plus a margin and sampled at the points; a CSV without x/y columns is a per-location table
    ``id,<pollutant>,...`` (or the LAEI per-area summary layout ``<POLL>-<YEAR>-mean``, for
    which ``year`` picks the LAEI year).  With ``polygons`` (:func:`read_boundaries`) a grid is
    averaged over each location's polygon instead of read at its point.
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
    bbox = study_bbox(area)
    if polygons is not None:
        xmin, ymin, xmax, ymax = np.array([p.bounds for p in polygons]).T
        bbox = (min(bbox[0], xmin.min()), min(bbox[1], ymin.min()),
                max(bbox[2], xmax.max()), max(bbox[3], ymax.max()))
    ds = read_grid(path, pollutant=pollutant, bbox=bbox)
    return values_from_grid(area, ds, polygons), ds


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
