"""Read a study area from a CSV file with one row per location.

The file has a header row naming at least the columns ``id, x, y, cases, population``
(an ``expected`` column is optional; other columns are ignored).  Every problem that can be
pinned to a place in the file is reported with the file name, the 1-based line number and the
column name; the array-level checks (coordinates that look like degrees in a projected CRS,
zero totals, ...) are then made by :func:`scan.data.study_area`.

The small field parsers here (:func:`parse_number`, :func:`parse_count`, :func:`parse_amount`)
and :func:`column_indices` are shared with the SaTScan and space-time readers so every route
words its messages the same way; the file itself is opened by :mod:`scan.io.text`.
"""
from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np

from ..data import DEFAULT_CRS, MAX_COUNT, StudyArea, study_area
from ..errors import ScanInputError, check_choice
from ..models import models_for
from .text import csv_rows

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def parse_number(text: str, *, file: str, line: int, field: str) -> float:
    """A finite float from ``text``, or a :class:`ScanInputError` naming file, line and field.

    Only plain decimal numbers are accepted (``12``, ``-3.5``, ``1e-3``, ``+.5``), with ASCII
    digits: Python's ``float`` would also take ``1_000``, ``nan``, ``inf`` and other scripts'
    digits, which in a data file are typos or the wrong file.
    """
    if text is None or text.strip() == "":
        raise ScanInputError("empty value; a number is required", file=file, line=line,
                             field=field)
    t = text.strip()
    if _NUMBER.fullmatch(t):
        value = float(t)
        if not math.isfinite(value):
            raise ScanInputError(f"{t!r} is not a finite number (too large: a number must be "
                                 "below 1.8e308)", file=file, line=line, field=field)
        return value
    if _NON_FINITE.fullmatch(t):
        raise ScanInputError(f"{t!r} is not a finite number", file=file, line=line, field=field)
    if "_" in t and _NUMBER.fullmatch(t.replace("_", "")):
        raise ScanInputError(f"{t!r} is not a number: digit separators are not allowed; write "
                             f"{t.replace('_', '')}", file=file, line=line, field=field)
    if re.fullmatch(r"[+-]?[0-9]+,[0-9]+", t):
        raise ScanInputError(f"{t!r} is not a number: write the decimal separator as a point "
                             f"({t.replace(',', '.')})", file=file, line=line, field=field)
    raise ScanInputError(f"{text!r} is not a number", file=file, line=line, field=field)


def parse_count(text: str, *, file: str, line: int, field: str, integer: bool = True,
                maximum: float | None = None) -> float:
    """A count: finite, zero or more, when ``integer`` a whole number, and at most ``maximum``.

    Cases (and controls) are read with ``maximum=MAX_COUNT``: the counting kernels hold counts
    as 32-bit integers.
    """
    value = parse_number(text, file=file, line=line, field=field)
    if value < 0:
        raise ScanInputError(f"{text.strip()!r} is negative; counts must be zero or more",
                             file=file, line=line, field=field)
    if integer and value != math.floor(value):
        raise ScanInputError(f"{text.strip()!r} is not a whole number; counts of people must "
                             "be integers", file=file, line=line, field=field)
    if maximum is not None and value > maximum:
        why = ("its kernels count in 32-bit integers" if maximum == MAX_COUNT
               else "larger counts are not exact in floating point")
        raise ScanInputError(f"{text.strip()!r} is more than {maximum:,.0f}, the largest count "
                             f"scan can hold ({why}); check the value", file=file, line=line,
                             field=field)
    return value


SMALLEST_AMOUNT = 1e-100
"""Smallest positive population or expected count read: below it, dividing the cases by it
overflows a float (and no population is that small: a typo or the wrong unit)."""


def parse_amount(text: str, *, file: str, line: int, field: str) -> float:
    """A population or an expected count: finite, zero or more, not a whole number necessarily,
    and either 0 or at least :data:`SMALLEST_AMOUNT`."""
    value = parse_count(text, file=file, line=line, field=field, integer=False)
    if 0 < value < SMALLEST_AMOUNT:
        raise ScanInputError(f"{text.strip()!r} is too small: a positive {field} must be at "
                             f"least {SMALLEST_AMOUNT:g} (write 0 for none)", file=file,
                             line=line, field=field)
    return value


def column_indices(header: list[str], file: str, required: dict[str, str],
                   optional: dict[str, str], *, line: int = 1) -> dict[str, int]:
    """Map each wanted column to its index.

    Names are compared without surrounding spaces.  A missing required column is reported with
    the columns that were found; a wanted column named twice is refused (which copy was meant
    cannot be guessed).
    """
    names = [h.strip() for h in header]
    index = {}
    for role, name in list(required.items()) + list(optional.items()):
        where = [i for i, h in enumerate(names) if h == name]
        if len(where) > 1:
            raise ScanInputError(
                f"column '{name}' appears {len(where)} times in the header (columns "
                f"{', '.join(str(i + 1) for i in where)}); rename or remove the extra copies",
                file=file, line=line, field=name)
        if where:
            index[role] = where[0]
        elif role in required:
            raise ScanInputError(
                f"missing required column '{name}'; columns found: {', '.join(names)}",
                file=file, line=line, field=name)
    return index


def _parse_row(row: list[str], col: dict[str, int], names: dict[str, str], model: str,
               file: str, line: int) -> tuple:
    """One location: (id, x, y, cases, population, expected or None)."""
    loc = row[col["id"]].strip()
    if loc == "":
        raise ScanInputError("empty id", file=file, line=line, field=names["id"])
    x, y = (parse_number(row[col[k]], file=file, line=line, field=names[k]) for k in ("x", "y"))
    cases = parse_count(row[col["cases"]], file=file, line=line, field=names["cases"],
                        maximum=MAX_COUNT)
    if model == "bernoulli":
        population = parse_count(row[col["population"]], file=file, line=line,
                                 field=names["population"])
    else:
        population = parse_amount(row[col["population"]], file=file, line=line,
                                  field=names["population"])
    if model == "bernoulli" and cases > population:
        raise ScanInputError(
            f"{cases:g} cases but a population of {population:g}; for the Bernoulli model the "
            "population counts cases plus controls, so it can never be below the cases",
            file=file, line=line, field=names["population"])
    expected = None
    if "expected" in col:
        expected = parse_amount(row[col["expected"]], file=file, line=line,
                                field=names["expected"])
    return loc, x, y, cases, population, expected


def read_csv(path, *, model: Literal["poisson", "bernoulli"] = "poisson",
             coordinates: Literal["cartesian", "latlong"] = "cartesian",
             crs: str | None = DEFAULT_CRS, id_column: str = "id", x_column: str = "x",
             y_column: str = "y", cases_column: str = "cases",
             population_column: str = "population",
             expected_column: str = "expected", project_to: str | None = None) -> StudyArea:
    """Read a study area from a CSV file, one row per location.

    Parameters
    ----------
    path : the CSV file.  The header names the columns; blank lines are skipped.
    model : "poisson" or "bernoulli".  For Bernoulli the population column counts cases plus
        controls and must be a whole number no smaller than the cases.
    coordinates : "cartesian" (x, y) or "latlong" (x = longitude, y = latitude, degrees).
    crs : projected CRS of cartesian coordinates (default EPSG:27700); None for plain numbers.
    project_to : for latlong data, a projected CRS to reproject the points into (pyproj).
    *_column : the column names to use.  ``expected`` is optional and used by the Poisson
        model only (rescaled to the total cases by :func:`scan.data.study_area`).

    Ids are kept as strings as written ("007" stays "007") without surrounding spaces, so
    "A1" and "A1 " are the same id (and a duplicate).  Line numbers in messages are 1-based
    lines of the file (the header is line 1).  The file must be UTF-8 (UTF-16 with a
    byte-order mark is also read; see :mod:`scan.io.text`).  Numbers are plain decimals:
    ``1_000``, ``0x10``, ``nan`` and ``inf`` are refused.

    Raises
    ------
    ScanInputError naming file, line and field for a file that is missing, unreadable, binary
    or not UTF-8, a missing or duplicated column (listing the columns found), a row with the
    wrong number of fields, an empty or non-numeric value, negative or fractional cases, cases
    above 2,147,483,647 (:data:`scan.data.MAX_COUNT`; also the total), a duplicate id (both
    lines named), non-finite coordinates, or (Bernoulli) more cases than population.
    """
    check_choice("model", model, models_for("spatial"))
    check_choice("coordinates", coordinates, ("cartesian", "latlong"))
    file = str(path)
    names = {"id": id_column, "x": x_column, "y": y_column, "cases": cases_column,
             "population": population_column, "expected": expected_column}
    rows = []
    first_line: dict[str, tuple[int, str]] = {}
    records = ((line, row) for line, row in csv_rows(path, what="CSV file")
               if any(v.strip() for v in row))
    header_line, header = next(records, (1, None))
    if header is None:
        raise ScanInputError("the file is empty; expected a header row naming the columns "
                             "id, x, y, cases, population", file=file, line=1)
    required = {k: v for k, v in names.items() if k != "expected"}
    col = column_indices(header, file, required, {"expected": expected_column},
                         line=header_line)
    for line, row in records:
        if len(row) != len(header):
            raise ScanInputError(f"{len(row)} fields but the header has {len(header)}",
                                 file=file, line=line)
        rec = _parse_row(row, col, names, model, file, line)
        if rec[0] in first_line:
            before, raw = first_line[rec[0]]
            spaces = row[col["id"]] != raw
            raise ScanInputError(
                f"location id '{rec[0]}' already appears on line {before}; ids must be unique"
                + (f" (ids are compared without surrounding spaces: {raw!r} there, "
                   f"{row[col['id']]!r} here)" if spaces else ""),
                file=file, line=line, field=id_column)
        first_line[rec[0]] = (line, row[col["id"]])
        rows.append(rec)
    if not rows:
        raise ScanInputError("no data rows after the header", file=file, line=2)
    ids, xs, ys, cases, population, expected = zip(*rows)
    use_expected = model == "poisson" and "expected" in col
    return study_area(np.array(ids, dtype=str), xs, ys, cases, population,
                      expected=expected if use_expected else None,
                      coordinates=coordinates, crs=crs, project_to=project_to, model=model,
                      source=file)
