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

log = logging.getLogger(__name__)

CIRCLE_SEGMENTS = 64


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
    """JSON has no Infinity or NaN: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(data: dict) -> str:
    return json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False)


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


def circle_ring(area, cluster) -> list[list[float]] | None:
    """The cluster circle as a closed lon/lat ring (counter-clockwise, as RFC 7946 asks)."""
    angles = np.linspace(0.0, 2 * np.pi, CIRCLE_SEGMENTS, endpoint=False)
    if area.coordinates == "latlong":
        import pyproj

        from ..windows import EARTH_RADIUS_KM

        geod = pyproj.Geod(a=EARTH_RADIUS_KM * 1000.0, b=EARTH_RADIUS_KM * 1000.0)
        azimuths = 90.0 - np.degrees(angles)  # counter-clockwise from east
        r = np.full_like(angles, max(cluster.radius, 1e-6) * 1000.0)
        lon, lat, _ = geod.fwd(np.full_like(angles, cluster.center_x),
                               np.full_like(angles, cluster.center_y), azimuths, r)
    else:
        transform = _to_wgs84(area)
        if transform is None:
            return None
        r = max(cluster.radius, 1e-6)
        lon, lat = transform(cluster.center_x + r * np.cos(angles),
                             cluster.center_y + r * np.sin(angles))
    ring = [[float(a), float(b)] for a, b in zip(lon, lat)]
    return ring + [ring[0]]


def clusters_geojson(result) -> dict | None:
    """Cluster circles as GeoJSON polygons in WGS84 (RFC 7946), or None without a CRS."""
    area = result.area
    if area.coordinates == "cartesian" and area.crs is None:
        return None
    features = []
    for c in result.clusters:
        ring = circle_ring(area, c)
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": c.to_dict()})
    return {"type": "FeatureCollection", "features": features}


def locations_geojson(result) -> dict | None:
    transform = _to_wgs84(result.area)
    if transform is None:
        return None
    columns = result.location_columns()
    names = list(columns)
    values = [np.asarray(columns[name]).tolist() for name in names]
    lon, lat = transform(result.area.coords[:, 0], result.area.coords[:, 1])
    features = []
    for k, row in enumerate(zip(*values)):
        features.append({"type": "Feature",
                         "geometry": {"type": "Point", "coordinates": [float(lon[k]), float(lat[k])]},
                         "properties": dict(zip(names, row))})
    return {"type": "FeatureCollection", "features": features}


# --- the writers ------------------------------------------------------------------------------

def _write_csv(result, folder: Path, context: WriteContext) -> list[str]:
    from .table import rows_to_columns, write_csv

    write_csv(folder / "clusters.csv", rows_to_columns(*result.cluster_rows()))
    write_csv(folder / "locations.csv", result.location_columns())
    return ["clusters.csv", "locations.csv"]


def _write_geojson(result, folder: Path, context: WriteContext) -> list[str]:
    geo = clusters_geojson(result)
    if geo is None:
        log.info("GeoJSON not written: the coordinates have no CRS")
        return []
    (folder / "clusters.geojson").write_text(to_json(geo))
    (folder / "locations.geojson").write_text(to_json(locations_geojson(result)))
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
                  pollutant=context.pollutant)
    except Exception as exc:  # a map is a convenience; never lose the numbers for it
        log.warning("map not written: %s", exc)
        return []
    return ["map.png"]


Writer = Callable[[Any, Path, WriteContext], list]

WRITERS: dict[str, Writer] = {
    "csv": _write_csv,
    "geojson": _write_geojson,
    "summary": _write_summary,
    "map": _write_map,
}
"""Output formats by name.  result.json is always written, last, listing the files."""

DEFAULT_FORMATS: tuple[str, ...] = ("csv", "geojson", "summary", "map")


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
    map_grid, pollutant, outline, polygons : drawn on the map (:class:`WriteContext`).
    extra_files : file name -> text, written too (a batch adds its ``analysis.json``).

    Returns
    -------
    Path of the folder.
    """
    formats = check_formats(formats)
    context = WriteContext(map_grid=map_grid, pollutant=pollutant, outline=outline,
                           polygons=polygons)
    with atomic_folder(out) as tmp:
        files: list[str] = []
        for name in formats:
            files += WRITERS[name](result, tmp, context)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
            files.append(name)
        data = result.to_json_dict()
        data["files"] = ["result.json", *files]
        (tmp / "result.json").write_text(to_json(data))
    return Path(out)
