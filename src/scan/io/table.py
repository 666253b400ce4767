"""CSV tables without pandas: the same bytes as ``DataFrame.to_csv(index=False)``.

Writing clusters.csv and locations.csv is all a scan run needs pandas for, and importing pandas
costs about as much as the rest of a small run's start-up, so the writers format columns here:
floats as NumPy's shortest round-trip text (``0.1``, ``1e-05``, ``inf``), missing values (None,
NaN) as empty cells, whole-number columns as integers unless a value is missing (then floats,
as pandas promotes them), strings quoted only when needed, ``\\n`` line ends.  The tables stay
available as DataFrames (:meth:`scan.ScanResult.to_dataframe`); a test checks both agree byte
for byte.
"""
from __future__ import annotations

import csv
import math
import os
from typing import Mapping, Sequence

import numpy as np

_MISSING = object()


def _is_missing(v) -> bool:
    return v is None or v is _MISSING or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not _is_bool(v)


def _is_number(v) -> bool:
    return _is_int(v) or isinstance(v, (float, np.floating))


def column_from_values(values: Sequence) -> np.ndarray:
    """The array pandas would infer for a column of Python values (``_MISSING`` marks a key a
    row lacks): int64 for whole numbers, float64 (NaN for missing) for numbers with a float or
    a missing value, bool for flags, else object."""
    present = [v for v in values if not _is_missing(v)]
    if present and all(_is_number(v) for v in present):
        if len(present) == len(values) and all(_is_int(v) for v in present):
            return np.array(values, dtype=np.int64)
        return np.array([np.nan if _is_missing(v) else float(v) for v in values])
    if present and len(present) == len(values) and all(_is_bool(v) for v in present):
        return np.array(values, dtype=bool)
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is _MISSING else v for v in values]
    return out


def format_column(values) -> list:
    """The cells pandas writes for one column (a NumPy array or a sequence)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        cells = arr.astype(str)
        cells[np.isnan(arr)] = ""
        return cells.tolist()
    if arr.dtype.kind in "iub":
        return arr.astype(str).tolist()
    if arr.dtype.kind == "U":
        return arr.tolist()
    return ["" if _is_missing(v) else v for v in arr.tolist()]


def write_csv(path: str | os.PathLike, columns: Mapping[str, object]) -> None:
    """Write ``columns`` (name -> array of one value per row) as a CSV file."""
    names = list(columns)
    cells = [format_column(columns[name]) for name in names]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*cells))


def rows_to_columns(names: Sequence[str], rows: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """Columns ``names`` of a list of row dicts, each inferred as pandas would."""
    return {name: column_from_values([row.get(name, _MISSING) for row in rows])
            for name in names}
