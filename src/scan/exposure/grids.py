"""Pollution concentration grids as :class:`xarray.Dataset`.

A grid read by this module always has the same shape, whatever file it came from:

* dimensions ``y`` then ``x``; coordinates are cell **centres** in British National Grid
  metres (EPSG:27700); ``x`` and ``y`` both ascending (so row 0 is the southern edge);
* one float64 variable per pollutant, named ``"NO2"``, ``"PM10"`` or ``"PM25"``, with
  ``units="µg/m³"``;
* dataset attributes ``crs="EPSG:27700"``, ``source`` (the file name) and ``resolution_m``.

Readers (dispatched by :func:`read_grid`):

* LAEI 2019 CSV ``x,y,conc`` and LAEI 2013 CSV ``x,y,conct,year`` (one pollutant per file,
  taken from the file name, e.g. ``laei_LAEI2019v3_CorNOx15_NO2.csv``, or given explicitly);
* ESRI ASCII grids (``.asc``), whose first data row is the NORTHERN edge;
* NetCDF written by :func:`write_netcdf` (engine h5netcdf).

``bbox=(xmin, ymin, xmax, ymax)`` keeps only cells whose centres lie in the box, and it does so
while reading: CSVs are streamed in chunks, ASC rows outside the box are skipped unparsed, and
NetCDF is opened lazily and sliced before loading.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ScanInputError, ScanParameterError

CRS = "EPSG:27700"
UNITS = "µg/m³"
POLLUTANTS = ("NO2", "PM10", "PM25")
LONG_NAMES = {
    "NO2": "annual mean nitrogen dioxide",
    "PM10": "annual mean particulate matter < 10 µm",
    "PM25": "annual mean particulate matter < 2.5 µm",
}
# Lower-cased spellings (after removing '.', '_', '-', ' ') accepted for each pollutant.
_ALIASES = {"no2": "NO2", "pm10": "PM10", "pm25": "PM25"}

CSV_CHUNK_ROWS = 200_000  # rows per pandas chunk when streaming a LAEI CSV
# Relative tolerance on cell spacing: coordinates within this fraction of a cell are "on grid".
SPACING_RTOL = 1e-6
# British National Grid extent, metres (false origin to the far north of Shetland).
BNG_X_RANGE_M = (0.0, 700_000.0)
BNG_Y_RANGE_M = (0.0, 1_300_000.0)

_POLLUTANT_IN_NAME = re.compile(r"(?<![A-Za-z0-9])(NO2|PM10|PM2\.5|PM25|PM2_5)(?![A-Za-z0-9])",
                                re.IGNORECASE)
_NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".h5")


# ---------------------------------------------------------------------------------------------
# Names, parameters and coordinate checks
# ---------------------------------------------------------------------------------------------

def canonical_pollutant(name: str) -> str:
    """Return "NO2", "PM10" or "PM25" for any accepted spelling ("PM2.5", "pm25", "no2", ...)."""
    key = re.sub(r"[._\-\s]", "", str(name)).lower()
    if key not in _ALIASES:
        raise ScanParameterError("pollutant", "one of 'NO2', 'PM10', 'PM25' (or 'PM2.5')", name,
                                 "LAEI pollutants other than these have no exposure limits here")
    return _ALIASES[key]


def pollutant_from_filename(path: str | os.PathLike) -> str:
    """Find the pollutant in a file name such as ``laei_LAEI2019v3_CorNOx15_NO2.csv``."""
    found = {canonical_pollutant(m) for m in _POLLUTANT_IN_NAME.findall(Path(path).name)}
    if len(found) != 1:
        what = "no pollutant" if not found else "several pollutants " + ", ".join(sorted(found))
        raise ScanInputError(f"{what} in the file name; pass pollutant='NO2', 'PM10' or 'PM25'",
                             file=str(path))
    return found.pop()


def _check_bbox(bbox) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ScanParameterError("bbox", "(xmin, ymin, xmax, ymax) in metres", bbox) from None
    if not (xmin < xmax and ymin < ymax):
        raise ScanParameterError("bbox", "(xmin, ymin, xmax, ymax) with xmin < xmax and ymin < ymax",
                                 bbox, "the order is (west, south, east, north)")
    return xmin, ymin, xmax, ymax


def _check_metres(x: np.ndarray, y: np.ndarray, *, file, line: int | None = None) -> None:
    """Reject coordinates that are longitude/latitude or otherwise not BNG metres."""
    x = x[np.isfinite(x)]
    y = y[np.isfinite(y)]
    if x.size == 0:
        return
    if np.all(np.abs(x) <= 180) and np.all(np.abs(y) <= 90):
        raise ScanInputError(
            "coordinates look like longitude/latitude (x within ±180, y within ±90); grids must be "
            f"in British National Grid metres ({CRS}): project them, e.g. with pyproj",
            file=file, line=line)
    (x0, x1), (y0, y1) = BNG_X_RANGE_M, BNG_Y_RANGE_M
    if x.min() < x0 or x.max() > x1 or y.min() < y0 or y.max() > y1:
        raise ScanInputError(
            f"coordinates x {x.min():g}..{x.max():g}, y {y.min():g}..{y.max():g} are outside the "
            f"British National Grid ({CRS}, metres: x 0..700000, y 0..1300000)",
            file=file, line=line)


def make_dataset(arrays: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, *,
                 source: str, extra_attrs: Mapping | None = None):
    """Wrap ``(ny, nx)`` arrays (row 0 = southernmost) into the standard grid Dataset."""
    import xarray as xr

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    data_vars = {}
    for name, values in arrays.items():
        name = canonical_pollutant(name)
        data_vars[name] = xr.Variable(("y", "x"), np.asarray(values, dtype=np.float64),
                                      attrs={"units": UNITS, "long_name": LONG_NAMES[name]})
    coords = {"x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate",
                             "long_name": "easting, cell centre"}),
              "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate",
                             "long_name": "northing, cell centre"})}
    attrs = {"crs": CRS, "source": str(source), "resolution_m": _resolution(x, y)}
    attrs.update(extra_attrs or {})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _resolution(x: np.ndarray, y: np.ndarray) -> float:
    steps = np.concatenate([np.diff(x), np.diff(y)])
    return float(steps.min()) if steps.size else float("nan")


# ---------------------------------------------------------------------------------------------
# Scattered points (one per cell) -> rectangular grid, with the checks that name file and line
# ---------------------------------------------------------------------------------------------

def _axis(values: np.ndarray, name: str, *, file) -> tuple[np.ndarray, float]:
    """Sorted unique coordinates filled to a regular axis; raise on irregular spacing.

    The step is the smallest spacing when every spacing is a whole multiple of it (gaps are then
    missing cells, reported by the caller); otherwise the spacing is irregular and the message
    names the first pair of centres that is off the most common spacing.
    """
    uniq = np.unique(values)
    if uniq.size == 1:
        return uniq, float("nan")
    steps = np.diff(uniq)
    step = float(steps.min())
    if _off_grid(steps, step).any():
        common = _most_common(steps)
        off = _off_grid(steps, common)
        if not off.any():
            off, common = _off_grid(steps, step), step
        i = int(np.flatnonzero(off)[0])
        raise ScanInputError(
            f"irregular spacing of {name}: cell centres {uniq[i]:g} and {uniq[i + 1]:g} are "
            f"{steps[i]:g} m apart but the grid step is {common:g} m", file=file, field=name)
    n = int(round((uniq[-1] - uniq[0]) / step)) + 1
    return uniq[0] + step * np.arange(n), step


def _off_grid(steps: np.ndarray, step: float) -> np.ndarray:
    multiples = steps / step
    return np.abs(multiples - np.round(multiples)) > SPACING_RTOL * np.maximum(multiples, 1)


def _most_common(steps: np.ndarray) -> float:
    """The grid step: the most frequent spacing (ties: the smallest)."""
    rounded = np.round(steps, 6)
    values, counts = np.unique(rounded, return_counts=True)
    return float(values[np.argmax(counts)])


def _index_on_axis(values: np.ndarray, axis: np.ndarray, step: float) -> np.ndarray:
    if axis.size == 1:
        return np.zeros(values.shape, dtype=np.int64)
    return np.rint((values - axis[0]) / step).astype(np.int64)


def points_to_grid(x: np.ndarray, y: np.ndarray, values: np.ndarray, lines: np.ndarray, *,
                   file) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place one value per cell centre on a full rectangle: ``(x_axis, y_axis, grid[ny, nx])``.

    ``lines`` are the 1-based file line numbers of the points, used in messages.  Raises on
    irregular spacing, duplicate points and cells missing inside the rectangle (NaN *values*
    are allowed: they are cells that are present but have no concentration).
    """
    if x.size == 0:
        raise ScanInputError("no grid cells (inside the bounding box, if one was given)", file=file)
    x_axis, dx = _axis(x, "x", file=file)
    y_axis, dy = _axis(y, "y", file=file)
    ix = _index_on_axis(x, x_axis, dx)
    iy = _index_on_axis(y, y_axis, dy)
    flat = iy * x_axis.size + ix
    order = np.argsort(flat, kind="stable")
    dup = np.flatnonzero(np.diff(flat[order]) == 0)
    if dup.size:
        first, second = order[dup[0]], order[dup[0] + 1]
        raise ScanInputError(
            f"duplicate grid point x={x[second]:g}, y={y[second]:g} (first seen on line "
            f"{lines[first]})", file=file, line=int(lines[second]))
    n_cells = x_axis.size * y_axis.size
    if flat.size != n_cells:
        present = np.zeros(n_cells, dtype=bool)
        present[flat] = True
        k = int(np.flatnonzero(~present)[0])
        raise ScanInputError(
            f"the points do not fill a rectangle: {n_cells - flat.size} of {n_cells} cells are "
            f"missing (first missing cell centre x={x_axis[k % x_axis.size]:g}, "
            f"y={y_axis[k // x_axis.size]:g}); write missing cells with an empty concentration",
            file=file)
    grid = np.empty(n_cells, dtype=np.float64)
    grid[flat] = values
    return x_axis, y_axis, grid.reshape(y_axis.size, x_axis.size)


# ---------------------------------------------------------------------------------------------
# LAEI CSV
# ---------------------------------------------------------------------------------------------

_LAEI_VALUE_COLUMNS = ("conc", "conct")  # 2019 / 2013


def _csv_columns(path: Path) -> tuple[list[str], str]:
    import pandas as pd

    header = list(pd.read_csv(path, nrows=0).columns)
    lower = {c.strip().lower(): c for c in header}
    for need in ("x", "y"):
        if need not in lower:
            raise ScanInputError(f"no '{need}' column; a LAEI CSV has columns x,y,conc (2019) or "
                                 f"x,y,conct,year (2013); found {','.join(header)}",
                                 file=str(path), line=1)
    value = next((lower[c] for c in _LAEI_VALUE_COLUMNS if c in lower), None)
    if value is None:
        raise ScanInputError("no concentration column 'conc' (LAEI 2019) or 'conct' (LAEI 2013); "
                             f"found {','.join(header)}", file=str(path), line=1)
    usecols = [lower["x"], lower["y"], value] + ([lower["year"]] if "year" in lower else [])
    return usecols, value


def _numeric(series, name: str, first_line: int, *, file, allow_nan: bool) -> np.ndarray:
    import pandas as pd

    num = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(num) & (series.notna().to_numpy() | (not allow_nan))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text = series.iloc[i]
        what = "empty value" if text is None or text != text else f"not a number: {text!r}"
        raise ScanInputError(what, file=file, line=first_line + i, field=name)
    return num


def read_laei_csv(path: str | os.PathLike, *, pollutant: str | None = None, bbox=None,
                  chunk_rows: int = CSV_CHUNK_ROWS):
    """Read a LAEI 2019 (``x,y,conc``) or 2013 (``x,y,conct,year``) CSV into a grid Dataset."""
    import pandas as pd

    path = Path(path)
    file = str(path)
    name = canonical_pollutant(pollutant) if pollutant is not None else pollutant_from_filename(path)
    box = _check_bbox(bbox)
    usecols, value_col = _csv_columns(path)
    xcol, ycol = usecols[0], usecols[1]
    parts, years, first_line = [], set(), 2  # line 1 is the header
    for chunk in pd.read_csv(path, usecols=usecols, chunksize=chunk_rows, dtype=str,
                             skip_blank_lines=False):
        x = _numeric(chunk[xcol], "x", first_line, file=file, allow_nan=False)
        y = _numeric(chunk[ycol], "y", first_line, file=file, allow_nan=False)
        _check_metres(x, y, file=file, line=first_line)
        lines = first_line + np.arange(len(chunk))
        keep = np.ones(x.size, dtype=bool) if box is None else (
            (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3]))
        v = _numeric_kept(chunk[value_col], keep, value_col, lines, file)
        parts.append((x[keep], y[keep], v, lines[keep]))
        if len(usecols) == 4:
            years.update(chunk[usecols[3]].dropna().unique().tolist())
        first_line += len(chunk)
    if first_line == 2:  # nothing after the header line
        raise ScanInputError("no data rows after the header", file=file)
    x, y, v, lines = (np.concatenate([p[k] for p in parts]) for k in range(4))
    x_axis, y_axis, grid = points_to_grid(x, y, v, lines, file=file)
    extra = {"laei_year": ",".join(sorted(years))} if years else {}
    return make_dataset({name: grid}, x_axis, y_axis, source=path.name, extra_attrs=extra)


def _numeric_kept(series, keep: np.ndarray, name: str, lines: np.ndarray, file) -> np.ndarray:
    """Parse only the kept rows of a column, reporting the true file line of a bad value."""
    import pandas as pd

    kept = series[keep]
    num = pd.to_numeric(kept, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(num) & kept.notna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScanInputError(f"not a number: {kept.iloc[i]!r}", file=file,
                             line=int(lines[keep][i]), field=name)
    return num


# ---------------------------------------------------------------------------------------------
# ESRI ASCII grid
# ---------------------------------------------------------------------------------------------

_ASC_KEYS = {"ncols", "nrows", "xllcorner", "xllcenter", "yllcorner", "yllcenter", "cellsize",
             "nodata_value"}


def _read_asc_header(fh, file: str) -> tuple[dict, int]:
    """Parse header lines; return (header, number of header lines).  Leaves fh after the header."""
    header, n = {}, 0
    while True:
        pos = fh.tell()
        line = fh.readline()
        parts = line.split()
        if not parts or parts[0].lower() not in _ASC_KEYS:
            fh.seek(pos)
            break
        n += 1
        if len(parts) != 2:
            raise ScanInputError("header lines are 'key value'", file=file, line=n, field=parts[0])
        try:
            header[parts[0].lower()] = float(parts[1])
        except ValueError:
            raise ScanInputError(f"not a number: {parts[1]!r}", file=file, line=n,
                                 field=parts[0]) from None
    for need in ("ncols", "nrows", "cellsize"):
        if need not in header:
            raise ScanInputError(f"ESRI ASCII header has no '{need}'", file=file, line=n + 1)
    for axis in ("x", "y"):
        if (f"{axis}llcorner" in header) == (f"{axis}llcenter" in header):
            raise ScanInputError(f"ESRI ASCII header needs exactly one of {axis}llcorner, "
                                 f"{axis}llcenter", file=file, line=n + 1)
    if header["cellsize"] <= 0 or header["ncols"] < 1 or header["nrows"] < 1:
        raise ScanInputError("ncols, nrows and cellsize must be positive", file=file)
    return header, n


def _asc_axes(h: dict) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre x (west to east) and y for file rows 0..nrows-1 (NORTH to south)."""
    cs, nx, ny = h["cellsize"], int(h["ncols"]), int(h["nrows"])
    x0 = h["xllcenter"] if "xllcenter" in h else h["xllcorner"] + cs / 2
    y0 = h["yllcenter"] if "yllcenter" in h else h["yllcorner"] + cs / 2
    x = x0 + cs * np.arange(nx)
    y_rows = y0 + cs * (ny - 1 - np.arange(ny))
    return x, y_rows


def read_asc(path: str | os.PathLike, *, pollutant: str | None = None, bbox=None):
    """Read an ESRI ASCII grid; with ``bbox`` only the rows inside it are parsed."""
    path = Path(path)
    file = str(path)
    name = canonical_pollutant(pollutant) if pollutant is not None else pollutant_from_filename(path)
    box = _check_bbox(bbox)
    with open(path, encoding="utf-8") as fh:
        h, n_header = _read_asc_header(fh, file)
        x, y_rows = _asc_axes(h)
        _check_metres(x[[0, -1]], y_rows[[0, -1]], file=file, line=1)
        cols = np.arange(x.size) if box is None else np.flatnonzero((x >= box[0]) & (x <= box[2]))
        rows = np.arange(y_rows.size) if box is None else np.flatnonzero(
            (y_rows >= box[1]) & (y_rows <= box[3]))
        if cols.size == 0 or rows.size == 0:
            raise ScanInputError(f"no grid cells inside bbox {box}", file=file)
        data = _read_asc_rows(fh, rows, cols, int(h["ncols"]), n_header, file)
    if "nodata_value" in h:
        data[data == h["nodata_value"]] = np.nan
    # File rows run north to south; flip so y ascends.
    return make_dataset({name: data[::-1]}, x[cols], y_rows[rows][::-1], source=path.name)


def _read_asc_rows(fh, rows: np.ndarray, cols: np.ndarray, ncols: int, n_header: int,
                   file: str) -> np.ndarray:
    out = np.empty((rows.size, cols.size), dtype=np.float64)
    wanted = {int(r): k for k, r in enumerate(rows)}
    last = int(rows[-1])
    row = -1
    for lineno, line in enumerate(fh, start=n_header + 1):
        if not line.strip():
            continue
        row += 1
        if row not in wanted:
            if row > last:
                break
            continue
        try:
            values = np.array(line.split(), dtype=np.float64)
        except ValueError:
            bad = next(t for t in line.split() if not _is_float(t))
            raise ScanInputError(f"not a number: {bad!r}", file=file, line=lineno) from None
        if values.size != ncols:
            raise ScanInputError(f"row {row} has {values.size} values; the header says "
                                 f"ncols={ncols}", file=file, line=lineno)
        out[wanted[row]] = values[cols]
    if row < last:
        raise ScanInputError(f"only {row + 1} data rows; the header says nrows={last + 1} or more",
                             file=file)
    return out


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# NetCDF
# ---------------------------------------------------------------------------------------------

def write_netcdf(ds, path: str | os.PathLike) -> Path:
    """Write a grid Dataset to NetCDF-4 (h5netcdf) via a temporary file renamed into place."""
    from ..io.atomic import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return path


def read_netcdf(path: str | os.PathLike, *, pollutant: str | None = None, bbox=None):
    """Open a grid NetCDF lazily, select ``pollutant`` and ``bbox``, then load only that."""
    import xarray as xr

    path = Path(path)
    file = str(path)
    box = _check_bbox(bbox)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        if "x" not in ds.coords or "y" not in ds.coords:
            raise ScanInputError("a grid NetCDF needs 'x' and 'y' coordinates (BNG metres)",
                                 file=file)
        if ds.attrs.get("crs", CRS) != CRS:
            raise ScanInputError(f"crs is {ds.attrs['crs']!r}; grids must be in {CRS}", file=file)
        if pollutant is not None:
            name = canonical_pollutant(pollutant)
            if name not in ds.data_vars:
                raise ScanInputError(f"no variable {name!r}; the file has "
                                     f"{', '.join(map(str, ds.data_vars))}", file=file)
            ds = ds[[name]]
        if box is not None:
            ds = ds.sel(x=slice(box[0], box[2]), y=slice(box[1], box[3]))
            if ds.sizes["x"] == 0 or ds.sizes["y"] == 0:
                raise ScanInputError(f"no grid cells inside bbox {box}", file=file)
        return ds.load()


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

def read_grid(path: str | os.PathLike, *, pollutant: str | None = None, bbox=None):
    """Read a concentration grid (LAEI CSV, ESRI ASCII ``.asc`` or scan NetCDF).

    Parameters
    ----------
    path : the file.  ``.csv`` → LAEI CSV; ``.asc`` (or a text file starting with ``ncols``) →
        ESRI ASCII grid; ``.nc``/``.nc4``/``.netcdf`` → NetCDF written by :func:`write_netcdf`.
    pollutant : "NO2", "PM10" or "PM25" ("PM2.5", "pm25" accepted).  Default: from the file name
        (CSV, ASC) or every variable in the file (NetCDF).
    bbox : ``(xmin, ymin, xmax, ymax)`` in BNG metres.  Only cells whose centres lie inside
        (edges included) are read.

    Returns
    -------
    xarray.Dataset with ``x``/``y`` cell-centre coordinates (ascending), one variable per
    pollutant in µg/m³, and attributes ``crs``, ``source``, ``resolution_m``.
    """
    path = Path(path)
    if not path.is_file():
        raise ScanInputError("file not found", file=str(path))
    suffix = path.suffix.lower()
    if suffix in _NETCDF_SUFFIXES:
        return read_netcdf(path, pollutant=pollutant, bbox=bbox)
    if suffix == ".asc" or _starts_with_ncols(path):
        return read_asc(path, pollutant=pollutant, bbox=bbox)
    if suffix in (".csv", ".txt"):
        return read_laei_csv(path, pollutant=pollutant, bbox=bbox)
    raise ScanInputError(f"unknown grid format {suffix!r}; expected .csv (LAEI), .asc (ESRI ASCII) "
                         "or .nc (NetCDF)", file=str(path))


def _starts_with_ncols(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(5).lower() == b"ncols"


def read_grids(paths: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike], *, bbox=None):
    """Read several one-pollutant files into one Dataset (they must share the same cells).

    ``paths`` is a list (pollutants from the file names) or a dict ``{pollutant: path}``.
    """
    import xarray as xr

    items: Iterable = paths.items() if isinstance(paths, Mapping) else ((None, p) for p in paths)
    grids = [read_grid(p, pollutant=k, bbox=bbox) for k, p in items]
    try:
        merged = xr.merge(grids, join="exact", combine_attrs="drop_conflicts")
    except ValueError as err:
        raise ScanInputError("the grids do not share the same cell centres; regrid them first "
                             f"({err})", file=", ".join(g.attrs["source"] for g in grids)) from None
    merged.attrs["crs"] = CRS
    merged.attrs["source"] = ", ".join(g.attrs["source"] for g in grids)
    return merged
