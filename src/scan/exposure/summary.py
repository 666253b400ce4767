"""Exposure per location (from grids or a table) and per cluster (population-weighted).

Limit values used for "share of the population above" are kept in one table,
:data:`AIR_QUALITY_LIMITS` (annual means, µg/m³).

Missing data: a location has no value when its value is empty, NaN, the LAEI no-data value
-9999 or any other negative number (a concentration cannot be below zero), in a table as in a
grid (see :mod:`scan.exposure.grids`).  Such a location is left out of every per-cluster figure
and counted in ``n_missing_inside`` / ``n_missing_outside``, so a report can say how many
locations the figures rest on.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, Mapping, Sequence

import numpy as np

from ..errors import ScanInputError, ScanParameterError, check_choice
from .grids import UNITS, canonical_pollutant, concentrations, unreadable

# Annual-mean limit values and guidelines, µg/m³.
#   uk_limit:  Air Quality Standards Regulations 2010 (England), annual limit values:
#              NO2 40, PM10 40, PM2.5 20 (the PM2.5 "Stage 2" value in force since 2020).
#   who_2021:  WHO global air quality guidelines 2021, annual AQG levels: NO2 10, PM10 15, PM2.5 5.
# A location counts as "above" when its annual mean is strictly greater than the value.
AIR_QUALITY_LIMITS: dict[str, dict[str, float]] = {
    "NO2": {"uk_limit": 40.0, "who_2021": 10.0},
    "PM10": {"uk_limit": 40.0, "who_2021": 15.0},
    "PM25": {"uk_limit": 20.0, "who_2021": 5.0},
}


# ---------------------------------------------------------------------------------------------
# Per location, from a grid
# ---------------------------------------------------------------------------------------------

def _grid_axes(da) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y ascending and the values as (ny, nx) float64, whatever the DataArray's order."""
    if set(da.dims) != {"x", "y"}:
        raise ScanParameterError("da", "a 2-D DataArray with dimensions 'y' and 'x'", da.dims)
    da = da.sortby("x").sortby("y").transpose("y", "x")
    return (da["x"].to_numpy().astype(np.float64), da["y"].to_numpy().astype(np.float64),
            da.to_numpy().astype(np.float64))


def _locate(coord: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, weight of the upper neighbour, and whether inside, along one axis.

    Points between the first/last cell centre and the outer cell edge (half a cell) take the
    edge value; points further out are outside.
    """
    n = axis.size
    half = (axis[1] - axis[0]) / 2 if n > 1 else 0.5
    inside = (coord >= axis[0] - half) & (coord <= axis[-1] + half)
    c = np.clip(coord, axis[0], axis[-1])
    if n == 1:
        zeros = np.zeros(coord.shape, dtype=np.int64)
        return zeros, np.zeros(coord.shape), inside
    i = np.clip(np.searchsorted(axis, c, side="right") - 1, 0, n - 2)
    w = (c - axis[i]) / (axis[i + 1] - axis[i])
    return i, w, inside


def sample_points(da, x, y, *, outside: Literal["nan", "raise"] = "nan") -> np.ndarray:
    """Bilinear interpolation of a grid at points.

    Parameters
    ----------
    da : DataArray with dims ``y``, ``x`` (cell-centre coordinates, same CRS as the points).
    x, y : point coordinates (arrays of equal length).
    outside : what to do with points outside the grid (further than half a cell beyond the
        outermost cell centres): ``"nan"`` returns NaN for them, ``"raise"`` raises
        :class:`ScanInputError` naming the first such point.

    Returns
    -------
    (n,) float64.  A point within half a cell of the edge takes the edge value along that axis;
    a NaN cell among the four neighbours makes the result NaN.
    """
    check_choice("outside", outside, ("nan", "raise"))
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    if x.shape != y.shape:
        raise ScanParameterError("y", f"the same length as x ({x.size})", y.size)
    gx, gy, v = _grid_axes(da)
    i, wx, in_x = _locate(x, gx)
    j, wy, in_y = _locate(y, gy)
    inside = in_x & in_y
    if outside == "raise" and not inside.all():
        k = int(np.flatnonzero(~inside)[0])
        raise ScanInputError(
            f"point {k} (x={x[k]:g}, y={y[k]:g}) is outside the grid x {gx[0]:g}..{gx[-1]:g}, "
            f"y {gy[0]:g}..{gy[-1]:g}; read a larger bbox or pass outside='nan'",
            field="x, y")
    i1 = np.minimum(i + 1, gx.size - 1)
    j1 = np.minimum(j + 1, gy.size - 1)
    out = ((1 - wy) * ((1 - wx) * v[j, i] + wx * v[j, i1])
           + wy * ((1 - wx) * v[j1, i] + wx * v[j1, i1]))
    out[~inside] = np.nan
    return out


def polygon_means(da, polygons: Sequence) -> np.ndarray:
    """Mean of the cells whose CENTRES lie inside each shapely (Multi)Polygon (unweighted).

    NaN cells are ignored.  A polygon containing no cell centre (smaller than a cell) gets the
    bilinear value at its centroid instead, so every polygon receives a value.
    """
    import shapely

    gx, gy, v = _grid_axes(da)
    out = np.full(len(polygons), np.nan)
    for k, poly in enumerate(polygons):
        xmin, ymin, xmax, ymax = poly.bounds
        ci = np.flatnonzero((gx >= xmin) & (gx <= xmax))
        rj = np.flatnonzero((gy >= ymin) & (gy <= ymax))
        xx, yy = np.meshgrid(gx[ci], gy[rj])
        mask = shapely.contains_xy(poly, xx, yy)
        cells = v[np.ix_(rj, ci)][mask]
        cells = cells[~np.isnan(cells)]
        if cells.size:
            out[k] = cells.mean()
        else:
            c = poly.centroid
            out[k] = sample_points(da, [c.x], [c.y])[0]
    return out


# ---------------------------------------------------------------------------------------------
# Per location, from a table
# ---------------------------------------------------------------------------------------------

_SUMMARY_COLUMN = re.compile(r"^(?P<poll>[A-Za-z0-9.]+)-(?P<year>\d{4})-(?P<stat>[a-z]+)$")


_TABLE_WHAT = "per-location exposure CSV"


def read_location_table(path: str | os.PathLike, *, id_column: str | None = None,
                        year: int | None = None, statistic: str = "mean"):
    """Read per-location concentrations into a DataFrame indexed by location id.

    Two layouts are accepted:

    * ``id,NO2,PM10,PM25`` (any subset of pollutants, aliases such as ``PM2.5`` allowed);
    * a LAEI zonal summary such as ``lbbd_lsoa11_laei_concentration_summary.csv`` with columns
      ``<POLLUTANT>-<YEAR>-<statistic>`` (``year`` picks the year; required when there are
      several; ``statistic`` defaults to the mean).  Other LAEI species (NOx, PM10d) are skipped.

    ``id_column`` defaults to the first column.  Returns float64 columns "NO2"/"PM10"/"PM25".
    An empty value, ``NaN``, ``-9999`` or any negative number is a location without a value
    (NaN); ``table.isna().sum()`` counts them.  An infinite value, a duplicated or empty id, two
    columns for one pollutant, and a file that is empty, binary or not UTF-8 are refused with
    a :class:`ScanInputError` naming the file (and line and field).
    """
    import pandas as pd

    import io

    from ..io.text import read_text

    path = Path(path)
    file = str(path)
    text = read_text(path, what=_TABLE_WHAT)  # missing, folder, binary, encodings: one rule
    if not text.strip():
        raise ScanInputError(f"the file is empty; expected a {_TABLE_WHAT}", file=file)
    try:
        raw = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False,
                          skip_blank_lines=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise unreadable(path, err, _TABLE_WHAT) from None
    raw = raw.fillna("")
    header = [str(c) for c in raw.iloc[0].tolist()]
    _check_unique_header(header, file)
    body = raw.iloc[1:]
    lines = np.arange(2, 2 + len(body))
    filled = (body.apply(lambda col: col.str.strip()) != "").any(axis=1).to_numpy()
    body, lines = body[filled], lines[filled]
    body.columns = header
    if body.empty:
        raise ScanInputError("no data rows after the header", file=file)
    id_column = header[0] if id_column is None else id_column
    if id_column not in header:
        raise ScanInputError(f"no id column {id_column!r}; columns are {', '.join(header)}",
                             file=file, line=1)
    if any(_SUMMARY_COLUMN.match(c) for c in header):
        columns = _summary_columns(header, year, statistic, file)
    else:
        columns = {c: canonical_pollutant_in_file(c, file) for c in header if c != id_column}
    _check_one_column_each(columns, file)
    _check_unique_ids(body[id_column], id_column, file, lines)
    table = pd.DataFrame(index=pd.Index(body[id_column].to_numpy(), name="id"))
    for column, name in columns.items():
        table[name] = _parse_floats(body[column], column, file, lines)
    table.attrs.update({"units": UNITS, "source": path.name})
    return table


def _check_unique_header(header: list[str], file: str) -> None:
    seen: dict[str, int] = {}
    for k, c in enumerate(header, start=1):
        key = c.strip()
        if key in seen:
            raise ScanInputError(f"column '{key}' appears twice (columns {seen[key]} and {k}); "
                                 "keep one", file=file, line=1, field=key)
        seen[key] = k


def _check_one_column_each(columns: dict[str, str], file: str) -> None:
    first: dict[str, str] = {}
    for column, name in columns.items():
        if name in first:
            raise ScanInputError(f"columns '{first[name]}' and '{column}' are both {name}; keep "
                                 "one", file=file, line=1, field=column)
        first[name] = column


def canonical_pollutant_in_file(column: str, file: str) -> str:
    try:
        return canonical_pollutant(column)
    except ScanParameterError:
        raise ScanInputError(f"unknown pollutant column {column!r}; allowed: NO2, PM10, PM25 "
                             "(PM2.5 accepted)", file=file, line=1, field=column) from None


def _summary_columns(columns, year, statistic, file) -> dict[str, str]:
    parsed = [(c, m) for c in columns if (m := _SUMMARY_COLUMN.match(c))]
    years = sorted({int(m["year"]) for _, m in parsed})
    if year is None:
        if len(years) > 1:
            raise ScanParameterError("year", "one of " + ", ".join(map(str, years)), None,
                                     f"the file {file} summarises several LAEI years")
        year = years[0]
    if int(year) not in years:
        raise ScanParameterError("year", "one of " + ", ".join(map(str, years)), year)
    chosen = {}
    for c, m in parsed:
        if int(m["year"]) == int(year) and m["stat"] == statistic:
            try:
                chosen[c] = canonical_pollutant(m["poll"])
            except ScanParameterError:
                continue  # NOx, PM10d: no limits here
    if not chosen:
        raise ScanParameterError("statistic", "a statistic present in the file (min, max, mean, "
                                 "std, median)", statistic)
    return chosen


def _check_unique_ids(ids, id_column: str, file: str, lines: np.ndarray) -> None:
    empty = (ids.str.strip() == "").to_numpy()
    if empty.any():
        k = int(np.flatnonzero(empty)[0])
        raise ScanInputError("empty id", file=file, line=int(lines[k]), field=id_column)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise ScanInputError(f"duplicate id {ids.iloc[k]!r}", file=file, line=int(lines[k]),
                             field=id_column)
    stripped = ids.str.strip()
    near = stripped.duplicated().to_numpy()
    if near.any():
        k = int(np.flatnonzero(near)[0])
        j = int(np.flatnonzero((stripped == stripped.iloc[k]).to_numpy())[0])
        raise ScanInputError(f"ids {ids.iloc[j]!r} (line {lines[j]}) and {ids.iloc[k]!r} differ "
                             "only by spaces; remove the spaces", file=file,
                             line=int(lines[k]), field=id_column)


def _parse_floats(column, name: str, file: str, lines: np.ndarray) -> np.ndarray:
    """Concentrations of one column: empty, NaN, -9999 and negative values become NaN."""
    import pandas as pd

    text = column.str.strip()
    values = pd.to_numeric(text.replace("", np.nan), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & (text != "").to_numpy() & ~text.str.lower().isin(["nan", "na"]).to_numpy()
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ScanInputError(f"not a number: {column.iloc[k]!r}", file=file, line=int(lines[k]),
                             field=name)
    infinite = np.isinf(values)
    if infinite.any():
        k = int(np.flatnonzero(infinite)[0])
        raise ScanInputError(f"not a finite number: {column.iloc[k]!r}", file=file,
                             line=int(lines[k]), field=name)
    clean, n_negative = concentrations(values)
    if n_negative:
        import logging

        logging.getLogger(__name__).warning(
            "%s: %d negative %s value(s) treated as missing (a concentration cannot be "
            "negative)", file, n_negative, name)
    return clean


# ---------------------------------------------------------------------------------------------
# Per cluster
# ---------------------------------------------------------------------------------------------

def _members_mask(members, n: int) -> np.ndarray:
    m = np.asarray(members)
    if m.dtype == bool:
        if m.shape != (n,):
            raise ScanParameterError("members", f"a boolean mask of length {n} or an index array",
                                     f"boolean array of shape {m.shape}")
        return m
    if m.size and not np.issubdtype(m.dtype, np.integer):
        raise ScanParameterError("members", "an integer index array or a boolean mask",
                                 f"array of dtype {m.dtype}")
    m = m.astype(np.int64).ravel()
    if m.size and (m.min() < 0 or m.max() >= n):
        raise ScanParameterError("members", f"indices in 0..{n - 1}",
                                 f"{int(m.min())}..{int(m.max())}")
    mask = np.zeros(n, dtype=bool)
    mask[m] = True
    return mask


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    ok = ~np.isnan(values)
    total = weights[ok].sum()
    return float((values[ok] * weights[ok]).sum() / total) if total > 0 else float("nan")


def _share_above(values: np.ndarray, weights: np.ndarray, limit: float) -> float:
    ok = ~np.isnan(values)
    total = weights[ok].sum()
    return float(weights[ok & (values > limit)].sum() / total) if total > 0 else float("nan")


def cluster_exposure(values, population, members, *, pollutant: str | None = None) -> dict:
    """Population-weighted exposure inside a cluster and in the rest of the study area.

    Parameters
    ----------
    values : (n,) concentration per location (µg/m³).  NaN, ±inf, -9999 and any negative value
        mean "no value": the location is left out of every figure and counted in
        ``n_missing_inside`` / ``n_missing_outside``.
    population : (n,) population per location (the weights), non-negative.
    members : the cluster's locations, an index array or an (n,) boolean mask.
    pollutant : "NO2", "PM10" or "PM25"; needed for the limit shares (NaN without it).

    Returns
    -------
    dict with ``mean_inside``, ``mean_outside`` (population-weighted means; outside = every
    other location of the study area), ``difference`` (inside − outside), ``ratio``
    (inside / outside), ``max_inside`` (highest location value inside), ``share_above_uk_limit``
    and ``share_above_who_guideline`` (share of the cluster's population whose location value
    exceeds the value in :data:`AIR_QUALITY_LIMITS`), ``population_inside``, ``n_inside``,
    ``n_missing_inside`` and ``n_missing_outside`` (locations without a value, left out of the
    figures; a mean over no location is NaN), ``pollutant`` and ``units``.
    """
    v = concentrations(np.asarray(values, dtype=np.float64).ravel())[0]
    w = np.asarray(population, dtype=np.float64).ravel()
    if w.shape != v.shape:
        raise ScanParameterError("population", f"an array of the same length as values ({v.size})",
                                 f"length {w.size}")
    if np.isnan(w).any() or (w < 0).any():
        raise ScanParameterError("population", "non-negative numbers", "negative or NaN values")
    inside = _members_mask(members, v.size)
    if not inside.any():
        raise ScanParameterError("members", "at least one location", "an empty cluster")
    name = canonical_pollutant(pollutant) if pollutant is not None else None
    mean_in = _weighted_mean(v[inside], w[inside])
    mean_out = _weighted_mean(v[~inside], w[~inside])
    limits = AIR_QUALITY_LIMITS.get(name, {"uk_limit": np.nan, "who_2021": np.nan})
    vin, win = v[inside], w[inside]
    return {
        "pollutant": name,
        "units": UNITS,
        "n_inside": int(inside.sum()),
        "n_missing_inside": int(np.isnan(vin).sum()),
        "n_missing_outside": int(np.isnan(v[~inside]).sum()),
        "population_inside": float(win.sum()),
        "mean_inside": mean_in,
        "mean_outside": mean_out,
        "difference": mean_in - mean_out,
        "ratio": mean_in / mean_out if mean_out else float("nan"),
        "max_inside": float(np.nanmax(vin)) if (~np.isnan(vin)).any() else float("nan"),
        "share_above_uk_limit": (_share_above(vin, win, limits["uk_limit"])
                                 if name else float("nan")),
        "share_above_who_guideline": (_share_above(vin, win, limits["who_2021"])
                                      if name else float("nan")),
    }


def exposure_table(values_by_pollutant: Mapping[str, Sequence[float]], population,
                   clusters_members: Sequence) -> list[dict]:
    """One row per cluster and pollutant: ``{"cluster": k, **cluster_exposure(...)}``.

    ``cluster`` is the 1-based position in ``clusters_members`` (1 = the most likely cluster when
    the list comes from a scan result).  Rows are ordered by cluster, then pollutant as given.
    """
    rows = []
    for k, members in enumerate(clusters_members, start=1):
        for pollutant, values in values_by_pollutant.items():
            rows.append({"cluster": k, **cluster_exposure(values, population, members,
                                                          pollutant=pollutant)})
    return rows
