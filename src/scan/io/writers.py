"""Write a scan result: result.json, clusters.csv, locations.csv, GeoJSON, summary and a map.

Everything is written into a temporary folder beside the target and renamed into place at the
end, so an interrupted run never leaves half a result: the folder either holds a complete
result or is untouched.
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_folder

log = logging.getLogger(__name__)

CIRCLE_SEGMENTS = 64


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.datetime64, np.bool_)):
        return str(value)
    return str(value)


def _finite(value):
    """JSON has no Infinity or NaN: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json(data: dict) -> str:
    return json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False)


def _to_wgs84(area):
    """A function mapping native (x, y) arrays to (lon, lat), or None without a CRS."""
    if area.coordinates == "latlong":
        return lambda x, y: (np.asarray(x), np.asarray(y))
    if area.crs is None:
        return None
    import pyproj

    t = pyproj.Transformer.from_crs(area.crs, "EPSG:4326", always_xy=True)
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
        props = c.to_dict()
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


def locations_geojson(result) -> dict | None:
    transform = _to_wgs84(result.area)
    if transform is None:
        return None
    df = result.locations_dataframe()
    lon, lat = transform(result.area.coords[:, 0], result.area.coords[:, 1])
    features = []
    for k, row in enumerate(df.to_dict(orient="records")):
        features.append({"type": "Feature",
                         "geometry": {"type": "Point", "coordinates": [float(lon[k]), float(lat[k])]},
                         "properties": row})
    return {"type": "FeatureCollection", "features": features}


def write_result(result, out: str | os.PathLike, *, map_grid=None, outline=None,
                 pollutant: str = "NO2", extra_files: dict | None = None) -> Path:
    """Write every output of ``result`` into the folder ``out`` (replaced atomically).

    Files: ``result.json`` (clusters most likely first, seed, null distribution, parameters),
    ``clusters.csv``, ``locations.csv``, ``summary.txt``, ``clusters.geojson`` and
    ``locations.geojson`` (WGS84; skipped when the coordinates have no CRS), and ``map.png``
    when the coordinates are projected or geographic.  ``extra_files`` maps a file name to text.
    """
    out = Path(out)
    with atomic_folder(out) as tmp:
        data = result.to_json_dict()
        geo = clusters_geojson(result)
        data["files"] = ["result.json", "clusters.csv", "locations.csv", "summary.txt"]
        if geo is not None:
            (tmp / "clusters.geojson").write_text(to_json(geo))
            (tmp / "locations.geojson").write_text(to_json(locations_geojson(result)))
            data["files"] += ["clusters.geojson", "locations.geojson"]
        else:
            data["geojson"] = "not written: the coordinates have no CRS (pass crs=...)"
        result.to_dataframe().to_csv(tmp / "clusters.csv", index=False)
        result.locations_dataframe().to_csv(tmp / "locations.csv", index=False)
        (tmp / "summary.txt").write_text(result.summary() + "\n")
        if result.area.coordinates == "latlong" or result.area.crs is not None:
            try:
                write_map(result, tmp / "map.png", grid=map_grid, outline=outline,
                          pollutant=pollutant)
                data["files"].append("map.png")
            except Exception as exc:  # a map is a convenience; never lose the numbers for it
                log.warning("map not written: %s", exc)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
            data["files"].append(name)
        (tmp / "result.json").write_text(to_json(data))
    return out


def write_map(result, path, *, grid=None, outline=None, pollutant="NO2", max_circles=5,
              alpha=0.05):
    """PNG map: locations, the most likely cluster and the significant secondary clusters'
    circles (and a pollutant grid when given)."""
    from ..exposure.maps import plot_map

    area = result.area
    circles = []
    shown = [c for c in result.clusters if c.rank == 1 or c.p_value <= alpha][:max_circles]
    for c in shown:
        label = f"#{c.rank} p={c.p_value:.3g}"
        circles.append((c.center_x, c.center_y, c.radius, label))
    if area.coordinates == "latlong":
        # draw in degrees; radius in km shown approximately
        circles = [(x, y, r / 111.0, lab) for x, y, r, lab in circles]
    title = (f"{result.analysis} scan, {result.parameters.get('model')} model: "
             f"{len(result.significant())} cluster(s) with p <= 0.05")
    return plot_map(path, grid=grid, x=area.coords[:, 0], y=area.coords[:, 1], circles=circles,
                    outline=outline, title=title, pollutant=pollutant)
