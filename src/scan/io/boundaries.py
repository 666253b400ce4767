"""Read area boundaries (LSOA, ward...) from GIS files, in any CRS, as shapely 2 polygons.

Formats
-------
* **GeoPackage** (``.gpkg``), **shapefile** (``.shp``, or a ``.zip`` holding one), **GeoJSON**
  (``.geojson``, ``.json``), **FlatGeobuf** (``.fgb``) and anything else GDAL reads as vector
  data, through pyogrio.  The CRS is read from the file (a shapefile's ``.prj``, a GeoPackage's
  layer, GeoJSON's WGS84), never assumed; a file that declares none is refused unless ``crs=``
  says what it is.  A file with several layers: the first layer of polygons is read (pass
  ``layer=`` for another).
* **WKT in a CSV** (``.csv``, ``.txt``): one row per area, an id column and a geometry column of
  WKT.  A CSV cannot declare its CRS, so the column's name says it: ``geometry_wkt_bng`` is
  British National Grid (EPSG:27700), ``geometry_wkt_wgs84`` is longitude/latitude
  (EPSG:4326), and a plain ``geometry`` / ``wkt`` column is EPSG:27700 (the layout of the LSOA
  boundary extracts) unless ``crs=`` says otherwise.  Coordinates that look like
  longitude/latitude in a column declared EPSG:27700 are refused with the fix.

Columns
-------
The id column is ``id_column`` when given; else ``id``; else an ONS code column (``LSOA11CD``,
``LSOA21CD``, ``lsoa11cd``, ``MSOA11CD``, ``WD25CD``, ...; LSOA codes first); else the first
column holding text.  When ``ids`` are given and no ``id_column``, the first of those candidate
columns holding every id is used.  The name column is ``name_column`` when given; else
``name``; else the id column's ``..NM`` twin (``LSOA11NM`` beside ``LSOA11CD``); else none.

Every geometry must be a Polygon or MultiPolygon (not empty); ids must be unique.  Errors are
:class:`~scan.errors.ScanInputError` naming the file, the feature (1-based, the CSV line for a
CSV) and what was found.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ScanInputError, ScanParameterError

log = logging.getLogger(__name__)

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"

_CSV_SUFFIXES = (".csv", ".txt")
#: geometry columns of a WKT CSV, and the CRS each one means (None: ``crs=`` or EPSG:27700)
_WKT_COLUMNS = {"geometry_wkt_bng": BNG, "geometry_wkt_wgs84": WGS84, "geometry": None,
                "wkt": None, "geometry_wkt": None, "the_geom": None, "geom": None}
_LSOA_CODE = re.compile(r"^lsoa\d*_?(cd|code)$", re.IGNORECASE)
_OTHER_CODE = re.compile(r"^(oa|msoa|wd|ward|lad|ltla|utla|ctry|rgn|cty)\d*_?(cd|code)$",
                         re.IGNORECASE)
_SHOWN = 5


@dataclass(frozen=True, eq=False)
class Boundaries:
    """Polygons of areas, one per id.

    ids : tuple of str, unique.  polygons : tuple of shapely Polygon / MultiPolygon, in the
    order of ``ids``.  names : tuple of str (readable names) or None.  crs : the CRS of the
    coordinates as the file declared it ("EPSG:27700", a WKT string...).  source : the file.
    id_column, name_column : the columns the ids and names came from.
    """

    ids: tuple[str, ...]
    polygons: tuple
    names: tuple[str, ...] | None
    crs: str
    source: str
    id_column: str = "id"
    name_column: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.ids)}

    def select(self, ids: Sequence[str]) -> "Boundaries":
        """These ids' polygons, in this order; every id must have one."""
        ids = [str(v) for v in ids]
        where = self.index()
        missing = [v for v in ids if v not in where]
        if missing:
            raise _missing_ids(missing, len(ids), self.source, self.id_column, self.ids)
        rows = [where[v] for v in ids]
        return replace(self, ids=tuple(ids), polygons=tuple(self.polygons[r] for r in rows),
                       names=None if self.names is None else tuple(self.names[r] for r in rows))

    def to_crs(self, crs: str) -> "Boundaries":
        """The polygons reprojected into ``crs`` with pyproj (a copy; unchanged when equal)."""
        import pyproj
        import shapely

        target = _crs(crs, "crs")
        source = _crs(self.crs, "crs")
        if source.equals(target, ignore_axis_order=True):
            return replace(self, crs=str(crs))
        t = pyproj.Transformer.from_crs(source, target, always_xy=True)

        def move(xy: np.ndarray) -> np.ndarray:
            x, y = t.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        polygons = tuple(shapely.transform(p, move) for p in self.polygons)
        return replace(self, polygons=polygons, crs=str(crs))

    def outline(self):
        """The union of every polygon (the study area's outline)."""
        import shapely

        return shapely.union_all(list(self.polygons))

    def centroids(self) -> np.ndarray:
        """(n, 2) geometric centroids, in the boundaries' CRS."""
        import shapely

        c = shapely.centroid(np.asarray(self.polygons, dtype=object))
        return np.column_stack([shapely.get_x(c), shapely.get_y(c)])


def _crs(value, name: str):
    import pyproj

    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        raise ScanParameterError(name, "a CRS pyproj understands, such as 'EPSG:27700'",
                                 value) from None


def _missing_ids(missing: list[str], n: int, source: str, column: str, found) -> ScanInputError:
    shown = ", ".join(repr(v) for v in missing[:_SHOWN])
    more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    example = ", ".join(repr(v) for v in list(found)[:3])
    return ScanInputError(f"{len(missing)} of {n} study location(s) have no boundary, e.g. "
                          f"{shown}{more}; the ids were read from column '{column}', which holds "
                          f"e.g. {example}: pass id_column= (CLI: the file's id column must be "
                          "named id or be an ONS code column) or add the missing polygons",
                          file=source, field=column)


# --- choosing columns ---------------------------------------------------------------------------

def _id_candidates(columns: Sequence[str], text_columns: Sequence[str]) -> list[str]:
    out = [c for c in columns if c.lower() == "id"]
    out += [c for c in columns if _LSOA_CODE.match(c)]
    out += [c for c in columns if _OTHER_CODE.match(c)]
    out += [c for c in text_columns]
    return list(dict.fromkeys(out))


def _choose_id_column(columns, text_columns, values_of, *, id_column, ids, file) -> str:
    if id_column is not None:
        if id_column not in columns:
            raise ScanInputError(f"no column '{id_column}' (the id column asked for); columns "
                                 f"are {', '.join(columns) or 'none'}", file=file, line=1,
                                 field=id_column)
        return id_column
    candidates = _id_candidates(columns, text_columns)
    if not candidates:
        raise ScanInputError("no id column: expected a column named 'id', an ONS code column "
                             "(LSOA11CD, LSOA21CD, ...) or a column of text; columns are "
                             f"{', '.join(columns) or 'none'}", file=file, line=1)
    if ids is not None:
        wanted = {str(v) for v in ids}
        best, hits = candidates[0], -1
        for c in candidates:
            n = len(wanted.intersection(values_of(c)))
            if n == len(wanted):
                return c
            if n > hits:
                best, hits = c, n
        return best
    return candidates[0]


def _choose_name_column(columns, id_col: str, name_column, file: str) -> str | None:
    if name_column is not None:
        if name_column not in columns:
            raise ScanInputError(f"no column '{name_column}' (the name column asked for); "
                                 f"columns are {', '.join(columns)}", file=file, line=1,
                                 field=name_column)
        return name_column
    for c in columns:
        if c.lower() == "name":
            return c
    if id_col[-2:].lower() == "cd":
        twin = id_col[:-2] + ("NM" if id_col[-2:] == "CD" else "nm")
        for c in columns:
            if c == twin or c.lower() == twin.lower():
                return c
    return None


# --- geometries ---------------------------------------------------------------------------------

def _check_polygons(geoms, ids, file: str, where) -> None:
    import shapely

    for k, (g, ident) in enumerate(zip(geoms, ids)):
        label = where(k)
        if g is None or shapely.is_empty(g):
            raise ScanInputError(f"{label} (id '{ident}') has no geometry", file=file,
                                 field="geometry")
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise ScanInputError(f"{label} (id '{ident}') is a {g.geom_type}; boundaries must "
                                 "be polygons (for points give the locations file x, y "
                                 "instead)", file=file, field="geometry")


def _check_unique(ids, file: str, column: str, where) -> None:
    first: dict[str, int] = {}
    for k, v in enumerate(ids):
        if v in first:
            raise ScanInputError(f"id '{v}' appears twice ({where(first[v])} and {where(k)}); "
                                 "give one (multi)polygon per area (dissolve the parts first)",
                                 file=file, field=column)
        first[v] = k


def _check_not_lonlat(geoms, crs: str, file: str, column: str) -> None:
    """Refuse degrees declared as a projected CRS (the usual WKT-CSV mistake)."""
    import shapely

    if _crs(crs, "crs").is_geographic:
        return
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.asarray(geoms, dtype=object))
    if max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90:
        raise ScanInputError(
            f"the polygons' coordinates look like longitude/latitude (all within [-180, 180] x "
            f"[-90, 90]) but column '{column}' is read as {crs}; name the column "
            "geometry_wkt_wgs84, or pass crs='EPSG:4326'", file=file, field=column)


# --- readers ------------------------------------------------------------------------------------

def read_boundaries(path: str | os.PathLike, *, ids: Sequence[str] | None = None,
                    id_column: str | None = None, name_column: str | None = None,
                    crs: str | None = None, layer: str | int | None = None) -> Boundaries:
    """Read area polygons from a GIS file or a CSV of WKT (see the module docstring).

    Parameters
    ----------
    path : the file.
    ids : optional ids wanted, in order; the result then holds exactly these, in this order,
        and an id without a polygon is an error naming it.  Without ``ids``, every feature, in
        file order.
    id_column, name_column : the columns of the ids and the readable names (default: detected).
    crs : the CRS of files that declare none (a CSV's plain ``geometry`` column, a shapefile
        without ``.prj``); a CRS the file declares always wins (a different ``crs=`` is an error).
    layer : the layer of a multi-layer file (default: the first layer of polygons).

    Returns
    -------
    :class:`Boundaries` in the file's CRS; :meth:`Boundaries.to_crs` reprojects.
    """
    path = Path(path)
    file = str(path)
    if path.is_dir() and path.suffix.lower() not in (".gdb",):
        raise ScanInputError("is a folder, not a boundaries file", file=file)
    if not path.exists():
        raise ScanInputError("boundaries file not found", file=file)
    if not os.access(path, os.R_OK):
        raise ScanInputError("cannot be read: permission denied", file=file)
    if path.suffix.lower() in _CSV_SUFFIXES:
        b, column = _read_wkt_csv(path, ids=ids, id_column=id_column, name_column=name_column,
                                  crs=crs)
        b = b.select(ids) if ids is not None else b
        _check_not_lonlat(b.polygons, b.crs, file, column)
        return b
    b = _read_gis(path, ids=ids, id_column=id_column, name_column=name_column, crs=crs,
                  layer=layer)
    return b.select(ids) if ids is not None else b


def _read_gis(path: Path, *, ids, id_column, name_column, crs, layer) -> Boundaries:
    import pyogrio
    import shapely
    from pyogrio.errors import DataLayerError, DataSourceError

    file = str(path)
    try:
        layers = pyogrio.list_layers(path)
    except (DataSourceError, DataLayerError, OSError) as err:
        raise ScanInputError(f"cannot be read as GIS data ({_first_line(err)}); boundaries are "
                             "read from GeoPackage, shapefile, GeoJSON, FlatGeobuf or a CSV of "
                             "WKT", file=file) from None
    if layer is None:
        polygonal = [str(name) for name, kind in layers
                     if kind is not None and "polygon" in str(kind).lower()]
        if not polygonal:
            found = ", ".join(f"{name} ({kind or 'no geometry'})" for name, kind in layers)
            raise ScanInputError(f"no layer of polygons (layers: {found or 'none'})", file=file)
        layer = polygonal[0]
        if len(layers) > 1:
            log.info("%s: reading layer %r of %d", file, layer, len(layers))
    try:
        meta, _, wkb, field_data = pyogrio.raw.read(path, layer=layer)
    except (DataSourceError, DataLayerError, OSError) as err:
        raise ScanInputError(f"cannot be read as GIS data ({_first_line(err)})",
                             file=file) from None
    columns = [str(c) for c in meta["fields"]]
    values = {c: field_data[k] for k, c in enumerate(columns)}
    text_columns = [c for c, d in zip(columns, meta["dtypes"]) if str(d) == "object"]
    if len(wkb) == 0:
        raise ScanInputError("no features", file=file)

    def values_of(c):
        return {_as_text(v) for v in values[c]}

    id_col = _choose_id_column(columns, text_columns, values_of, id_column=id_column, ids=ids,
                               file=file)
    name_col = _choose_name_column(columns, id_col, name_column, file)
    the_ids = [_as_text(v) for v in values[id_col]]

    def where(k):
        return f"feature {k + 1}"

    for k, v in enumerate(the_ids):
        if v == "":
            raise ScanInputError(f"{where(k)} has no id", file=file, field=id_col)
    _check_unique(the_ids, file, id_col, where)
    geoms = [None if g is None else shapely.from_wkb(g) for g in wkb]
    _check_polygons(geoms, the_ids, file, where)
    declared = meta.get("crs")
    if declared is None:
        if crs is None:
            raise ScanInputError("declares no coordinate reference system (a shapefile needs "
                                 "its .prj file beside it); add it, or pass crs='EPSG:27700' "
                                 "(or the right CRS)", file=file)
        declared = crs
    elif crs is not None and not _crs(crs, "crs").equals(_crs(declared, "crs"),
                                                         ignore_axis_order=True):
        raise ScanParameterError("crs", f"None or the file's own CRS ({declared})", crs,
                                 "the CRS a file declares is used as it is; drop crs=")
    names = (tuple(_as_text(v) for v in values[name_col]) if name_col is not None else None)
    return Boundaries(ids=tuple(the_ids), polygons=tuple(geoms), names=names,
                      crs=_short_crs(declared), source=file, id_column=id_col,
                      name_column=name_col)


def _read_wkt_csv(path: Path, *, ids, id_column, name_column, crs) -> tuple[Boundaries, str]:
    import pandas as pd
    import shapely

    file = str(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeError, pd.errors.ParserError) as err:
        raise ScanInputError(f"cannot be read as a CSV of WKT polygons ({_first_line(err)})",
                             file=file) from None
    columns = [str(c) for c in df.columns]
    geometry_col = next((c for c in columns if c.lower() in _WKT_COLUMNS
                         and _WKT_COLUMNS[c.lower()] == BNG), None) \
        or next((c for c in columns if c.lower() in _WKT_COLUMNS), None)
    if geometry_col is None:
        raise ScanInputError("no geometry column of WKT (expected one named geometry, wkt, "
                             f"geometry_wkt_bng or geometry_wkt_wgs84); columns are "
                             f"{', '.join(columns)}", file=file, line=1)
    if df.empty:
        raise ScanInputError("no data rows after the header", file=file, line=2)
    by_name = _WKT_COLUMNS[geometry_col.lower()]
    if by_name is not None and crs is not None and not _crs(crs, "crs").equals(
            _crs(by_name, "crs"), ignore_axis_order=True):
        raise ScanParameterError("crs", f"None or {by_name} (column '{geometry_col}' says so)",
                                 crs)
    the_crs = by_name or crs or BNG
    others = [c for c in columns if c != geometry_col and c.lower() not in _WKT_COLUMNS]
    text_columns = [c for c in others
                    if not pd.to_numeric(df[c], errors="coerce").notna().all()]

    def values_of(c):
        return set(df[c].str.strip())

    id_col = _choose_id_column(others, text_columns, values_of, id_column=id_column, ids=ids,
                               file=file)
    name_col = _choose_name_column(others, id_col, name_column, file)
    the_ids = [v.strip() for v in df[id_col]]

    def where(k):
        return f"line {k + 2}"

    for k, v in enumerate(the_ids):
        if v == "":
            raise ScanInputError("empty id", file=file, line=k + 2, field=id_col)
    _check_unique(the_ids, file, id_col, where)
    geoms = []
    for k, text in enumerate(df[geometry_col]):
        try:
            geoms.append(shapely.from_wkt(text) if text.strip() else None)
        except shapely.errors.ShapelyError as err:
            raise ScanInputError(f"not a WKT geometry ({_first_line(err)})", file=file,
                                 line=k + 2, field=geometry_col) from None
    _check_polygons(geoms, the_ids, file, where)
    names = tuple(v.strip() for v in df[name_col]) if name_col is not None else None
    return Boundaries(ids=tuple(the_ids), polygons=tuple(geoms), names=names, crs=the_crs,
                      source=file, id_column=id_col, name_column=name_col), geometry_col


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _short_crs(crs) -> str:
    """'EPSG:27700' when the CRS has an EPSG code, else its WKT."""
    obj = _crs(crs, "crs")
    code = obj.to_epsg(min_confidence=90)
    if code is not None:
        return f"EPSG:{code}"
    auth = obj.to_authority(min_confidence=90)
    return ":".join(auth) if auth else obj.to_wkt()


def _first_line(err) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def boundaries_for(area, path: str | os.PathLike, *, id_column: str | None = None,
                   name_column: str | None = None, crs: str | None = None) -> Boundaries:
    """The polygons of every location of a study area (or space-time data), in its order and in
    its coordinates' CRS: the area's projected CRS, WGS84 (EPSG:4326) for longitude/latitude
    data, and the file's own CRS unchanged when the coordinates have no CRS (plain numbers)."""
    b = read_boundaries(path, ids=list(area.ids), id_column=id_column,
                        name_column=name_column, crs=crs)
    if area.coordinates == "cartesian" and area.crs is None:
        return b
    return b.to_crs(area.crs if area.coordinates == "cartesian" else WGS84)
