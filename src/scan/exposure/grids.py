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

Missing data.  A cell has no value (NaN in the Dataset) when its concentration is empty, ``NaN``,
the ESRI ASCII ``NODATA_value``, the LAEI no-data value ``-9999``, or any other negative number:
a concentration cannot be below zero, so a negative value is a no-data marker or an error, and
either way it must never be averaged.  :func:`missing_cells` counts the cells without a value of
each variable (it counts them on the Dataset as it is, so the count stays right after a
``.sel``; a count stored in ``attrs`` would not); negative numbers other than -9999 and the
declared NODATA_value are logged as a warning when read.  An infinite value (``inf``, ``1e400``) is not a concentration either, but nothing
marks it as "no data": it is refused, naming the file, line and field.

Size.  No reader builds a grid of more than :data:`MAX_GRID_CELLS` cells (after clipping to
``bbox``): the number of cells is worked out from the header (ESRI ASCII), the file's metadata
(NetCDF) or the points read so far (CSV) before the grid is allocated, and a larger grid is
refused with the figure, the limit and the fix.  A CSV point that is off the lattice of the
others (one centre 0.0001 m off a 20 m grid) is refused, naming its line.

Unreadable files.  An empty file, a binary file given as CSV or ESRI ASCII, bytes that are not
UTF-8, and a truncated or corrupt NetCDF file each give one :class:`ScanInputError` naming the
file (and the line, where there is one), never a traceback from pandas or h5py.  Text grids
follow the encoding rule of every text input (:mod:`scan.io.text`: UTF-8, or UTF-16/32 with a
byte-order mark), checked on the head of the file since grids are streamed.  A NetCDF file's
metadata is read in a child process with a time limit first (:data:`NETCDF_CHECK_TIMEOUT_S`):
libhdf5 loops for ever on some corrupt files.
"""
from __future__ import annotations

import codecs
import logging
import math
import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ScanInputError, ScanParameterError

log = logging.getLogger(__name__)

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
MAX_GRID_CELLS = 50_000_000
"""Most cells a reader builds for one grid, after clipping to ``bbox``: 400 MB per pollutant as
float64.  The LAEI London grids (about 65 km x 50 km at 20 m) are about 8 million cells, and the
``scan`` command reads only the study area plus a margin.  Read through ``bbox=`` or resample to
coarser cells to stay below it; the limit is looked up when a file is read, so a program that
really means to build a larger grid can raise it (``scan.exposure.grids.MAX_GRID_CELLS = ...``)."""
LAEI_NODATA = -9999.0
"""The LAEI no-data value: a cell holding it has no concentration (NaN in the Dataset)."""
TEXT_SNIFF_BYTES = 65_536  # bytes read at the start of a text file to tell it from a binary one
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


# ---------------------------------------------------------------------------------------------
# Files that cannot be read, and sizes that must not be allocated
# ---------------------------------------------------------------------------------------------

def _size_text(n_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return ""  # not reached


def check_cells(n_cells: int, shape: str | None, *, file, line: int | None = None,
                field: str | None = None) -> None:
    """Refuse, before allocating it, a grid of more than :data:`MAX_GRID_CELLS` cells.
    ``shape`` describes where the figure comes from ("3 rows x 4 columns"); None: at least
    one cell per point read."""
    limit = MAX_GRID_CELLS
    if n_cells > limit:
        figure = (f"{shape} = {n_cells:,} cells" if shape else
                  f"at least {n_cells:,} cells (one per point read so far)")
        raise ScanInputError(
            f"the grid would have {figure} ({_size_text(8 * n_cells)} per "
            f"pollutant), more than the limit of {limit:,} cells (MAX_GRID_CELLS in "
            "scan.exposure.grids); read only the study area with bbox=(xmin, ymin, xmax, ymax) "
            "(the scan command clips grids to the study area), or resample the grid to coarser "
            "cells", file=file, line=line, field=field)


def _advance(line: int, column: int, chunk: bytes) -> tuple[int, int]:
    newlines = chunk.count(b"\n")
    if newlines:
        return line + newlines, len(chunk) - chunk.rfind(b"\n")
    return line, column + len(chunk)


def first_bad_utf8(path: Path) -> tuple[int, int, int] | None:
    """(1-based line, 1-based byte column, byte value) of the first byte that is not UTF-8,
    found by streaming the file; None if it is all UTF-8."""
    line, column, carry = 1, 1, b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            data = carry + block
            if not data:
                return None
            try:
                data.decode("utf-8")
                good, carry = data, b""
            except UnicodeDecodeError as err:
                if block and err.reason == "unexpected end of data":
                    good, carry = data[:err.start], data[err.start:]  # split across blocks
                else:
                    line, column = _advance(line, column, data[:err.start])
                    return line, column, data[err.start]
            line, column = _advance(line, column, good)


def _not_utf8(path: Path, what: str) -> ScanInputError:
    """The first byte that is not UTF-8, in the words of :mod:`scan.io.text`."""
    where = first_bad_utf8(path)
    if where is None:
        return ScanInputError(f"{what} is not UTF-8 text; save it as UTF-8", file=str(path))
    line, column, byte = where
    return ScanInputError(
        f"byte 0x{byte:02x} (column {column}) is not UTF-8 text; the file was probably saved in "
        "another encoding (Latin-1, Windows-1252, ...): save it as UTF-8 (in Excel: 'CSV "
        "UTF-8')", file=str(path), line=line)


def text_encoding(path: Path, what: str) -> str:
    """The encoding to stream a text grid with, after the checks every text input gets.

    The rule is :mod:`scan.io.text`'s (one rule for every text input): the file must be readable
    (not missing, a folder, a device or without permission); UTF-8, with or without a
    byte-order mark, and UTF-16/32 *with* a byte-order mark are read; a NUL byte means a binary
    file (or UTF-16 without a mark); anything else that is not UTF-8 is refused with the line and
    column of the first bad byte.  Only the head of the file is sniffed here, since grids are
    streamed (a later bad byte is reported, with its line, when the reader meets it).  An empty
    file is refused too.
    """
    from ..io.text import _BOMS, check_readable, refuse_binary

    check_readable(path, what=what)
    file = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(TEXT_SNIFF_BYTES)
    except OSError as err:
        raise ScanInputError(f"{what} could not be read ({err.strerror or err})",
                             file=file) from None
    for bom, codec, _name in _BOMS:
        if head.startswith(bom):
            if not head[len(bom):].strip(b"\x00 \t\r\n"):
                raise ScanInputError(f"the file is empty; expected {what}", file=file)
            return {"utf-8": "utf-8-sig", "utf-16-le": "utf-16", "utf-16-be": "utf-16",
                    "utf-32-le": "utf-32", "utf-32-be": "utf-32"}[codec]
    if not head.strip():
        raise ScanInputError(f"the file is empty; expected {what}", file=file)
    refuse_binary(head, what, file)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        raise _not_utf8(path, what) from None
    return "utf-8"


def unreadable(path: Path, err: BaseException, what: str) -> ScanInputError:
    """One ScanInputError for an exception raised by pandas, h5py, csv or the OS on ``path``."""
    if isinstance(err, UnicodeError):
        return _not_utf8(path, what)
    if isinstance(err, OSError) and err.strerror:
        return ScanInputError(f"{what} could not be read ({err.strerror})", file=str(path))
    text = " ".join(str(err).split()) or type(err).__name__
    found = re.search(r"\bline (\d+)", text)
    if found:
        return ScanInputError(f"not a readable {what}: {text[:300]}", file=str(path),
                              line=int(found.group(1)))
    return ScanInputError(f"not a readable {what}: {text[:300]}", file=str(path))


# ---------------------------------------------------------------------------------------------
# Concentrations and the Dataset
# ---------------------------------------------------------------------------------------------

def concentrations(values, *, nodata: float | None = None) -> tuple[np.ndarray, int]:
    """A float64 copy with every value that is not a concentration set to NaN.

    NaN, ``nodata`` (an ESRI ASCII NODATA_value), the LAEI no-data value -9999, any other
    negative number (a concentration cannot be below zero) and ±inf become NaN.  Returns the
    array and the number of negative values other than -9999 and ``nodata`` (suspicious: they
    are not a declared no-data marker).
    """
    v = np.array(values, dtype=np.float64)
    if nodata is not None and not math.isnan(nodata):
        v[v == nodata] = np.nan
    negative = v < 0
    n_negative = int(np.count_nonzero(negative & (v != LAEI_NODATA)))
    v[negative | np.isinf(v)] = np.nan
    return v, n_negative


def make_dataset(arrays: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, *,
                 source: str, extra_attrs: Mapping | None = None):
    """Wrap ``(ny, nx)`` arrays (row 0 = southernmost) into the standard grid Dataset.

    Values that are not concentrations become NaN (see :func:`concentrations`); an infinite
    value is refused.  :func:`missing_cells` counts the cells left without a value.
    """
    import xarray as xr

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    data_vars = {}
    for name, values in arrays.items():
        name = canonical_pollutant(name)
        raw = np.asarray(values, dtype=np.float64)
        if np.isinf(raw).any():
            raise ScanInputError(f"{int(np.isinf(raw).sum())} cell(s) hold an infinite value; a "
                                 "concentration must be a finite number (leave a cell without "
                                 "a value empty, NaN or -9999)", file=str(source), field=name)
        clean, n_negative = concentrations(raw)
        if n_negative:
            log.warning("%s: %d negative %s value(s) treated as missing (a concentration cannot "
                        "be negative)", source, n_negative, name)
        data_vars[name] = xr.Variable(("y", "x"), clean,
                                      attrs={"units": UNITS, "long_name": LONG_NAMES[name]})
    coords = {"x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate",
                             "long_name": "easting, cell centre"}),
              "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate",
                             "long_name": "northing, cell centre"})}
    attrs = {"crs": CRS, "source": str(source), "resolution_m": _resolution(x, y)}
    attrs.update(extra_attrs or {})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def missing_cells(ds) -> dict[str, int]:
    """Number of cells without a value (NaN) of each variable of a grid Dataset (or of one
    DataArray, keyed by its name), counted on the grid as it is now."""
    if hasattr(ds, "data_vars"):
        return {str(k): int(ds[k].isnull().sum()) for k in ds.data_vars}
    return {str(ds.name): int(ds.isnull().sum())}


def _resolution(x: np.ndarray, y: np.ndarray) -> float:
    steps = np.concatenate([np.diff(x), np.diff(y)])
    return float(steps.min()) if steps.size else float("nan")


# ---------------------------------------------------------------------------------------------
# Scattered points (one per cell) -> rectangular grid, with the checks that name file and line
# ---------------------------------------------------------------------------------------------

def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _metres(d: float) -> str:
    """A distance to the micrometre, without binary noise (0.0001, not 9.99999e-05)."""
    r = round(float(d), 6)
    return f"{r:g}" if r else f"{d:.3g}"


def _axis(values: np.ndarray, lines: np.ndarray, name: str, *,
          file) -> tuple[float, float, int]:
    """``(first centre, step, number of centres)`` of the regular axis holding ``values``.

    The step is the most common spacing of the sorted unique coordinates (ties: the larger).
    Every spacing must be a whole multiple of it (gaps are then missing cells, reported by the
    caller); otherwise a point is off the lattice, and the message names the first pair of
    centres off the step and the first file line holding an off-lattice coordinate.  Nothing
    of the axis' length is allocated here: the caller checks the size first.
    """
    uniq = np.unique(values)
    if uniq.size == 1:
        return float(uniq[0]), float("nan"), 1
    steps = np.diff(uniq)
    step = _most_common(steps)
    off = _off_grid(steps, step)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        message = (f"irregular spacing of {name}: cell centres {_fmt(uniq[i])} and "
                   f"{_fmt(uniq[i + 1])} are {_metres(steps[i])} m apart but the grid step is "
                   f"{step:g} m")
        line = _first_off_lattice_line(values, lines, uniq, steps, step)
        if line is not None:
            k, bad = line
            message += (f"; {name}={_fmt(bad)} on line {k} is off the lattice of the other cell "
                        "centres (every centre must be a whole number of steps from the others)")
        err = ScanInputError(message, file=file, field=name)
        err.line = None if line is None else line[0]
        raise err
    n = int(round((uniq[-1] - uniq[0]) / step)) + 1
    return float(uniq[0]), step, n


def _first_off_lattice_line(values, lines, uniq, steps, step):
    """(file line, value) of the first point whose coordinate is off the common lattice."""
    regular = np.flatnonzero(np.abs(steps - step) <= SPACING_RTOL * step)
    if regular.size == 0 or lines is None:
        return None
    anchor = uniq[regular[0]]
    k = (uniq - anchor) / step
    bad = uniq[np.abs(k - np.round(k)) > SPACING_RTOL]  # in cells, as _off_grid for one step
    if bad.size == 0:
        return None
    hit = np.flatnonzero(np.isin(values, bad))
    first = hit[np.argmin(lines[hit])]
    return int(lines[first]), float(values[first])


def _off_grid(steps: np.ndarray, step: float) -> np.ndarray:
    multiples = steps / step
    return np.abs(multiples - np.round(multiples)) > SPACING_RTOL * np.maximum(multiples, 1)


def _most_common(steps: np.ndarray) -> float:
    """The grid step: the most frequent spacing (ties: the larger, so that one stray point a
    hair off the grid cannot make the step a hair wide)."""
    rounded = np.round(steps, 6)
    values, counts = np.unique(rounded[rounded > 0], return_counts=True)
    if values.size == 0:  # every spacing is under half a micrometre
        return float(steps.max())
    best = np.flatnonzero(counts == counts.max())[-1]
    return float(values[best])


def _index_on_axis(values: np.ndarray, start: float, step: float, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros(values.shape, dtype=np.int64)
    return np.rint((values - start) / step).astype(np.int64)


def points_to_grid(x: np.ndarray, y: np.ndarray, values: np.ndarray, lines: np.ndarray, *,
                   file) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place one value per cell centre on a full rectangle: ``(x_axis, y_axis, grid[ny, nx])``.

    ``lines`` are the 1-based file line numbers of the points, used in messages.  Raises on
    irregular spacing (a point off the lattice), duplicate points, cells missing inside the
    rectangle (NaN *values* are allowed: they are cells that are present but have no
    concentration) and grids of more than :data:`MAX_GRID_CELLS` cells -- all before anything
    of the grid's size is allocated.
    """
    if x.size == 0:
        raise ScanInputError("no grid cells (inside the bounding box, if one was given)", file=file)
    lines = np.asarray(lines)
    x0, dx, nx = _axis(x, lines, "x", file=file)
    y0, dy, ny = _axis(y, lines, "y", file=file)
    ix = _index_on_axis(x, x0, dx, nx)
    iy = _index_on_axis(y, y0, dy, ny)
    order = np.lexsort((ix, iy))  # row-major: by y, then x
    sx, sy = ix[order], iy[order]
    dup = np.flatnonzero((np.diff(sx) == 0) & (np.diff(sy) == 0))
    if dup.size:
        first, second = sorted((order[dup[0]], order[dup[0] + 1]), key=lambda k: lines[k])
        raise ScanInputError(
            f"duplicate grid point x={x[second]:g}, y={y[second]:g} (first seen on line "
            f"{lines[first]})", file=file, line=int(lines[second]))
    n_cells = nx * ny  # Python ints: no overflow
    if x.size != n_cells:
        k = np.arange(sx.size, dtype=np.int64)
        if nx > sx.size:  # also keeps an astronomically wide axis out of int64 arithmetic
            mismatch = np.flatnonzero((sy != 0) | (sx != k))
        else:
            mismatch = np.flatnonzero((sy != k // nx) | (sx != k % nx))
        m = int(mismatch[0]) if mismatch.size else int(sx.size)
        row, col = divmod(m, nx)
        raise ScanInputError(
            f"the points do not fill a rectangle: {n_cells - x.size} of {n_cells} cells are "
            f"missing (first missing cell centre x={x0 + col * (dx if nx > 1 else 0):g}, "
            f"y={y0 + row * (dy if ny > 1 else 0):g}); write missing cells with an empty "
            "concentration", file=file)
    check_cells(n_cells, f"{ny:,} rows x {nx:,} columns", file=file)
    x_axis = x0 + (dx if nx > 1 else 0.0) * np.arange(nx)
    y_axis = y0 + (dy if ny > 1 else 0.0) * np.arange(ny)
    grid = np.empty(n_cells, dtype=np.float64)
    grid[iy * nx + ix] = values
    return x_axis, y_axis, grid.reshape(ny, nx)


# ---------------------------------------------------------------------------------------------
# LAEI CSV
# ---------------------------------------------------------------------------------------------

_LAEI_VALUE_COLUMNS = ("conc", "conct")  # 2019 / 2013
_LAEI_WHAT = "LAEI grid CSV"


def _csv_columns(path: Path, encoding: str = "utf-8") -> tuple[list[str], str]:
    import pandas as pd

    header = [str(c) for c in pd.read_csv(path, nrows=1, header=None, dtype=str,
                                          keep_default_na=False,
                                          encoding=encoding).iloc[0].tolist()]
    shown = ",".join(header)
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    lower: dict[str, str] = {}
    for k, c in enumerate(header, start=1):
        key = c.strip().lower()
        if key in lower and key in ("x", "y", "year") + _LAEI_VALUE_COLUMNS:
            raise ScanInputError(f"column '{c.strip()}' appears twice (columns "
                                 f"{header.index(lower[key]) + 1} and {k}); keep one",
                                 file=str(path), line=1, field=c.strip())
        lower.setdefault(key, c)
    for need in ("x", "y"):
        if need not in lower:
            raise ScanInputError(f"no '{need}' column; a LAEI CSV has columns x,y,conc (2019) or "
                                 f"x,y,conct,year (2013); found {shown!r}",
                                 file=str(path), line=1)
    value = next((lower[c] for c in _LAEI_VALUE_COLUMNS if c in lower), None)
    if value is None:
        raise ScanInputError("no concentration column 'conc' (LAEI 2019) or 'conct' (LAEI 2013); "
                             f"found {shown!r}", file=str(path), line=1)
    if value.strip().lower() == "conc" and "conct" in lower:
        raise ScanInputError("both 'conc' (LAEI 2019) and 'conct' (LAEI 2013) columns; keep one",
                             file=str(path), line=1)
    usecols = [lower["x"], lower["y"], value] + ([lower["year"]] if "year" in lower else [])
    return usecols, value


def _numeric(series, name: str, first_line: int, *, file, allow_nan: bool) -> np.ndarray:
    import pandas as pd

    num = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = (np.isnan(num) & (series.notna().to_numpy() | (not allow_nan))) | np.isinf(num)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text = series.iloc[i]
        what = ("empty value" if text is None or text != text else
                f"not a finite number: {text!r}" if np.isinf(num[i]) else
                f"not a number: {text!r}")
        raise ScanInputError(what, file=file, line=first_line + i, field=name)
    return num


def read_laei_csv(path: str | os.PathLike, *, pollutant: str | None = None, bbox=None,
                  chunk_rows: int = CSV_CHUNK_ROWS):
    """Read a LAEI 2019 (``x,y,conc``) or 2013 (``x,y,conct,year``) CSV into a grid Dataset.

    Empty, NaN, -9999 and negative concentrations are cells without a value (NaN); see the
    module notes.  More than :data:`MAX_GRID_CELLS` points (inside ``bbox``) are refused while
    reading.
    """
    import pandas as pd

    path = Path(path)
    file = str(path)
    name = canonical_pollutant(pollutant) if pollutant is not None else pollutant_from_filename(path)
    box = _check_bbox(bbox)
    encoding = text_encoding(path, _LAEI_WHAT)
    try:
        usecols, value_col = _csv_columns(path, encoding)
        parts, years, first_line, kept = _read_laei_rows(path, usecols, value_col, box,
                                                         chunk_rows, file, encoding)
    except ScanInputError:
        raise
    except (ValueError, OSError, UnicodeError, pd.errors.ParserError, OverflowError) as err:
        raise unreadable(path, err, _LAEI_WHAT) from None
    if first_line == 2:  # nothing after the header line
        raise ScanInputError("no data rows after the header", file=file)
    x, y, v, lines = (np.concatenate([p[k] for p in parts]) for k in range(4))
    x_axis, y_axis, grid = points_to_grid(x, y, v, lines, file=file)
    extra = {"laei_year": ",".join(sorted(years))} if years else {}
    return make_dataset({name: grid}, x_axis, y_axis, source=path.name, extra_attrs=extra)


def _read_laei_rows(path, usecols, value_col, box, chunk_rows, file, encoding="utf-8"):
    import pandas as pd

    xcol, ycol = usecols[0], usecols[1]
    parts, years, first_line, kept = [], set(), 2, 0  # line 1 is the header
    for chunk in pd.read_csv(path, usecols=usecols, chunksize=chunk_rows, dtype=str,
                             skip_blank_lines=False, encoding=encoding):
        x = _numeric(chunk[xcol], "x", first_line, file=file, allow_nan=False)
        y = _numeric(chunk[ycol], "y", first_line, file=file, allow_nan=False)
        _check_metres(x, y, file=file, line=first_line)
        lines = first_line + np.arange(len(chunk))
        keep = np.ones(x.size, dtype=bool) if box is None else (
            (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3]))
        kept += int(keep.sum())
        check_cells(kept, None, file=file, line=first_line + len(chunk) - 1)
        v = _numeric_kept(chunk[value_col], keep, value_col, lines, file)
        parts.append((x[keep], y[keep], v, lines[keep]))
        if len(usecols) == 4:
            years.update(str(t) for t in chunk[usecols[3]].dropna().unique().tolist())
        first_line += len(chunk)
    return parts, years, first_line, kept


def _numeric_kept(series, keep: np.ndarray, name: str, lines: np.ndarray, file) -> np.ndarray:
    """Parse only the kept rows of a column, reporting the true file line of a bad value."""
    import pandas as pd

    kept = series[keep]
    num = pd.to_numeric(kept, errors="coerce").to_numpy(dtype=np.float64)
    bad = (np.isnan(num) & kept.notna().to_numpy()
           & ~kept.str.strip().str.lower().isin(["nan", "na"]).to_numpy()) | np.isinf(num)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "not a finite number" if np.isinf(num[i]) else "not a number"
        raise ScanInputError(f"{what}: {kept.iloc[i]!r}", file=file,
                             line=int(lines[keep][i]), field=name)
    return num


# ---------------------------------------------------------------------------------------------
# ESRI ASCII grid
# ---------------------------------------------------------------------------------------------

_ASC_KEYS = {"ncols", "nrows", "xllcorner", "xllcenter", "yllcorner", "yllcenter", "cellsize",
             "nodata_value"}
_ASC_WHAT = "ESRI ASCII grid"


def _read_asc_header(fh, file: str) -> tuple[dict, int, dict]:
    """Parse header lines; return (header, number of header lines, line of each key).
    Leaves fh after the header."""
    header, where, n = {}, {}, 0
    while True:
        pos = fh.tell()
        line = fh.readline()
        parts = line.split()
        if not parts or parts[0].lower() not in _ASC_KEYS:
            fh.seek(pos)
            break
        n += 1
        key = parts[0].lower()
        if len(parts) != 2:
            raise ScanInputError("header lines are 'key value'", file=file, line=n, field=parts[0])
        if key in header:
            raise ScanInputError(f"'{parts[0]}' is given twice (lines {where[key]} and {n})",
                                 file=file, line=n, field=parts[0])
        try:
            header[key] = float(parts[1])
        except ValueError:
            raise ScanInputError(f"not a number: {parts[1]!r}", file=file, line=n,
                                 field=parts[0]) from None
        where[key] = n
        if key == "nodata_value":
            continue
        value = header[key]
        if key in ("ncols", "nrows") and not (math.isfinite(value) and value >= 1
                                              and value == int(value)):
            raise ScanInputError(f"must be a whole number >= 1; got {parts[1]!r}", file=file,
                                 line=n, field=parts[0])
        if key == "cellsize" and not (math.isfinite(value) and value > 0):
            raise ScanInputError(f"must be a number > 0 (metres); got {parts[1]!r}", file=file,
                                 line=n, field=parts[0])
        if not math.isfinite(value):
            raise ScanInputError(f"must be a finite number (metres); got {parts[1]!r}",
                                 file=file, line=n, field=parts[0])
    for need in ("ncols", "nrows", "cellsize"):
        if need not in header:
            raise ScanInputError(f"ESRI ASCII header has no '{need}'", file=file, line=n + 1)
    for axis in ("x", "y"):
        if (f"{axis}llcorner" in header) == (f"{axis}llcenter" in header):
            raise ScanInputError(f"ESRI ASCII header needs exactly one of {axis}llcorner, "
                                 f"{axis}llcenter", file=file, line=n + 1)
    return header, n, where


def _asc_origin(h: dict) -> tuple[float, float, float, int, int]:
    """Centre of the south-west cell, cell size, ncols, nrows."""
    cs, nx, ny = h["cellsize"], int(h["ncols"]), int(h["nrows"])
    x0 = h["xllcenter"] if "xllcenter" in h else h["xllcorner"] + cs / 2
    y0 = h["yllcenter"] if "yllcenter" in h else h["yllcorner"] + cs / 2
    return x0, y0, cs, nx, ny


def _span(n: int, lo: float, hi: float, start: float, step: float) -> tuple[int, int]:
    """Candidate range [i0, i1] (one index to spare each side) of the indices i < n whose
    centre ``start + step * i`` lies in [lo, hi]; worked out without an array of length n."""
    with np.errstate(over="ignore"):
        a = float(np.float64(lo - start) / step)  # ±inf for a denormal step: clamped below
        b = float(np.float64(hi - start) / step)
    i0 = max(0, math.floor(min(max(a, -1.0), float(n))) - 1)
    i1 = min(n - 1, math.ceil(min(max(b, -1.0), float(n))) + 1)
    return i0, i1


def read_asc(path: str | os.PathLike, *, pollutant: str | None = None, bbox=None):
    """Read an ESRI ASCII grid; with ``bbox`` only the rows inside it are parsed.

    ``NODATA_value``, -9999, NaN and negative values are cells without a value (NaN).  The
    number of cells is checked against :data:`MAX_GRID_CELLS` from the header, before anything
    is allocated.
    """
    path = Path(path)
    file = str(path)
    name = canonical_pollutant(pollutant) if pollutant is not None else pollutant_from_filename(path)
    box = _check_bbox(bbox)
    encoding = text_encoding(path, _ASC_WHAT)
    try:
        with open(path, encoding=encoding) as fh:
            h, n_header, where = _read_asc_header(fh, file)
            x0, y0, cs, nx, ny = _asc_origin(h)
            cols, rows = _asc_window(x0, y0, cs, nx, ny, box, where, file)
            x = x0 + cs * cols
            y_rows = y0 + cs * (ny - 1 - rows)
            _check_distinct(x, y_rows, h, where, file)
            data = _read_asc_rows(fh, rows, cols, nx, ny, n_header, file)
    except ScanInputError:
        raise
    except (UnicodeError, OSError, ValueError) as err:
        raise unreadable(path, err, _ASC_WHAT) from None
    if "nodata_value" in h and not math.isnan(h["nodata_value"]):
        data[data == h["nodata_value"]] = np.nan
    # File rows run north to south; flip so y ascends.
    return make_dataset({name: data[::-1]}, x, y_rows[::-1], source=path.name)


def _asc_window(x0, y0, cs, nx, ny, box, where, file) -> tuple[np.ndarray, np.ndarray]:
    """Column indices (west to east) and file row indices (north to south) to read."""
    if box is None:
        check_cells(nx * ny, f"{ny:,} rows x {nx:,} columns (nrows x ncols)", file=file,
                    line=where["ncols"], field="ncols")
    _check_metres(np.array([x0, x0 + cs * (nx - 1)]), np.array([y0, y0 + cs * (ny - 1)]),
                  file=file, line=1)
    if box is None:
        return np.arange(nx), np.arange(ny)
    c0, c1 = _span(nx, box[0], box[2], x0, cs)
    j0, j1 = _span(ny, box[1], box[3], y0, cs)  # south-to-north index j = ny - 1 - file row
    n_cols, n_rows = max(0, c1 - c0 + 1), max(0, j1 - j0 + 1)
    if max(0, n_cols - 2) * max(0, n_rows - 2) > MAX_GRID_CELLS:
        # certainly over the limit (the candidate ranges have at most one index to spare each
        # side): refuse before even listing the indices
        check_cells(n_cols * n_rows, f"about {n_rows:,} rows x {n_cols:,} columns inside the "
                    "bbox", file=file)
    cols = np.arange(c0, c1 + 1)
    rows = np.arange(ny - 1 - j1, ny - j0)
    xs = x0 + cs * cols
    ys = y0 + cs * (ny - 1 - rows)
    cols = cols[(xs >= box[0]) & (xs <= box[2])]
    rows = rows[(ys >= box[1]) & (ys <= box[3])]
    if cols.size == 0 or rows.size == 0:
        raise ScanInputError(f"no grid cells inside bbox {box}", file=file)
    check_cells(cols.size * rows.size, f"{rows.size:,} rows x {cols.size:,} columns inside the "
                "bbox", file=file)
    return cols, rows


def _check_distinct(x: np.ndarray, y_rows: np.ndarray, h: dict, where: dict, file) -> None:
    """Refuse a cellsize so small against the corner coordinates that centres coincide."""
    if (x.size > 1 and not (np.diff(x) > 0).all()) or \
            (y_rows.size > 1 and not (np.diff(y_rows) < 0).all()):
        raise ScanInputError(f"cellsize {h['cellsize']:g} is too small to tell the cell centres "
                             f"apart at x={x[0]:.10g}, y={y_rows[-1]:.10g}", file=file,
                             line=where["cellsize"], field="cellsize")


def _read_asc_rows(fh, rows: np.ndarray, cols: np.ndarray, ncols: int, nrows: int,
                   n_header: int, file: str) -> np.ndarray:
    out = np.empty((rows.size, cols.size), dtype=np.float64)
    first, last = int(rows[0]), int(rows[-1])
    row = -1
    for lineno, line in enumerate(fh, start=n_header + 1):
        if not line.strip():
            continue
        row += 1
        if row < first:
            continue
        if row > last:
            if last == nrows - 1:
                raise ScanInputError(f"more data rows than the header's nrows={nrows}",
                                     file=file, line=lineno)
            break
        try:
            values = np.array(line.split(), dtype=np.float64)
        except ValueError:
            bad = next(t for t in line.split() if not _is_float(t))
            raise ScanInputError(f"not a number: {bad!r}", file=file, line=lineno) from None
        if values.size != ncols:
            raise ScanInputError(f"row {row} has {values.size} values; the header says "
                                 f"ncols={ncols}", file=file, line=lineno)
        if np.isinf(values[cols]).any():
            bad = line.split()[int(cols[np.flatnonzero(np.isinf(values[cols]))[0]])]
            raise ScanInputError(f"not a finite number: {bad!r}", file=file, line=lineno)
        out[row - first] = values[cols]
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

_NC_WHAT = "NetCDF-4 grid file (written by scan or xarray)"


def write_netcdf(ds, path: str | os.PathLike) -> Path:
    """Write a grid Dataset to NetCDF-4 (h5netcdf) via a temporary file renamed into place."""
    from ..io.atomic import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return path


def read_netcdf(path: str | os.PathLike, *, pollutant: str | None = None, bbox=None):
    """Open a grid NetCDF lazily, select ``pollutant`` and ``bbox``, then load only that.

    The number of cells is checked against :data:`MAX_GRID_CELLS` before loading; the values are
    cleaned as every grid's (negative and -9999 become NaN).
    A file that is empty, truncated, corrupt or not NetCDF gives one :class:`ScanInputError`.
    """
    import xarray as xr

    path = Path(path)
    file = str(path)
    box = _check_bbox(bbox)
    if path.stat().st_size == 0:
        raise ScanInputError(f"the file is empty; expected a {_NC_WHAT}", file=file)
    _check_hdf5_signature(path)
    try:
        _walk_hdf5(path)
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return _select_netcdf(ds, pollutant, box, file)
    except ScanInputError:
        raise
    except Exception as err:  # h5py/h5netcdf/xarray raise OSError, ValueError, KeyError, ...
        raise unreadable(path, err, _NC_WHAT + "; it may be truncated or corrupt") from None


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_hdf5_signature(path: Path) -> None:
    """A NetCDF-4 file is an HDF5 file: its signature is at byte 0 (or 512, 1024, ... after a
    user block).  NetCDF-3 ("classic") files start with b"CDF"."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            offset = 0
            while True:
                fh.seek(offset)
                if fh.read(8) == _HDF5_SIGNATURE:
                    return
                offset = 512 if offset == 0 else 2 * offset
                if offset > path.stat().st_size:
                    break
    except OSError as err:
        raise ScanInputError(f"cannot be read: {err.strerror or err}", file=str(path)) from None
    if head[:3] == b"CDF":
        raise ScanInputError("a NetCDF-3 (classic) file; scan reads NetCDF-4 (HDF5): convert it, "
                             "e.g. nccopy -k nc4 IN.nc OUT.nc", file=str(path))
    raise ScanInputError(f"not a readable {_NC_WHAT}: it is not an HDF5 file (no HDF5 "
                         "signature)", file=str(path))


NETCDF_CHECK_TIMEOUT_S = 30.0
"""Seconds allowed for reading a NetCDF file's metadata in a child process before it is read
here.  libhdf5 can loop for ever on a corrupt file (one flipped byte in a dimension list is
enough), and a thread stuck inside it cannot be stopped; a child process can.  A valid grid's
metadata takes well under a second."""

_WALK_HDF5 = """
import sys
import h5py

def visit(_name, obj):
    for key in obj.attrs.keys():
        obj.attrs[key]

try:
    with h5py.File(sys.argv[1], "r") as f:
        visit("/", f)
        f.visititems(visit)
except Exception as err:
    sys.stderr.write(" ".join(f"{type(err).__name__}: {err}".split())[:300])
    sys.exit(3)
"""
_HDF5_CHECKED: dict[tuple, bool] = {}  # (path, size, mtime) of files whose metadata read well


def _walk_hdf5(path: Path) -> None:
    """Read every object's metadata and attributes with h5py, in a child process with a time
    limit, before xarray opens the file: a corrupt file then fails cleanly (a message, not a
    traceback printed by h5netcdf's destructor) and cannot hang this process."""
    import subprocess
    import sys

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _HDF5_CHECKED:
        return
    if not sys.executable:  # embedded interpreter: no child to run; read it here
        import h5py

        def visit(_name, obj):
            for attr in obj.attrs.keys():
                obj.attrs[attr]

        with h5py.File(path, "r") as f:
            visit("/", f)
            f.visititems(visit)
        return
    timeout = NETCDF_CHECK_TIMEOUT_S
    try:
        done = subprocess.run([sys.executable, "-c", _WALK_HDF5, str(path)], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ScanInputError(f"reading its metadata did not finish within {timeout:g} s; the file "
                             "is corrupt (libhdf5 loops on it): write it again",
                             file=str(path)) from None
    if done.returncode == 3:
        raise ValueError(done.stderr.strip() or "unreadable HDF5 file")
    if done.returncode != 0:
        raise ValueError(f"reading it stopped the HDF5 library (exit status {done.returncode})")
    if len(_HDF5_CHECKED) > 256:
        _HDF5_CHECKED.clear()
    _HDF5_CHECKED[key] = True


def _select_netcdf(ds, pollutant, box, file):
    if "x" not in ds.coords or "y" not in ds.coords:
        raise ScanInputError("a grid NetCDF needs 'x' and 'y' coordinates (BNG metres)",
                             file=file)
    if ds.attrs.get("crs", CRS) != CRS:
        raise ScanInputError(f"crs is {ds.attrs['crs']!r}; grids must be in {CRS}", file=file)
    for axis in ("x", "y"):
        c = ds[axis]
        if c.ndim != 1:
            raise ScanInputError(f"coordinate '{axis}' must be 1-D", file=file, field=axis)
        values = c.to_numpy().astype(np.float64)
        if not np.isfinite(values).all() or (values.size > 1 and not (np.diff(values) > 0).all()):
            raise ScanInputError(f"coordinate '{axis}' must be finite and strictly ascending",
                                 file=file, field=axis)
    if pollutant is not None:
        name = canonical_pollutant(pollutant)
        if name not in ds.data_vars:
            raise ScanInputError(f"no variable {name!r}; the file has "
                                 f"{', '.join(map(str, ds.data_vars))}", file=file)
        ds = ds[[name]]
    for name, var in ds.data_vars.items():
        if set(var.dims) != {"x", "y"}:
            raise ScanInputError(f"variable {name!r} has dimensions {var.dims}; a grid variable "
                                 "has dimensions ('y', 'x')", file=file, field=str(name))
        canonical_pollutant_in(name, file)
    if box is not None:
        ds = ds.sel(x=slice(box[0], box[2]), y=slice(box[1], box[3]))
        if ds.sizes["x"] == 0 or ds.sizes["y"] == 0:
            raise ScanInputError(f"no grid cells inside bbox {box}", file=file)
    check_cells(ds.sizes["x"] * ds.sizes["y"],
                f"{ds.sizes['y']:,} rows x {ds.sizes['x']:,} columns", file=file)
    ds = ds.load()
    for name in list(ds.data_vars):
        var = ds[name].transpose("y", "x")
        if np.isinf(var.to_numpy()).any():
            raise ScanInputError(f"{int(np.isinf(var.to_numpy()).sum())} cell(s) hold an "
                                 "infinite value; a concentration must be a finite number",
                                 file=file, field=str(name))
        clean, n_negative = concentrations(var.to_numpy())
        if n_negative:
            log.warning("%s: %d negative %s value(s) treated as missing (a concentration cannot "
                        "be negative)", file, n_negative, name)
        ds[name] = var.copy(data=clean)
    return ds


def canonical_pollutant_in(name, file: str) -> str:
    try:
        return canonical_pollutant(str(name))
    except ScanParameterError:
        raise ScanInputError(f"variable {str(name)!r} is not a pollutant scan knows (NO2, PM10, "
                             "PM25)", file=file, field=str(name)) from None


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
    pollutant in µg/m³, and attributes ``crs``, ``source``, ``resolution_m``.  Cells without a
    value (empty, NaN, NODATA_value, -9999, negative) are NaN; :func:`missing_cells` counts them.

    Raises
    ------
    ScanInputError for a file that is missing, empty, binary, not UTF-8, truncated or corrupt,
    malformed (naming the line and field), off a regular lattice, or larger than
    :data:`MAX_GRID_CELLS` cells.
    """
    from ..io.text import check_readable

    path = Path(path)
    if not path.exists():
        raise ScanInputError("file not found", file=str(path))
    check_readable(path, what="grid file")  # a folder, a device, no permission
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
    try:
        with open(path, "rb") as fh:
            return fh.read(5).lower() == b"ncols"
    except OSError as err:
        raise ScanInputError(f"cannot be read: {err.strerror or err}", file=str(path)) from None


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
