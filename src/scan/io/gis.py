"""GIS outputs: a GeoPackage, shapefiles as SaTScan writes them, and KML for Google Earth.

Three entries of :data:`scan.io.writers.WRITERS` (``--formats gpkg,shp,kml``), written through
pyogrio (GDAL) into the temporary folder :func:`scan.io.writers.write_result` gives them, plus
the geometry rules every map of a cluster follows (:func:`cluster_shape`, :func:`member_area`).

The rules
---------
* **Every member inside.**  A cluster's circle (or ellipse) is drawn so that every member's
  point lies strictly inside the polygon written, in the file's own coordinates: the radius is
  the farthest member's distance (for an ellipse, the farthest member in the ellipse's own
  metric), widened so that the polygon's straight edges clear it (the polygon's vertices lie on
  a circle ``1 / cos(pi / segments)`` larger) plus a hair, and checked point by point after any
  reprojection.  A points-in-polygon join in QGIS never drops a member.
* **Non-zero area.**  A cluster of one location (or of locations at one place) gets a radius of
  :data:`MIN_RADIUS_FRACTION` of the study area's extent (10 m for a 10 km borough).
* **Member-polygon unions.**  With the locations' polygons (``polygons=``, one per location in
  the data's order and CRS) a cluster is also drawn as the union of its members' polygons
  (``cluster_areas``); a member whose point falls outside its own polygon (a centroid of a
  crescent-shaped area, or no polygon at all) adds a small disc around its point, so the rule
  above holds there too.
* **Valid and declared.**  Every geometry is valid (``shapely.is_valid``); every file declares
  its CRS: the GeoPackage's layers and the shapefiles' ``.prj`` the data's own CRS (British
  National Grid for the borough; EPSG:4326 for latitude/longitude data), KML WGS84 as the KML
  standard requires.  Data with plain Cartesian coordinates and no CRS get none of these files
  (a log line says so).
* **Same run, same bytes.**  GeoPackages and shapefiles carry a modification date; it is fixed
  (:data:`FILE_DATE`, or ``SOURCE_DATE_EPOCH`` when set) so a rerun writes identical files.

Files
-----
``result.gpkg``
    layers ``clusters`` (circles/ellipses, one row per cluster, the columns of clusters.csv),
    ``cluster_areas`` (member-polygon unions; only with polygons), ``locations`` (points, the
    columns of locations.csv) and ``location_areas`` (the polygons; only with polygons).
``shapefiles/clusters.shp``, ``shapefiles/locations.shp`` (+ ``cluster_areas.shp``)
    SaTScan's shapefile layout (its ``.col`` and ``.gis`` files): field names of at most ten
    characters as SaTScan names them (``CLUSTER``, ``LOC_ID``, ``X``/``Y`` or
    ``LATITUDE``/``LONGITUDE``, ``RADIUS`` or ``E_MINOR``/``E_MAJOR``/``E_ANGLE``/``E_SHAPE``,
    ``START_DATE``, ``END_DATE``, ``NUMBER_LOC``, ``LLR``, ``TEST_STAT``, ``P_VALUE``,
    ``RECURR_INT``, ``GBL_PVALUE``, ``OBSERVED``, ``EXPECTED``, ``ODE``, ``REL_RISK``,
    ``POPULATION``; locations: ``LOC_ID``, ``CLUSTER``, ``P_VALUE``, ``CLU_OBS``, ``CLU_EXP``,
    ``CLU_ODE``, ``CLU_RR``, ``CLU_POP``, ``LOC_OBS``, ``LOC_EXP``, ``LOC_ODE``, ``LOC_RR``,
    ``LOC_POP``, ``LOC_X``/``LOC_Y`` or ``LOC_LAT``/``LOC_LONG``), a ``.prj`` and a ``.cpg``
    (UTF-8).  Differences from SaTScan, by choice: the files are in the data's CRS (SaTScan
    writes them only for latitude/longitude, in WGS84); every location is written once (those
    outside every cluster with ``CLUSTER`` 0), where SaTScan writes a row per location of each
    cluster; ``LOC_OBS``/``LOC_EXP`` are study-period totals also for space-time clusters;
    added fields ``LOC_NAME`` (the location's, or the centre's, name) and ``<POLLUTANT>_IN`` /
    ``<POLLUTANT>_OUT`` (population-weighted mean exposure inside / outside the cluster).
``clusters.kml``
    a folder of clusters (styled polygons: red when p <= 0.05, orange otherwise; circles and
    ellipses, or member-polygon unions with polygons), each a placemark whose description is a
    table of observed, expected, O/E, relative risk, LLR, p-value, exposure and members (a time
    span for space-time clusters), and a folder of locations (points).
"""
from __future__ import annotations

import logging
import functools
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

CIRCLE_SEGMENTS = 128
"""Vertices of a drawn circle or ellipse."""

MIN_RADIUS_FRACTION = 1e-3
"""Radius given to a cluster of one location (or of locations at one place), as a share of the
diagonal of the study area's bounding box: 10 m for a borough 10 km across."""

FILE_DATE = "2000-01-01T00:00:00Z"
"""The modification date written into GeoPackages (``gpkg_contents.last_change``) and the
shapefiles' ``.dbf`` header, so that the same run writes the same bytes (``SOURCE_DATE_EPOCH``,
in seconds since 1970, overrides it)."""

SIGNIFICANCE = 0.05
"""p-value at or below which KML draws a cluster in red (orange otherwise)."""

WGS84 = "EPSG:4326"

GPKG_VERSION = "1.2"
"""GeoPackage version written: 1.2, read without warnings by GDAL 2.2 onwards (QGIS 3 on any
platform), where GDAL 3.12's default 1.4 makes older readers warn."""

_GROWTH = (1e-9, 1e-7, 1e-5, 1e-4, 1e-3, 1e-2)


# --- CRS and extent -----------------------------------------------------------------------------

def data_crs(area) -> str | None:
    """The CRS of the data's coordinates: the projected CRS of cartesian data, EPSG:4326 for
    latitude/longitude, None for plain Cartesian numbers."""
    if area.coordinates == "latlong":
        return WGS84
    return None if area.crs is None else str(area.crs)


def _lonlat_transformer(area):
    """(x, y) in the data's CRS -> (lon, lat), or None when the data are lon/lat already."""
    if area.coordinates == "latlong":
        return None
    return _transformer(str(area.crs), WGS84)


@functools.lru_cache(maxsize=16)
def _transformer(source: str, target: str):
    """A pyproj Transformer, made once per pair of CRSs (making one takes tens of ms)."""
    import pyproj

    return pyproj.Transformer.from_crs(source, target, always_xy=True)


@functools.lru_cache(maxsize=1)
def _geod():
    import pyproj

    from ..windows import EARTH_RADIUS_KM

    r = EARTH_RADIUS_KM * 1000.0
    return pyproj.Geod(a=r, b=r)


@functools.lru_cache(maxsize=8)
def study_extent(area) -> float:
    """Diagonal of the locations' bounding box: coordinate units, km for latitude/longitude
    (1 when every location is at one place); computed once per study area."""
    xy = np.asarray(area.coords, dtype=np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    if area.coordinates == "latlong":
        _, _, d = _geod().inv(lo[0], lo[1], hi[0], hi[1])
        extent = float(d) / 1000.0
    else:
        extent = float(np.hypot(*(hi - lo)))
    return extent if extent > 0 and math.isfinite(extent) else 1.0


def min_radius(area) -> float:
    """The radius of a one-location cluster (:data:`MIN_RADIUS_FRACTION` of the extent)."""
    return MIN_RADIUS_FRACTION * study_extent(area)


# --- cluster geometry ---------------------------------------------------------------------------

def _centre(area, cluster) -> tuple[float, float]:
    cx, cy = float(cluster.center_x), float(cluster.center_y)
    if not (math.isfinite(cx) and math.isfinite(cy)):
        cx, cy = (float(v) for v in np.asarray(area.coords)[cluster.member_indices].mean(axis=0))
    return cx, cy


def _axes(angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    a = math.radians(angle_deg)
    return np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])


def elliptic_radius(area, cluster) -> float:
    """The window's size in its own metric: the farthest member's distance from the centre (for
    an ellipse of shape s at angle a, the semi-minor axis of the smallest such ellipse holding
    every member: sqrt((P.v)^2 + ((P.u)/s)^2) with u along the major axis).  Coordinate units;
    great-circle km for latitude/longitude."""
    members = np.asarray(cluster.member_indices, dtype=np.int64)
    if len(members) == 0:
        return 0.0
    xy = np.asarray(area.coords, dtype=np.float64)[members]
    cx, cy = _centre(area, cluster)
    if area.coordinates == "latlong":
        _, _, d = _geod().inv(np.full(len(xy), cx), np.full(len(xy), cy), xy[:, 0], xy[:, 1])
        return float(np.max(d)) / 1000.0
    u, v = _axes(cluster.angle)
    p = xy - (cx, cy)
    shape = max(float(cluster.shape), 1.0)
    return float(np.sqrt((p @ v) ** 2 + ((p @ u) / shape) ** 2).max())


def _ring(area, cluster, r: float, segments: int) -> np.ndarray:
    """(segments, 2) vertices, counter-clockwise, of the window of size ``r`` (data coords)."""
    t = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    cx, cy = _centre(area, cluster)
    if area.coordinates == "latlong":
        az = 90.0 - np.degrees(t)            # counter-clockwise from east
        lon, lat, _ = _geod().fwd(np.full(segments, cx), np.full(segments, cy), az,
                                  np.full(segments, r * 1000.0))
        return np.column_stack([lon, lat])
    u, v = _axes(cluster.angle)
    shape = max(float(cluster.shape), 1.0)
    major, minor = r * shape * np.cos(t), r * np.sin(t)
    return np.column_stack([cx + major * u[0] + minor * v[0], cy + major * u[1] + minor * v[1]])


def _member_xy(area, cluster, to_lonlat) -> np.ndarray:
    xy = np.asarray(area.coords, dtype=np.float64)[np.asarray(cluster.member_indices, dtype=int)]
    if to_lonlat is not None and len(xy):
        xy = np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
    return xy


def _all_inside(geom, xy: np.ndarray) -> bool:
    import shapely

    return len(xy) == 0 or bool(shapely.contains_xy(geom, xy[:, 0], xy[:, 1]).all())


def cluster_shape(area, cluster, *, lonlat: bool = False, segments: int = CIRCLE_SEGMENTS):
    """The cluster's circle or ellipse as a shapely Polygon holding every member strictly inside.

    In the data's coordinates, or with ``lonlat`` in WGS84 longitude/latitude (vertices
    reprojected with pyproj, membership checked after the move).  See the module's rules.
    """
    import shapely

    to_lonlat = _lonlat_transformer(area) if lonlat else None
    xy = _member_xy(area, cluster, to_lonlat)
    need = max(elliptic_radius(area, cluster), min_radius(area))
    base = need / math.cos(math.pi / segments)
    hair = 1e-7 * study_extent(area)
    for growth in _GROWTH:
        ring = _ring(area, cluster, base * (1.0 + growth) + hair * (1.0 + 1e3 * growth), segments)
        if to_lonlat is not None:
            ring = np.column_stack(to_lonlat.transform(ring[:, 0], ring[:, 1]))
        poly = shapely.Polygon(ring)
        if poly.is_valid and _all_inside(poly, xy):
            return poly
    raise RuntimeError(f"could not draw cluster {cluster.rank} around its members")  # pragma: no cover


def cluster_geojson_geometry(area, cluster, *, segments: int = CIRCLE_SEGMENTS) -> dict:
    """The cluster's circle or ellipse as a GeoJSON geometry in WGS84 (RFC 7946: exterior ring
    counter-clockwise), every member strictly inside (:func:`cluster_shape`)."""
    import shapely

    geom = cluster_shape(area, cluster, lonlat=True, segments=segments)
    if hasattr(shapely, "orient_polygons"):
        geom = shapely.orient_polygons(geom)
    return shapely.geometry.mapping(geom)


def _polygonal(geom):
    """The polygonal parts of a geometry, made valid (None when there are none)."""
    import shapely

    if geom is None or shapely.is_empty(geom):
        return None
    if not shapely.is_valid(geom):
        geom = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(geom)
             if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
    if not parts:
        return None
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def _discs(xy: np.ndarray, radius: float, lonlat_centre: bool):
    import shapely

    if lonlat_centre:      # radius in km -> degrees, wider in longitude away from the equator
        out = []
        for x, y in xy:
            ky = radius / 111.0
            kx = ky / max(math.cos(math.radians(y)), 1e-6)
            t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
            out.append(shapely.Polygon(np.column_stack([x + kx * np.cos(t), y + ky * np.sin(t)])))
        return out
    return [shapely.buffer(shapely.Point(x, y), radius, quad_segs=8) for x, y in xy]


def member_area(area, cluster, polygons: Sequence, *, lonlat: bool = False):
    """The union of the members' polygons (``polygons``: one per location, data's order and
    CRS; None where a location has none), as a MultiPolygon holding every member's point
    strictly inside (a small disc is added around a point its polygon misses).  In the data's
    coordinates, or in WGS84 longitude/latitude with ``lonlat``."""
    import shapely

    to_lonlat = _lonlat_transformer(area) if lonlat else None
    members = np.asarray(cluster.member_indices, dtype=int)
    parts = [_polygonal(polygons[i]) for i in members]
    union = _polygonal(shapely.union_all([p for p in parts if p is not None])) \
        if any(p is not None for p in parts) else None
    if union is not None and to_lonlat is not None:
        union = _polygonal(shapely.transform(
            union, lambda c: np.column_stack(to_lonlat.transform(c[:, 0], c[:, 1]))))
    xy = _member_xy(area, cluster, to_lonlat)
    radius = min_radius(area)
    geographic = lonlat or area.coordinates == "latlong"
    for growth in (1.0, 10.0, 100.0):
        missing = xy if union is None else \
            xy[~shapely.contains_xy(union, xy[:, 0], xy[:, 1])]
        if len(missing) == 0:
            break
        if growth == 1.0:
            log.info("cluster %d: %d member point(s) outside their polygons; small discs added "
                     "so that every member lies inside the cluster's area", cluster.rank,
                     len(missing))
        discs = _discs(missing, radius * growth, geographic)
        union = _polygonal(shapely.union_all(([union] if union is not None else []) + discs))
    return _as_multi(union)


def _as_multi(geom):
    import shapely

    if geom is None:
        return None
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return geom


def check_polygons(area, polygons) -> list:
    """``polygons`` as a list, one per location in the data's order and CRS (a
    ScanParameterError otherwise); a GeoSeries or GeoDataFrame is matched on the ids and
    reprojected (:func:`scan.geo.area_polygons`)."""
    from ..errors import ScanParameterError

    if hasattr(polygons, "crs"):                 # a GeoSeries / GeoDataFrame: by id, reprojected
        from ..geo import area_polygons

        return area_polygons(polygons, area)
    polygons = list(polygons)
    if len(polygons) != area.n_locations:
        raise ScanParameterError("polygons", f"one polygon per location ({area.n_locations}), in "
                                 "the data's order and CRS", f"{len(polygons)} polygons")
    return polygons


# --- tables -------------------------------------------------------------------------------------

def _column(values) -> np.ndarray:
    """One attribute column for pyogrio: int64, float64 (non-finite as null), bool, or object
    strings (None as null).  ``values``: a pandas Series or a NumPy array whose dtype is the one
    pandas infers (:func:`scan.io.table.rows_to_columns`), so both give the same column."""
    a = np.asarray(values)
    if a.dtype.kind == "b":
        return a.astype(bool)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        a = a.astype(np.float64, copy=True)
        a[~np.isfinite(a)] = np.nan
        return a
    out = np.empty(len(a), dtype=object)
    for k, v in enumerate(a.tolist()):
        missing = v is None or (isinstance(v, float) and not math.isfinite(v))
        out[k] = None if missing else str(v)
    return out


def _fields(table) -> tuple[list[str], list[np.ndarray]]:
    """Names and columns of a DataFrame or of a mapping name -> array."""
    keys = list(table.columns if hasattr(table, "columns") else table)
    return [str(c) for c in keys], [_column(table[c]) for c in keys]


def _names(area):
    names = getattr(area, "names", None)
    return None if names is None else [str(v) for v in names]


def cluster_columns(result) -> dict[str, np.ndarray]:
    """clusters.csv's columns without pandas (``member_names`` too when the data have names):
    the arrays of :func:`clusters_table`'s DataFrame."""
    from .table import rows_to_columns

    columns = rows_to_columns(*result.cluster_rows())
    names = _names(result.area)
    if names is not None and result.clusters:
        columns["member_names"] = np.array(["; ".join(names[i] for i in c.member_indices)
                                            for c in result.clusters], dtype=object)
    return columns


def clusters_table(result):
    """clusters.csv's columns (``member_names`` too when the data have names)."""
    df = result.to_dataframe()
    names = _names(result.area)
    if names is not None and len(df):
        df["member_names"] = ["; ".join(names[i] for i in c.member_indices)
                              for c in result.clusters]
    return df


# --- pyogrio ------------------------------------------------------------------------------------

def _file_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
    return FILE_DATE


@contextmanager
def _gdal_date():
    """GDAL's OGR_CURRENT_DATE set to :func:`_file_date` for the duration (then restored)."""
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _file_date()})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _wkt(crs: str) -> str:
    from .._crs import crs as crs_object

    return crs_object(crs).to_wkt()


def _write_layer(path: Path, layer: str, geometries: Sequence, df, *, crs: str, driver: str,
                 geometry_type: str, **options) -> None:
    import shapely
    from pyogrio.raw import write

    wkb = np.array([None if g is None else shapely.to_wkb(g) for g in geometries], dtype=object)
    names, columns = _fields(df)
    write(str(path), wkb, columns, names, layer=layer, driver=driver, crs=_wkt(crs),
          geometry_type=geometry_type, encoding="UTF-8" if driver == "ESRI Shapefile" else None,
          promote_to_multi=geometry_type.startswith("Multi"), **options)


def _points(xy: np.ndarray) -> list:
    import shapely

    return list(shapely.points(np.asarray(xy, dtype=np.float64)))


def _no_crs(result, what: str) -> bool:
    if data_crs(result.area) is None:
        log.info("%s not written: the coordinates have no CRS (pass crs=, or --crs)", what)
        return True
    return False


# --- GeoPackage ---------------------------------------------------------------------------------

def write_gpkg(result, folder: Path, context) -> list[str]:
    """``result.gpkg``: layers clusters, locations (+ cluster_areas, location_areas with
    polygons), in the data's CRS."""
    if _no_crs(result, "result.gpkg"):
        return []
    area = result.area
    crs = data_crs(area)
    path = Path(folder) / "result.gpkg"
    path.unlink(missing_ok=True)          # a folder being written: never append to an old one
    clusters = cluster_columns(result)            # the DataFrames' columns, without pandas
    locations = result.location_columns()
    layers = [("clusters", [cluster_shape(area, c) for c in result.clusters], clusters,
               "Polygon", "Cluster windows (circles or ellipses) holding every member")]
    if context.polygons is not None:
        polygons = check_polygons(area, context.polygons)
        layers.append(("cluster_areas", [member_area(area, c, polygons) for c in result.clusters],
                       clusters, "MultiPolygon", "Clusters as unions of their members' polygons"))
    layers.append(("locations", _points(area.coords), locations, "Point",
                   "Locations scanned, with counts and the cluster holding each (0: none)"))
    if context.polygons is not None:
        layers.append(("location_areas", [_as_multi(_polygonal(p)) for p in polygons], locations,
                       "MultiPolygon", "Locations' polygons, with counts and cluster"))
    with _gdal_date():
        for name, geoms, df, gtype, description in layers:
            first = not path.exists()
            _write_layer(path, name, geoms, df, crs=crs, driver="GPKG", geometry_type=gtype,
                         append=not first, dataset_options={"VERSION": GPKG_VERSION} if first
                         else None, layer_options={"IDENTIFIER": name,
                                                   "DESCRIPTION": description})
    return ["result.gpkg"]


# --- shapefiles ---------------------------------------------------------------------------------

def _num(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _exposure_fields(clusters) -> dict[str, list]:
    """``<POLLUTANT>_IN`` / ``_OUT``: population-weighted mean exposure inside / outside."""
    pollutants = []
    for c in clusters:
        for p in (c.exposure or {}):
            if isinstance((c.exposure or {}).get(p), dict) and p not in pollutants:
                pollutants.append(p)
    out = {}
    for p in pollutants:
        tag = "".join(ch for ch in str(p).upper() if ch.isalnum())[:6]
        for suffix, key in (("_IN", "mean_inside"), ("_OUT", "mean_outside")):
            out[tag + suffix] = [((c.exposure or {}).get(p) or {}).get(key, np.nan)
                                 for c in clusters]
    return out


def satscan_clusters_table(result):
    """The ``.col`` fields of SaTScan's cluster shapefile, one row per cluster."""
    import pandas as pd

    area, cl = result.area, result.clusters
    names = _names(area)
    latlong = area.coordinates == "latlong"
    ellipses = any(c.shape != 1 for c in cl)
    cols: dict[str, Any] = {"CLUSTER": np.array([c.rank for c in cl], dtype=np.int64),
                            "LOC_ID": [c.center for c in cl]}
    if names is not None:
        cols["LOC_NAME"] = [names[c.center_index] if c.center_index >= 0 else None for c in cl]
    x = _num([c.center_x for c in cl])
    y = _num([c.center_y for c in cl])
    if latlong:
        cols["LATITUDE"], cols["LONGITUDE"] = y, x
    else:
        cols["X"], cols["Y"] = x, y
    if ellipses:
        minor = _num([elliptic_radius(area, c) for c in cl])
        cols["E_MINOR"] = minor
        cols["E_MAJOR"] = minor * _num([c.shape for c in cl])
        cols["E_ANGLE"] = _num([c.angle for c in cl])
        cols["E_SHAPE"] = _num([c.shape for c in cl])
    else:
        cols["RADIUS"] = _num([c.radius for c in cl])
    if any(c.start is not None for c in cl):
        cols["START_DATE"] = [None if c.start is None else str(c.start) for c in cl]
        cols["END_DATE"] = [None if c.end is None else str(c.end) for c in cl]
    cols["NUMBER_LOC"] = np.array([c.n_locations for c in cl], dtype=np.int64)
    cols["LLR"] = _num([c.llr for c in cl])
    if ellipses:
        cols["TEST_STAT"] = _num([c.test_statistic for c in cl])
    cols["P_VALUE"] = _num([c.p_value for c in cl])
    if any(c.recurrence_interval is not None for c in cl):
        cols["RECURR_INT"] = _num([np.nan if c.recurrence_interval is None
                                   else c.recurrence_interval for c in cl])
    cols["GBL_PVALUE"] = _num([c.gumbel_p_value for c in cl])
    cols["OBSERVED"] = _num([c.observed for c in cl])
    cols["EXPECTED"] = _num([c.expected for c in cl])
    cols["ODE"] = _num([c.observed_over_expected for c in cl])
    cols["REL_RISK"] = _num([c.relative_risk for c in cl])
    cols["POPULATION"] = _num([c.population for c in cl])
    cols.update({k: _num(v) for k, v in _exposure_fields(cl).items()})
    return pd.DataFrame(cols)


def satscan_locations_table(result):
    """The ``.gis`` fields of SaTScan's location shapefile, one row per location (the
    fields of the most likely cluster holding it; ``CLUSTER`` 0 and empty cluster fields for
    a location in none)."""
    import pandas as pd

    from ..result import relative_risk

    area = result.area
    df = area.to_dataframe()
    n = len(df)
    total = float(np.asarray(df["cases"], dtype=float).sum())
    obs = np.asarray(df["cases"], dtype=float)
    exp = np.asarray(df["expected"], dtype=float)
    cols: dict[str, Any] = {"LOC_ID": [str(v) for v in df["id"]]}
    if "name" in df:
        cols["LOC_NAME"] = [str(v) for v in df["name"]]
    rank = np.zeros(n, dtype=np.int64)
    fields = {k: np.full(n, np.nan) for k in ("P_VALUE", "GBL_PVALUE", "CLU_OBS", "CLU_EXP",
                                              "CLU_ODE", "CLU_RR", "CLU_POP")}
    for c in reversed(result.clusters):        # the most likely cluster wins
        idx = np.asarray(c.member_indices, dtype=int)
        rank[idx] = c.rank
        for key, value in (("P_VALUE", c.p_value), ("GBL_PVALUE", c.gumbel_p_value),
                           ("CLU_OBS", c.observed), ("CLU_EXP", c.expected),
                           ("CLU_ODE", c.observed_over_expected),
                           ("CLU_RR", c.relative_risk), ("CLU_POP", c.population)):
            fields[key][idx] = value
    cols["CLUSTER"] = rank
    cols.update(fields)
    cols["LOC_OBS"] = obs
    cols["LOC_EXP"] = exp
    cols["LOC_ODE"] = np.divide(obs, exp, out=np.full(n, np.nan), where=exp > 0)
    cols["LOC_RR"] = _num([relative_risk(o, e, total) for o, e in zip(obs, exp)])
    cols["LOC_POP"] = np.asarray(df["population"], dtype=float)
    xy = np.asarray(area.coords, dtype=np.float64)
    if area.coordinates == "latlong":
        cols["LOC_LAT"], cols["LOC_LONG"] = xy[:, 1], xy[:, 0]
    else:
        cols["LOC_X"], cols["LOC_Y"] = xy[:, 0], xy[:, 1]
    return pd.DataFrame(cols)


def write_shp(result, folder: Path, context) -> list[str]:
    """``shapefiles/clusters.shp`` (polygons) and ``shapefiles/locations.shp`` (points), with
    ``cluster_areas.shp`` too when polygons are given; each with .shx, .dbf, .prj, .cpg."""
    if _no_crs(result, "shapefiles"):
        return []
    area = result.area
    crs = data_crs(area)
    sub = Path(folder) / "shapefiles"
    sub.mkdir(exist_ok=True)
    clusters = satscan_clusters_table(result)
    date = {"DBF_DATE_LAST_UPDATE": _file_date()[:10]}
    layers = [("clusters", [cluster_shape(area, c) for c in result.clusters], clusters,
               "Polygon")]
    if context.polygons is not None:
        polygons = check_polygons(area, context.polygons)
        layers.append(("cluster_areas", [member_area(area, c, polygons) for c in result.clusters],
                       clusters, "MultiPolygon"))
    layers.append(("locations", _points(area.coords), satscan_locations_table(result), "Point"))
    written = []
    for name, geoms, df, gtype in layers:
        for old in sub.glob(f"{name}.*"):
            old.unlink()
        _write_layer(sub / f"{name}.shp", name, geoms, df, crs=crs, driver="ESRI Shapefile",
                     geometry_type=gtype, layer_options=date)
        written += sorted(p.name for p in sub.iterdir() if p.stem == name)
    return [f"shapefiles/{name}" for name in written]


# --- KML ----------------------------------------------------------------------------------------

KML_NS = "http://www.opengis.net/kml/2.2"
_STYLES = {   # KML colours are aabbggrr
    "significant": ("ff1c1ce3", "551c1ce3"),
    "not-significant": ("ff0c8cf5", "330c8cf5"),
}
_DOT = "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png"


def _fmt(value, spec: str = ".4g") -> str:
    if value is None:
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "infinite"
    return format(v, spec)


def _table(rows: list[tuple[str, str]]) -> str:
    from html import escape

    cells = "".join(f"<tr><th align=\"left\">{escape(k)}</th><td>{escape(v)}</td></tr>"
                    for k, v in rows)
    return f"<table border=\"1\" cellpadding=\"3\" style=\"border-collapse:collapse\">{cells}</table>"


def cluster_rows(result, c) -> list[tuple[str, str]]:
    """The description of a cluster: (label, value) pairs for tables (KML, notebooks)."""
    from ..windows import distance_units

    area = result.area
    units = distance_units(area.coordinates, area.crs)
    names = _names(area)
    rows = [("Observed cases", _fmt(c.observed, "g")), ("Expected cases", _fmt(c.expected, ".2f")),
            ("Observed / expected", _fmt(c.observed_over_expected, ".2f")),
            ("Relative risk", _fmt(c.relative_risk, ".2f")),
            ("Log-likelihood ratio", _fmt(c.llr, ".4f")), ("p-value", _fmt(c.p_value, ".4g")),
            ("Locations", str(c.n_locations)), ("Centre", str(c.center)),
            ("Radius", f"{_fmt(c.radius, ',.4g')} {units}")]
    if c.shape != 1:
        rows.append(("Ellipse", f"shape {_fmt(c.shape, 'g')}, angle {_fmt(c.angle, 'g')} degrees"))
    if c.start is not None:
        rows.append(("Time window", f"{c.start} to {c.end}"))
    if c.recurrence_interval is not None:
        rows.append(("Recurrence interval", f"{_fmt(c.recurrence_interval, ',.0f')} days"))
    for pollutant, ex in (c.exposure or {}).items():
        if isinstance(ex, dict):
            rows.append((f"{pollutant} exposure (population-weighted)",
                         f"{_fmt(ex.get('mean_inside'), '.1f')} inside vs "
                         f"{_fmt(ex.get('mean_outside'), '.1f')} outside "
                         f"{ex.get('units', '')}".strip()))
    members = list(c.members) if names is None else \
        [f"{c.members[k]} {names[i]}".strip() for k, i in enumerate(c.member_indices)]
    shown = ", ".join(members[:30]) + (f" and {len(members) - 30} more" if len(members) > 30
                                       else "")
    rows.append(("Members", shown))
    return rows


def _kml_coords(ring) -> str:
    return " ".join(f"{x:.8f},{y:.8f}" for x, y in np.asarray(ring.coords)[:, :2])


def _kml_polygon(parent, poly) -> None:
    from xml.etree.ElementTree import SubElement

    el = SubElement(parent, "Polygon")
    outer = SubElement(SubElement(el, "outerBoundaryIs"), "LinearRing")
    SubElement(outer, "coordinates").text = _kml_coords(poly.exterior)
    for hole in poly.interiors:
        inner = SubElement(SubElement(el, "innerBoundaryIs"), "LinearRing")
        SubElement(inner, "coordinates").text = _kml_coords(hole)


def _kml_geometry(parent, geom) -> None:
    """A Polygon or MultiPolygon (exterior rings counter-clockwise, holes clockwise)."""
    import shapely
    from xml.etree.ElementTree import SubElement

    geom = shapely.orient_polygons(geom) if hasattr(shapely, "orient_polygons") else geom
    parts = list(shapely.get_parts(geom))
    if len(parts) == 1:
        _kml_polygon(parent, parts[0])
        return
    multi = SubElement(parent, "MultiGeometry")
    for p in parts:
        _kml_polygon(multi, p)


def _kml_style(doc, sid: str, line: str, fill: str) -> None:
    from xml.etree.ElementTree import SubElement

    style = SubElement(doc, "Style", id=sid)
    ls = SubElement(style, "LineStyle")
    SubElement(ls, "color").text = line
    SubElement(ls, "width").text = "2"
    SubElement(SubElement(style, "PolyStyle"), "color").text = fill


def _kml_dot_style(doc, sid: str, colour: str, scale: str) -> None:
    from xml.etree.ElementTree import SubElement

    style = SubElement(doc, "Style", id=sid)
    icon = SubElement(style, "IconStyle")
    SubElement(icon, "color").text = colour
    SubElement(icon, "scale").text = scale
    SubElement(SubElement(icon, "Icon"), "href").text = _DOT
    SubElement(SubElement(style, "LabelStyle"), "scale").text = "0"


def kml_document(result, polygons=None) -> bytes:
    """The KML document (UTF-8 bytes) of ``result``; see the module docstring."""
    from xml.etree.ElementTree import Element, SubElement, indent, tostring

    area = result.area
    to_lonlat = _lonlat_transformer(area)
    names = _names(area)
    kml = Element("kml", xmlns=KML_NS)
    doc = SubElement(kml, "Document")
    model = result.parameters.get("model", "")
    SubElement(doc, "name").text = f"scan: {result.analysis} scan ({model})"
    SubElement(doc, "open").text = "1"
    SubElement(doc, "description").text = (
        f"{area.n_locations} locations, {area.total_cases} cases; "
        f"{len(result.null_distribution)} Monte Carlo replications, seed {result.seed}. "
        f"Clusters in red have p <= {SIGNIFICANCE:g}.")
    for sid, (line, fill) in _STYLES.items():
        _kml_style(doc, sid, line, fill)
    _kml_dot_style(doc, "in-cluster", "ff1c1ce3", "0.7")
    _kml_dot_style(doc, "location", "ff888888", "0.5")

    folder = SubElement(doc, "Folder")
    SubElement(folder, "name").text = "Clusters"
    for c in result.clusters:
        pm = SubElement(folder, "Placemark", id=f"cluster-{c.rank}")
        label = "Most likely cluster" if c.rank == 1 else f"Cluster {c.rank}"
        SubElement(pm, "name").text = f"{label} (p = {_fmt(c.p_value, '.3g')})"
        SubElement(pm, "description").text = _table(cluster_rows(result, c))
        if c.start is not None:
            span = SubElement(pm, "TimeSpan")
            SubElement(span, "begin").text = str(c.start)
            SubElement(span, "end").text = str(c.end)
        SubElement(pm, "styleUrl").text = "#" + ("significant" if c.p_value <= SIGNIFICANCE
                                                 else "not-significant")
        ext = SubElement(pm, "ExtendedData")
        for key in ("rank", "observed", "expected", "relative_risk", "llr", "p_value"):
            d = SubElement(ext, "Data", name=key)
            SubElement(d, "value").text = _fmt(getattr(c, key), ".10g")
        geom = (member_area(area, c, polygons, lonlat=True) if polygons is not None
                else cluster_shape(area, c, lonlat=True))
        _kml_geometry(pm, geom)

    folder = SubElement(doc, "Folder")
    SubElement(folder, "name").text = "Locations"
    xy = np.asarray(area.coords, dtype=np.float64)
    lon, lat = (xy[:, 0], xy[:, 1]) if to_lonlat is None else to_lonlat.transform(xy[:, 0],
                                                                                 xy[:, 1])
    table = result.locations_dataframe()
    for k, row in enumerate(table.to_dict(orient="records")):
        pm = SubElement(folder, "Placemark")
        SubElement(pm, "name").text = str(area.ids[k]) if names is None else \
            f"{area.ids[k]} {names[k]}".strip()
        SubElement(pm, "description").text = _table([
            ("Observed cases", _fmt(row["cases"], "g")),
            ("Expected cases", _fmt(row["expected"], ".2f")),
            ("Observed / expected", _fmt(row["observed_over_expected"], ".2f")),
            ("Population", _fmt(row["population"], ",.0f")),
            ("Cluster", str(row["cluster"]) if row["cluster"] else "none")])
        SubElement(pm, "styleUrl").text = "#in-cluster" if row["cluster"] else "#location"
        SubElement(SubElement(pm, "Point"), "coordinates").text = \
            f"{float(lon[k]):.8f},{float(lat[k]):.8f}"
    indent(kml)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(kml, encoding="utf-8",
                                                                    xml_declaration=False)


def write_kml(result, folder: Path, context) -> list[str]:
    """``clusters.kml`` in WGS84 for Google Earth."""
    if _no_crs(result, "clusters.kml"):
        return []
    polygons = None if context.polygons is None else check_polygons(result.area, context.polygons)
    (Path(folder) / "clusters.kml").write_bytes(kml_document(result, polygons))
    return ["clusters.kml"]
