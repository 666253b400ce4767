"""Write a scan result into a folder, through one table of writers (``formats=``).

Everything is written into a temporary folder beside the target and swapped into place at the
end (:mod:`scan.io.atomic`), so an interrupted run never leaves half a result: the folder
either holds a complete result or is untouched.  A writer is one entry of :data:`WRITERS`:
``writer(result, folder, context) -> list of file names``.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .atomic import atomic_folder
from .gis import write_gpkg, write_kml, write_shp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteContext:
    """What writers may draw beside the result: a pollutant grid for the map (a DataArray in
    British National Grid), the study area's outline and the locations' polygons (shapely, in
    the data's CRS)."""

    map_grid: Any = None
    pollutant: str = "NO2"
    outline: Any = None
    polygons: Sequence | None = None


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _finite(value):
    """JSON has no Infinity or NaN: write them as null (numpy floats too)."""
    kind = type(value)
    if kind is float or kind is np.float64:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {k: _finite(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        if all(type(v) is float and math.isfinite(v) for v in value):
            return value            # a coordinate pair or a list of numbers: as it is
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(data: dict, *, indent: int | None = 2) -> str:
    """JSON without NaN or Infinity (written as null); ``indent=None`` for large machine-read
    files such as GeoJSON (the C encoder, several times faster)."""
    return json.dumps(_finite(data), indent=indent, default=_json_default, allow_nan=False)


# --- GeoJSON ----------------------------------------------------------------------------------

def _to_wgs84(area):
    """A function mapping native (x, y) arrays to (lon, lat), or None without a CRS."""
    if area.coordinates == "latlong":
        return lambda x, y: (np.asarray(x), np.asarray(y))
    if area.crs is None:
        return None
    from .._crs import transformer

    t = transformer(area.crs)
    return lambda x, y: t.transform(np.asarray(x), np.asarray(y))


def _geometry_to_wgs84(area, geom) -> dict:
    """A shapely geometry in the data's CRS as a GeoJSON geometry in WGS84 (rings oriented as
    RFC 7946 asks: exterior counter-clockwise)."""
    import shapely

    transform = _to_wgs84(area)
    moved = shapely.transform(geom, lambda xy: np.column_stack(transform(xy[:, 0], xy[:, 1])))
    moved = shapely.orient_polygons(moved) if hasattr(shapely, "orient_polygons") else moved
    return shapely.geometry.mapping(moved)


def _member_names(result, c) -> list[str] | None:
    names = getattr(result.area, "names", None)
    return None if names is None else [str(names[i]) for i in c.member_indices]


def clusters_geojson(result, polygons=None) -> dict | None:
    """Clusters as GeoJSON polygons in WGS84 (RFC 7946), or None without a CRS: each cluster's
    circle (grown just enough that its farthest member lies strictly inside; a one-location
    cluster gets a small area), or with ``polygons`` (one per location, in the data's CRS) the union of its members'
    polygons, so that every member lies inside it (a points-in-polygon join never drops one)."""
    area = result.area
    if area.coordinates == "cartesian" and area.crs is None:
        return None
    features = []
    for c in result.clusters:
        props = c.to_dict()
        names = _member_names(result, c)
        if names is not None:
            props["member_names"] = names
        if polygons is not None:
            import shapely

            union = shapely.union_all([polygons[i] for i in c.member_indices])
            geometry = _geometry_to_wgs84(area, union)
        else:   # the circle (or ellipse), every member strictly inside
            from .gis import cluster_geojson_geometry

            geometry = cluster_geojson_geometry(area, c)
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def locations_geojson(result, polygons=None) -> dict | None:
    """Locations as GeoJSON in WGS84: points, or their polygons when ``polygons`` are given;
    properties as locations.csv (names included when the data has them)."""
    transform = _to_wgs84(result.area)
    if transform is None:
        return None
    columns = result.location_columns()
    names = list(columns)
    values = [np.asarray(columns[name]).tolist() for name in names]
    lon, lat = transform(result.area.coords[:, 0], result.area.coords[:, 1])
    features = []
    for k, row in enumerate(zip(*values)):
        geometry = (_geometry_to_wgs84(result.area, polygons[k]) if polygons is not None else
                    {"type": "Point", "coordinates": [float(lon[k]), float(lat[k])]})
        features.append({"type": "Feature", "geometry": geometry,
                         "properties": dict(zip(names, row))})
    return {"type": "FeatureCollection", "features": features}


# --- the writers ------------------------------------------------------------------------------

def _write_csv(result, folder: Path, context: WriteContext) -> list[str]:
    from .table import rows_to_columns, write_csv

    clusters = rows_to_columns(*result.cluster_rows())
    if getattr(result.area, "names", None) is not None and result.clusters:
        clusters["member_names"] = np.array(["; ".join(_member_names(result, c))
                                             for c in result.clusters], dtype=object)
    write_csv(folder / "clusters.csv", clusters)
    write_csv(folder / "locations.csv", result.location_columns())
    return ["clusters.csv", "locations.csv"]


def _write_geojson(result, folder: Path, context: WriteContext) -> list[str]:
    geo = clusters_geojson(result, context.polygons)
    if geo is None:
        log.info("GeoJSON not written: the coordinates have no CRS")
        return []
    (folder / "clusters.geojson").write_text(to_json(geo, indent=None))
    (folder / "locations.geojson").write_text(
        to_json(locations_geojson(result, context.polygons), indent=None))
    return ["clusters.geojson", "locations.geojson"]


def _write_summary(result, folder: Path, context: WriteContext) -> list[str]:
    (folder / "summary.txt").write_text(result.summary() + "\n")
    return ["summary.txt"]


def _write_map(result, folder: Path, context: WriteContext) -> list[str]:
    if result.area.coordinates != "latlong" and result.area.crs is None:
        return []
    from ..report.maps import write_map

    try:
        write_map(result, folder / "map.png", grid=context.map_grid, outline=context.outline,
                  pollutant=context.pollutant, polygons=context.polygons)
    except Exception as exc:  # a map is a convenience; never lose the numbers for it
        log.warning("map not written: %s", exc)
        return []
    return ["map.png"]


Writer = Callable[[Any, Path, WriteContext], list]

WRITERS: dict[str, Writer] = {
    "csv": _write_csv,
    "geojson": _write_geojson,
    "gpkg": write_gpkg,
    "shp": write_shp,
    "kml": write_kml,
    "summary": _write_summary,
    "map": _write_map,
}
"""Output formats by name.  result.json is always written, last, listing the files."""

DEFAULT_FORMATS: tuple[str, ...] = ("csv", "geojson", "gpkg", "summary", "map")


def check_formats(formats) -> tuple[str, ...]:
    from ..errors import ScanParameterError

    if formats is None:
        return DEFAULT_FORMATS
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    formats = tuple(dict.fromkeys(f for f in formats if f != "json"))
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ScanParameterError("formats", "a list of " + ", ".join(["json", *WRITERS]),
                                 ",".join(unknown), flag="--formats")
    return formats


def write_result(result, out: str | os.PathLike, *, formats=None, map_grid=None, outline=None,
                 pollutant: str = "NO2", polygons=None,
                 extra_files: dict[str, str] | None = None) -> Path:
    """Write the outputs of ``result`` into the folder ``out`` (replaced atomically).

    Parameters
    ----------
    result : ScanResult
    out : path of the output folder: a new path, an empty folder or a folder scan wrote
        (anything else is refused; see :mod:`scan.io.atomic`).
    formats : names from :data:`WRITERS` (default :data:`DEFAULT_FORMATS`: clusters.csv and
        locations.csv, clusters.geojson and locations.geojson in WGS84 when the coordinates
        have a CRS, summary.txt, map.png); ``result.json`` (clusters most likely first, seed,
        null distribution, parameters, sections) is always written.
    map_grid, pollutant, outline, polygons : drawn on the map (:class:`WriteContext`); with
        ``polygons`` (one per location, in the data's CRS) the GeoJSON holds the locations'
        polygons and each cluster as the union of its members' polygons, and the map draws them.
    extra_files : file name -> text, written too (a batch adds its ``analysis.json``).

    Returns
    -------
    Path of the folder.
    """
    formats = check_formats(formats)
    with atomic_folder(out) as tmp:
        write_result_into(result, tmp, formats=formats, map_grid=map_grid, outline=outline,
                          pollutant=pollutant, polygons=polygons, extra_files=extra_files)
    return Path(out)


def write_result_into(result, folder: Path, *, formats=None, map_grid=None, outline=None,
                      pollutant: str = "NO2", polygons=None,
                      extra_files: dict[str, str] | None = None) -> list[str]:
    """Write the outputs of ``result`` into the existing folder ``folder`` (no atomic swap:
    for a folder that is itself being written atomically, such as an inquiry's or the demo's);
    returns the names of the files written, result.json first.  Options as
    :func:`write_result`."""
    formats = check_formats(formats)
    context = WriteContext(map_grid=map_grid, pollutant=pollutant, outline=outline,
                           polygons=polygons)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    for name in formats:
        files += WRITERS[name](result, folder, context)
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text)
        files.append(name)
    data = result.to_json_dict()
    data["files"] = ["result.json", *files]
    (folder / "result.json").write_text(to_json(data))
    return ["result.json", *files]
