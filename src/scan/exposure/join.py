"""Join exposure to a scan: values per location from grids or tables, then per cluster.

A location without a value (outside the grid, on a grid cell without a value, or empty, NaN,
-9999 or negative in a table) gets NaN: it is logged, left out of the per-cluster figures and
counted in each cluster's ``n_missing_inside`` / ``n_missing_outside`` (see
:func:`scan.exposure.summary.cluster_exposure`); :func:`missing_locations` counts them.
"""
from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ScanInputError

log = logging.getLogger(__name__)

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

        from ..io.text import read_text

        try:
            features = json.loads(read_text(path, what="boundaries GeoJSON")).get("features", [])
            if not isinstance(features, list):
                raise ValueError("'features' is not a list")
        except ScanInputError:
            raise
        except (ValueError, UnicodeError, AttributeError, OSError) as err:
            raise ScanInputError(f"not a GeoJSON FeatureCollection ({err})",
                                 file=str(path)) from None
        found = {}
        for k, feature in enumerate(features):
            props = (feature.get("properties") if isinstance(feature, dict) else None) or {}
            if key not in props:
                raise ScanInputError(f"feature {k} has no '{key}' property", file=str(path),
                                     field=key)
            try:
                found[str(props[key])] = to_bng(shapely.geometry.shape(feature["geometry"]))
            except Exception as err:  # shapely raises several types for a bad geometry
                raise ScanInputError(f"feature {k} has no valid geometry ({err})",
                                     file=str(path), field="geometry") from None
    else:
        import pandas as pd

        import io

        from ..io.text import read_text
        from .grids import unreadable

        what = "boundaries CSV"
        text = read_text(path, what=what)
        try:
            df = pd.read_csv(io.StringIO(text), dtype=str)
        except (ValueError, pd.errors.ParserError) as err:
            raise unreadable(path, err, what) from None
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


def missing_locations(values_by_pollutant: dict[str, np.ndarray]) -> dict[str, int]:
    """Number of locations without a value (NaN) for each pollutant."""
    return {k: int(np.isnan(np.asarray(v, float)).sum()) for k, v in values_by_pollutant.items()}


def values_from_table(area, table, source: str = "<table>") -> dict[str, np.ndarray]:
    """Per-location values from a DataFrame indexed by id (every study location must appear).
    NaN, -9999 and negative values become NaN (no value)."""
    from .grids import concentrations

    index = {str(k): i for i, k in enumerate(table.index)}
    missing = [i for i in area.ids if i not in index]
    if missing:
        raise ScanInputError(f"{len(missing)} study location(s) have no exposure value, e.g. "
                             f"'{missing[0]}'; the table must hold every location id",
                             file=source, field="id")
    rows = np.array([index[i] for i in area.ids], dtype=np.int64)
    try:
        return {str(col): concentrations(table[col].to_numpy(float)[rows])[0]
                for col in table.columns}
    except (TypeError, ValueError):
        raise ScanInputError("the exposure table holds values that are not numbers",
                             file=source) from None


def _is_location_table(path: Path) -> bool:
    """Whether a CSV is a per-location table (no x, y columns) rather than a LAEI grid.  The
    file is first checked as text (empty, binary, encoding) under the neutral name "exposure
    CSV", since which of the two it was meant to be is not known yet."""
    if path.suffix.lower() != ".csv":
        return False
    from .grids import text_encoding

    encoding = text_encoding(path, "exposure CSV")
    try:
        with open(path, newline="", encoding=encoding, errors="replace") as fh:
            header = fh.readline(1 << 20).lower().replace('"', "").strip().split(",")
    except OSError as err:
        raise ScanInputError(f"exposure CSV could not be read ({err.strerror or err})",
                             file=str(path)) from None
    return not {"x", "y"}.issubset(h.strip() for h in header)


def _split_spec(spec) -> tuple[str | None, Path]:
    """``FILE`` or ``POLLUTANT=FILE`` -> (canonical pollutant or None, path)."""
    from .grids import canonical_pollutant

    spec = str(spec)
    pollutant = None
    if "=" in spec and not Path(spec).exists():
        pollutant, spec = spec.split("=", 1)
        pollutant = canonical_pollutant(pollutant)
    return pollutant, Path(spec)


def check_exposure_file(spec: str | os.PathLike) -> None:
    """The checks of one exposure file that need no study area, cheap enough to run before a
    scan starts, so that a bad file is refused before the Monte Carlo run rather than after it.

    ``spec`` is ``FILE`` or ``POLLUTANT=FILE``.  Checks that the file exists and is readable text
    (or NetCDF-4), of a known kind, with a pollutant: a per-location table is read whole (they are
    small); a LAEI CSV's header row, an ESRI ASCII header (every value) and a NetCDF file's
    metadata (in a child process with a time limit) are read, not the grid.  Raises the same
    :class:`ScanInputError` / :class:`ScanParameterError` that :func:`load_exposure` would.
    """
    from ..io.text import check_readable
    from .grids import (_ASC_WHAT, _LAEI_WHAT, _NC_WHAT, _NETCDF_SUFFIXES, _check_hdf5_signature,
                        _csv_columns, _read_asc_header, _starts_with_ncols, _walk_hdf5,
                        pollutant_from_filename, text_encoding, unreadable)
    from .summary import read_location_table

    pollutant, path = _split_spec(spec)
    if not path.exists():
        raise ScanInputError("exposure file not found", file=str(path))
    check_readable(path, what="exposure file")
    suffix = path.suffix.lower()
    if suffix in _NETCDF_SUFFIXES:
        if path.stat().st_size == 0:
            raise ScanInputError(f"the file is empty; expected a {_NC_WHAT}", file=str(path))
        _check_hdf5_signature(path)
        try:
            _walk_hdf5(path)
        except ScanInputError:
            raise
        except Exception as err:
            raise unreadable(path, err, _NC_WHAT + "; it may be truncated or corrupt") from None
        return
    if _is_location_table(path):
        read_location_table(path)
        return
    if suffix == ".asc" or _starts_with_ncols(path):
        if pollutant is None:
            pollutant_from_filename(path)
        encoding = text_encoding(path, _ASC_WHAT)
        try:
            with open(path, encoding=encoding) as fh:
                _read_asc_header(fh, str(path))
        except ScanInputError:
            raise
        except (UnicodeError, OSError, ValueError) as err:
            raise unreadable(path, err, _ASC_WHAT) from None
        return
    if suffix in (".csv", ".txt"):
        if pollutant is None:
            pollutant_from_filename(path)
        encoding = text_encoding(path, _LAEI_WHAT)
        try:
            _csv_columns(path, encoding)
        except ScanInputError:
            raise
        except (ValueError, OSError, UnicodeError) as err:
            raise unreadable(path, err, _LAEI_WHAT) from None
        return
    raise ScanInputError(f"unknown grid format {suffix!r}; expected .csv (LAEI), .asc (ESRI ASCII) "
                         "or .nc (NetCDF)", file=str(path))


def load_exposure(area, spec: str | os.PathLike, *, year: int | None = None, polygons=None
                  ) -> tuple[dict[str, np.ndarray], object]:
    """Per-location values from ``FILE`` or ``POLLUTANT=FILE``; returns (values, grid or None).

    A grid (LAEI CSV, ESRI ASCII, NetCDF written by scan) is clipped on read to the study area
    plus a margin and sampled at the points; a CSV without x/y columns is a per-location table
    ``id,<pollutant>,...`` (or the LAEI per-area summary layout ``<POLL>-<YEAR>-mean``, for
    which ``year`` picks the LAEI year).  With ``polygons`` (:func:`read_boundaries`) a grid is
    averaged over each location's polygon instead of read at its point.
    """
    from .grids import read_grid
    from .summary import read_location_table

    pollutant, path = _split_spec(spec)
    if path.is_dir():
        raise ScanInputError("is a folder, not an exposure file", file=str(path))
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
        _log_missing(values, path)
        return values, None
    bbox = study_bbox(area)
    if polygons is not None:
        xmin, ymin, xmax, ymax = np.array([p.bounds for p in polygons]).T
        bbox = (min(bbox[0], xmin.min()), min(bbox[1], ymin.min()),
                max(bbox[2], xmax.max()), max(bbox[3], ymax.max()))
    ds = read_grid(path, pollutant=pollutant, bbox=bbox)
    values = values_from_grid(area, ds, polygons)
    _log_missing(values, path)
    return values, ds


def _log_missing(values: dict[str, np.ndarray], path: Path) -> None:
    for pollutant, n in missing_locations(values).items():
        if n:
            log.warning("%s: %d of %d study locations have no %s value (outside the grid, on "
                        "cells without a value, or empty/NaN/-9999/negative in the table); they "
                        "are left out of the cluster exposure figures", path, n,
                        len(values[pollutant]), pollutant)


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
