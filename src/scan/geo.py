"""GeoPandas and pandas interop, and the notebook view of a result.

* :func:`from_geodataframe`: a :class:`~scan.data.StudyArea` from a GeoDataFrame of points or
  polygons (LSOAs read with ``geopandas.read_file`` from a GeoPackage, shapefile, GeoJSON...),
  in any CRS.
* :func:`to_geodataframe` (``ScanResult.to_geodataframe()``): clusters (circles or ellipses
  holding every member), clusters as member-polygon unions, or locations, as a GeoDataFrame in
  the data's CRS.  ``ScanResult.clusters_frame()`` and ``ScanResult.locations_dataframe()`` are
  the plain pandas tables, always available.
* :func:`html_repr` (``ScanResult._repr_html_``): what a notebook shows for a result: the
  settings, a table of the clusters and a small map drawn as inline SVG (no network).

GeoPandas is an optional extra: ``pip install scan[geo]``.  Nothing here is imported by
``import scan``.
"""
from __future__ import annotations

import logging
import math
from html import escape
from typing import Any, Sequence

import numpy as np

from .errors import ScanInputError, ScanParameterError

log = logging.getLogger(__name__)

GEO_EXTRA = "pip install scan[geo]"


def _geopandas(what: str):
    try:
        import geopandas
    except ImportError:
        raise ImportError(f"{what} needs GeoPandas, an optional extra of scan: install it with "
                          f"`{GEO_EXTRA}` (or `pip install geopandas`); the plain pandas tables "
                          "are result.clusters_frame() and result.locations_dataframe()") from None
    return geopandas


# --- from a GeoDataFrame ------------------------------------------------------------------------

def _values(gdf, spec, what: str, *, required: bool = True):
    """A column of ``gdf`` named by ``spec``, or ``spec`` itself as one value per row."""
    if spec is None:
        if required:
            raise ScanParameterError(what, "a column name or one value per row", None)
        return None
    if isinstance(spec, str):
        if spec not in gdf.columns:
            raise ScanParameterError(what, "a column of the GeoDataFrame (" + ", ".join(
                map(str, [c for c in gdf.columns if c != gdf.geometry.name][:12])) + ")", spec)
        return gdf[spec].to_numpy()
    values = np.asarray(spec)
    if values.ndim != 1 or len(values) != len(gdf):
        raise ScanParameterError(what, f"a column name or one value per row ({len(gdf)} rows)",
                                 f"an array of shape {values.shape}")
    return values


def _columns(gdf, spec, what: str):
    if spec is None:
        return None
    cols = [spec] if isinstance(spec, str) else list(spec)
    missing = [c for c in cols if c not in gdf.columns]
    if missing:
        raise ScanParameterError(what, "columns of the GeoDataFrame", ", ".join(missing))
    return gdf[cols].to_numpy(dtype=np.float64)


def _crs_of(gdf, crs):
    import pyproj

    given = crs if crs is not None else getattr(gdf, "crs", None)
    if given is None:
        raise ScanParameterError(
            "crs", "set on the GeoDataFrame or passed as crs=", None,
            "gdf = gdf.set_crs('EPSG:27700') for British National Grid metres, or "
            "gdf.set_crs('EPSG:4326') for longitude/latitude")
    try:
        return pyproj.CRS.from_user_input(given)
    except pyproj.exceptions.CRSError:
        raise ScanParameterError("crs", "a CRS pyproj understands, such as 'EPSG:27700'",
                                 str(given)) from None


def crs_name(crs) -> str:
    """'EPSG:27700' when the CRS has an EPSG code, else its WKT."""
    import pyproj

    crs = pyproj.CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def auto_projected_crs(lon: np.ndarray, lat: np.ndarray) -> str:
    """A projected CRS for longitude/latitude points: British National Grid (EPSG:27700) when
    every point lies in its area of use, else the WGS 84 UTM zone of the points' centre."""
    import pyproj
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    w, s, e, n = pyproj.CRS.from_user_input("EPSG:27700").area_of_use.bounds
    if ((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)).all():
        return "EPSG:27700"
    cx, cy = float(np.mean([lon.min(), lon.max()])), float(np.mean([lat.min(), lat.max()]))
    info = query_utm_crs_info(datum_name="WGS 84",
                              area_of_interest=AreaOfInterest(cx, cy, cx, cy))
    return f"{info[0].auth_name}:{info[0].code}"


def _transform(xy: np.ndarray, source, target) -> np.ndarray:
    import pyproj

    t = pyproj.Transformer.from_crs(source, target, always_xy=True)
    x, y = t.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _geometries(gdf) -> np.ndarray:
    return np.asarray(gdf.geometry.values, dtype=object)


def _check_geometries(geoms: np.ndarray, ids: np.ndarray, source: str) -> str:
    """"points" or "polygons"; a missing, empty or other geometry is an error naming the row."""
    import shapely

    kinds = set()
    for k, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            raise ScanInputError(f"row {k + 1} (id '{ids[k]}') has no geometry; drop it or give "
                                 "it a point or polygon", file=source, field="geometry")
        kind = {"Point": "points", "Polygon": "polygons",
                "MultiPolygon": "polygons"}.get(g.geom_type)
        if kind is None:
            raise ScanInputError(f"row {k + 1} (id '{ids[k]}') is a {g.geom_type}; scan needs "
                                 "points or polygons", file=source, field="geometry")
        kinds.add(kind)
    if len(kinds) > 1:
        raise ScanInputError("the geometries mix points and polygons; give one kind",
                             file=source, field="geometry")
    return kinds.pop()


def _centroid_points(gdf, centroids, crs, ids, source) -> np.ndarray:
    """(n, 2) given centroids in ``crs``: a GeoSeries/GeoDataFrame of points (any CRS, rows in
    the GeoDataFrame's order or index), a column of points, or two columns (x, y)."""
    if isinstance(centroids, (tuple, list)) and len(centroids) == 2 \
            and all(isinstance(c, str) for c in centroids):
        return _columns(gdf, centroids, "centroids")
    if isinstance(centroids, str):
        if centroids not in gdf.columns:
            raise ScanParameterError("centroids", "a column of points, two columns (x, y), or a "
                                     "GeoSeries of points", centroids)
        series = gdf[centroids]
    else:
        series = getattr(centroids, "geometry", centroids)
    if hasattr(series, "index") and hasattr(series, "loc") \
            and not series.index.equals(gdf.index):
        keys = [str(v) for v in series.index]
        if set(map(str, ids)) <= set(keys):        # indexed by the locations' ids
            where = {k: i for i, k in enumerate(keys)}
            series = series.iloc[[where[str(v)] for v in ids]]
        else:
            try:                                   # matched on the frame's index
                series = series.loc[gdf.index]
            except (KeyError, TypeError):
                pass                               # else by position
    pts = np.asarray(getattr(series, "values", series), dtype=object)
    if len(pts) != len(gdf):
        raise ScanParameterError("centroids", f"one point per row ({len(gdf)})",
                                 f"{len(pts)} points")
    xy = _point_xy(pts, ids, source)
    other = getattr(series, "crs", None)
    return xy if other is None else _transform(xy, other, crs)


def _point_xy(pts, ids, source) -> np.ndarray:
    import shapely

    out = np.empty((len(pts), 2))
    for k, p in enumerate(pts):
        if p is None or shapely.is_empty(p) or p.geom_type != "Point":
            raise ScanInputError(f"centroid of row {k + 1} (id '{ids[k]}') is not a point",
                                 file=source, field="centroids")
        out[k] = (p.x, p.y)
    return out


def from_geodataframe(gdf, *, cases, population=None, expected=None, id: str | None = None,
                      name: str | None = None, centroids=None, project_to: str | None = "auto",
                      crs=None, model: str = "poisson", case_strata=None,
                      population_strata=None, source: str = "GeoDataFrame"):
    """A :class:`~scan.data.StudyArea` from a GeoDataFrame of points or polygons.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One row per location, in any CRS (read from the frame; ``crs=`` when it has none).
    cases : str or array-like
        The column of case counts (or the counts, one per row).
    population : str or array-like, optional
        The population at risk (Bernoulli: cases plus controls).
    expected : str or array-like, optional
        Expected counts (Poisson), instead of or beside ``population``.
    id : str, optional
        The id column; default the column ``id`` when there is one, else the frame's index.
    name : str, optional
        A readable name for each location, carried into every output; default the column
        ``name`` when there is one.
    centroids : optional
        Where each polygon's location is: population-weighted centroids (the ONS publishes
        them for LSOAs) as a GeoSeries or GeoDataFrame of points (any CRS; matched on the
        locations' ids when its index holds them, else on the frame's index, else by
        position), the name of a column of points, or two column names
        ``(x, y)`` in the frame's CRS.  Without it a polygon's location is its geometric
        centroid (computed in the projected CRS), and a log line says so.  Ignored for points.
    project_to : "auto", a CRS, or None
        For longitude/latitude data: ``"auto"`` (default) reprojects with pyproj to British
        National Grid (EPSG:27700) when every location lies in its area of use, else to the
        UTM zone of the data's centre, and the scan uses Euclidean distances there; a CRS
        string reprojects to that projected CRS; ``None`` keeps longitude/latitude
        (``coordinates="latlong"``: great-circle distances on SaTScan's sphere).  Projected
        data stay in their CRS unless a CRS string is given.
    crs : optional
        The CRS of a frame that declares none.
    model : "poisson" or "bernoulli"
    case_strata, population_strata : lists of column names, optional
        Counts by covariate stratum (age band x sex), for indirect standardisation.
    source : str
        A name for messages and provenance.

    Returns
    -------
    StudyArea
        Rows in the frame's order, so ``list(gdf.geometry)`` (reprojected as the area:
        :func:`area_polygons`) are the locations' polygons for ``polygons=``.

    Examples
    --------
    >>> import geopandas, scan                                     # doctest: +SKIP
    >>> lsoa = geopandas.read_file("lsoa.gpkg")                    # doctest: +SKIP
    >>> area = scan.from_geodataframe(lsoa, cases="cases", population="population",
    ...                               id="LSOA11CD", name="LSOA11NM")  # doctest: +SKIP
    """
    from .data import study_area

    if not hasattr(gdf, "geometry"):
        raise ScanParameterError("gdf", "a GeoDataFrame (geopandas)", type(gdf).__name__,
                                 "for a plain DataFrame use scan.study_area(ids, x, y, cases, "
                                 "population)")
    if len(gdf) == 0:
        raise ScanInputError("the GeoDataFrame has no rows", file=source)
    source_crs = _crs_of(gdf, crs)
    if id is None:
        ids = gdf["id"].to_numpy() if "id" in gdf.columns else gdf.index.to_numpy()
    else:
        ids = _values(gdf, id, "id")
    ids = np.asarray([str(v) for v in ids])
    if name is None and "name" in gdf.columns:
        name = "name"
    names = None if name is None else _values(gdf, name, "name")
    geoms = _geometries(gdf)
    kind = _check_geometries(geoms, ids, source)

    # where the scan will work: a projected CRS (or lon/lat kept)
    if source_crs.is_geographic:
        if project_to is None:
            target = None
        elif project_to == "auto":
            import shapely

            c = shapely.centroid(geoms) if kind == "polygons" else geoms
            target = auto_projected_crs(shapely.get_x(c), shapely.get_y(c))
            log.info("%s: longitude/latitude reprojected to %s (pass project_to=None to keep "
                     "longitude/latitude and great-circle distances)", source, target)
        else:
            target = project_to
    else:
        target = None if project_to in (None, "auto") else project_to
    if target is not None:
        import pyproj

        try:
            target_crs = pyproj.CRS.from_user_input(target)
        except pyproj.exceptions.CRSError:
            raise ScanParameterError("project_to", "'auto', a projected CRS such as 'EPSG:27700', "
                                     "or None", target) from None
        if not target_crs.is_projected:
            raise ScanParameterError("project_to", "a projected CRS", target,
                                     "pass project_to=None to keep longitude/latitude")
    else:
        target_crs = source_crs
    moved = target_crs is not source_crs
    if kind == "points":
        xy, how = _point_xy(geoms, ids, source), "points"
    elif centroids is not None:
        xy, how = _centroid_points(gdf, centroids, source_crs, ids, source), "given centroids"
    else:
        xy, how, moved = _polygon_centroids(geoms, source_crs, target_crs), "polygon centroids", False
        log.warning("%s: note: each location is its polygon's geometric centroid; pass "
                    "centroids= with population-weighted centroids (the ONS publishes them for "
                    "LSOAs) to place locations where people live", source)
    if moved:
        xy = _transform(xy, source_crs, target_crs)
    if target_crs.is_geographic:
        coordinates, crs_out = "latlong", None
    else:
        coordinates, crs_out = "cartesian", crs_name(target_crs)
    cs = _columns(gdf, case_strata, "case_strata")
    ps = _columns(gdf, population_strata, "population_strata")
    kwargs: dict[str, Any] = {}
    if cs is not None or ps is not None:
        kwargs = dict(case_strata=cs, population_strata=ps,
                      strata_names=tuple(case_strata or population_strata or ()))
    return study_area(ids, xy[:, 0], xy[:, 1], _values(gdf, cases, "cases"),
                      _values(gdf, population, "population", required=False),
                      expected=_values(gdf, expected, "expected", required=False),
                      coordinates=coordinates, crs=crs_out, model=model,
                      source=f"{source} ({how})", names=names, **kwargs)


def _polygon_centroids(geoms, source_crs, target_crs) -> np.ndarray:
    """Geometric centroids, computed in a projected CRS (the target's, or the UTM zone's when
    longitude/latitude are kept), returned in ``target_crs``."""
    import shapely

    work = target_crs
    if work.is_geographic:
        c = shapely.centroid(geoms)
        work_name = auto_projected_crs(shapely.get_x(c), shapely.get_y(c))
        import pyproj

        work = pyproj.CRS.from_user_input(work_name)
    moved = geoms
    if not work.equals(source_crs):
        import pyproj

        t = pyproj.Transformer.from_crs(source_crs, work, always_xy=True)
        moved = shapely.transform(geoms, lambda c: np.column_stack(t.transform(c[:, 0],
                                                                                c[:, 1])))
    c = shapely.centroid(moved)
    xy = np.column_stack([shapely.get_x(c), shapely.get_y(c)])
    return xy if work.equals(target_crs) else _transform(xy, work, target_crs)


def area_polygons(polygons, area) -> list:
    """The locations' polygons as a list of shapely geometries in ``area``'s CRS and order.

    ``polygons`` : a GeoSeries or GeoDataFrame (reprojected from its CRS; matched on the
    ``area``'s ids through an ``id`` column or the index when those hold them, else by
    position), or a sequence of shapely geometries already in the data's CRS and order.
    """
    from .io.gis import data_crs

    series = getattr(polygons, "geometry", polygons)
    crs = getattr(series, "crs", None)
    frame = polygons if hasattr(polygons, "columns") else None
    geoms = list(np.asarray(getattr(series, "values", series), dtype=object))
    if frame is not None or hasattr(series, "index"):
        keys = None
        if frame is not None and "id" in frame.columns:
            keys = [str(v) for v in frame["id"]]
        elif hasattr(series, "index"):
            keys = [str(v) for v in series.index]
        if keys is not None and set(map(str, area.ids)) <= set(keys):
            where = {k: i for i, k in enumerate(keys)}
            geoms = [geoms[where[str(v)]] for v in area.ids]
    if len(geoms) != area.n_locations:
        raise ScanParameterError("polygons", f"one polygon per location ({area.n_locations}), "
                                 "matched by id or in the data's order", f"{len(geoms)} polygons")
    target = data_crs(area)
    if crs is not None and target is not None:
        import pyproj
        import shapely

        source = pyproj.CRS.from_user_input(crs)
        if not source.equals(pyproj.CRS.from_user_input(target)):
            t = pyproj.Transformer.from_crs(source, target, always_xy=True)
            geoms = [None if g is None else shapely.transform(
                g, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1]))) for g in geoms]
    return geoms


# --- to a GeoDataFrame --------------------------------------------------------------------------

def to_geodataframe(result, what: str = "clusters", *, polygons=None):
    """The result as a GeoDataFrame in the data's CRS.

    Parameters
    ----------
    result : ScanResult
    what : "clusters", "areas" or "locations"
        ``"clusters"``: one row per cluster (the columns of clusters.csv), its circle or
        ellipse as a polygon holding every member strictly inside (a one-location cluster gets
        a small non-zero radius); ``"areas"``: the same rows, each cluster the union of its
        members' polygons (needs ``polygons``); ``"locations"``: one row per location (the
        columns of locations.csv) with its point, or its polygon when ``polygons`` are given.
    polygons : optional
        The locations' polygons: a GeoSeries/GeoDataFrame or a list (see
        :func:`area_polygons`).

    Returns
    -------
    geopandas.GeoDataFrame
        With the data's CRS (none for plain Cartesian coordinates).
    """
    from .errors import check_choice
    from .io.gis import _as_multi, _polygonal, clusters_table, cluster_shape, data_crs, \
        member_area

    gpd = _geopandas("ScanResult.to_geodataframe()")
    check_choice("what", what, ("clusters", "areas", "locations"))
    area = result.area
    polys = None if polygons is None else area_polygons(polygons, area)
    if what == "areas" and polys is None:
        raise ScanParameterError("polygons", "the locations' polygons for what='areas'", None,
                                 "pass polygons= (a GeoSeries, GeoDataFrame or list)")
    if what == "locations":
        df = result.locations_dataframe()
        geometry = ([_as_multi(_polygonal(p)) for p in polys] if polys is not None
                    else gpd.points_from_xy(area.coords[:, 0], area.coords[:, 1]))
    else:
        df = clusters_table(result)
        geometry = [member_area(area, c, polys) if what == "areas" else cluster_shape(area, c)
                    for c in result.clusters]
    return gpd.GeoDataFrame(df, geometry=list(geometry), crs=data_crs(area))


# --- the notebook view --------------------------------------------------------------------------

MAP_WIDTH = 320
"""Width of the notebook map, pixels."""

MAX_ROWS = 10
"""Clusters shown in the notebook table (all are in clusters_frame())."""


def _svg_map(result, width: int = MAP_WIDTH) -> str:
    """Locations as dots, clusters as outlines, in the data's coordinates (y up)."""
    import shapely

    from .io.gis import SIGNIFICANCE, cluster_shape

    area = result.area
    xy = np.asarray(area.coords, dtype=np.float64)
    shapes = []
    for c in result.clusters[:MAX_ROWS]:
        try:
            shapes.append((c, cluster_shape(area, c, segments=64)))
        except Exception:  # a drawing is a convenience; never fail a repr for it
            continue
    bounds = np.vstack([xy] + [np.asarray(s.exterior.coords) for _, s in shapes])
    lo, hi = bounds.min(axis=0), bounds.max(axis=0)
    kx = math.cos(math.radians(float(np.mean(xy[:, 1])))) if area.coordinates == "latlong" else 1
    span = np.array([(hi[0] - lo[0]) * kx, hi[1] - lo[1]])
    span[span <= 0] = 1.0
    pad = 8.0
    scale = (width - 2 * pad) / max(span[0], span[1] * 0.8, 1e-300)
    height = int(round(span[1] * scale + 2 * pad))

    def px(points):
        p = np.asarray(points, dtype=np.float64)
        return np.column_stack([pad + (p[:, 0] - lo[0]) * kx * scale,
                                height - pad - (p[:, 1] - lo[1]) * scale])

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="map of the clusters" '
             'style="background:#fafafa;border:1px solid #ddd">']
    in_cluster = np.zeros(len(xy), dtype=bool)
    for c in result.clusters:
        in_cluster[np.asarray(c.member_indices, dtype=int)] = True
    for (x, y), inside in zip(px(xy), in_cluster):
        colour = "#c0392b" if inside else "#999"
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2.2 if inside else 1.6}" '
                     f'fill="{colour}"/>')
    for c, shape in reversed(shapes):
        colour = "#e31c1c" if c.p_value <= SIGNIFICANCE else "#f58c0c"
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in px(np.asarray(shape.exterior.coords)))
        parts.append(f'<polygon points="{path}" fill="{colour}" fill-opacity="0.12" '
                     f'stroke="{colour}" stroke-width="1.5"><title>cluster {c.rank}, p = '
                     f'{c.p_value:.3g}</title></polygon>')
        cx, cy = px(np.array([shapely.get_coordinates(shape.centroid)[0]]))[0]
        parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="11" text-anchor="middle" '
                     f'dominant-baseline="middle" fill="{colour}" font-family="sans-serif">'
                     f'{c.rank}</text>')
    parts.append("</svg>")
    return "".join(parts)


_TD = "padding:0.15em 0.5em;text-align:right;"


def _cell(value, spec: str) -> str:
    from .io.gis import _fmt

    return escape(_fmt(value, spec))


def html_repr(result) -> str:
    """HTML for a notebook: settings, a table of the clusters (most likely first) and an inline
    SVG map.  Self-contained (no scripts, no network)."""
    area = result.area
    p = result.parameters
    names = getattr(area, "names", None)
    head = (f"<strong>ScanResult</strong>: {escape(str(result.analysis))} scan, "
            f"{escape(str(p.get('model', '')))} model, {escape(str(p.get('direction', '')))} "
            f"rates; {area.n_locations:,} locations, {area.total_cases:,} cases; "
            f"{len(result.null_distribution):,} replications, seed {result.seed}")
    spacetime = any(c.start is not None for c in result.clusters)
    cols = ["rank", "centre", "locations", "observed", "expected", "O/E", "RR", "LLR", "p"]
    if spacetime:
        cols.insert(3, "time window")
    rows = []
    for c in result.clusters[:MAX_ROWS]:
        centre = str(c.center)
        if names is not None and c.center_index >= 0 and str(names[c.center_index]):
            centre += f" ({names[c.center_index]})"
        cells = [str(c.rank), escape(centre), str(c.n_locations)]
        if spacetime:
            cells.append(escape(f"{c.start} to {c.end}" if c.start is not None else ""))
        cells += [_cell(c.observed, "g"), _cell(c.expected, ".2f"),
                  _cell(c.observed_over_expected, ".2f"), _cell(c.relative_risk, ".2f"),
                  _cell(c.llr, ".3f"), _cell(c.p_value, ".3g")]
        weight = "font-weight:bold;" if c.p_value <= 0.05 else ""
        rows.append(f'<tr style="{weight}">' + "".join(
            f'<td style="{_TD}{"text-align:left" if k == 1 else ""}">{v}</td>'
            for k, v in enumerate(cells)) + "</tr>")
    more = len(result.clusters) - MAX_ROWS
    note = (f"<p>{more} more cluster(s) in <code>result.clusters_frame()</code>.</p>"
            if more > 0 else "")
    if not result.clusters:
        table = "<p>No cluster found (no window deviating in the scanned direction).</p>"
    else:
        table = ('<table style="border-collapse:collapse;font-size:90%">'
                 "<thead><tr>" + "".join(f'<th style="{_TD}">{escape(h)}</th>' for h in cols) +
                 "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + note)
    try:
        svg = _svg_map(result)
    except Exception:  # pragma: no cover - a drawing is a convenience
        svg = ""
    return (f'<div class="scan-result"><p>{head}</p>'
            '<div style="display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap">'
            f"<div>{table}<p style=\"font-size:85%\">Bold: p &le; 0.05. "
            "<code>result.summary()</code> for the full text.</p></div>"
            f"<div>{svg}</div></div></div>")


__all__: Sequence[str] = ("from_geodataframe", "to_geodataframe", "area_polygons", "html_repr",
                          "auto_projected_crs")
