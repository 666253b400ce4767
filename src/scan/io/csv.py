"""Read a study area from a CSV file with one row per location.

The file has a header row naming at least the columns ``id, x, y, cases, population``
(an ``expected`` column is optional; other columns are ignored).  Every problem that can be
pinned to a place in the file is reported with the file name, the 1-based line number and the
column name; the array-level checks (coordinates that look like degrees in a projected CRS,
zero totals, ...) are then made by :func:`scan.data.study_area`.

The small field parsers here (:func:`parse_number`, :func:`parse_count`) are shared with the
SaTScan reader so both routes word their messages the same way.
"""
from __future__ import annotations

import csv
import math
from typing import Literal

import numpy as np

from ..data import DEFAULT_CRS, StudyArea, study_area
from ..errors import ScanInputError, check_choice


def parse_number(text: str, *, file: str, line: int, field: str) -> float:
    """A finite float from ``text``, or a :class:`ScanInputError` naming file, line and field."""
    if text is None or text.strip() == "":
        raise ScanInputError("empty value; a number is required", file=file, line=line,
                             field=field)
    try:
        value = float(text)
    except ValueError:
        raise ScanInputError(f"{text!r} is not a number", file=file, line=line,
                             field=field) from None
    if not math.isfinite(value):
        raise ScanInputError(f"{text.strip()!r} is not a finite number", file=file, line=line,
                             field=field)
    return value


def parse_count(text: str, *, file: str, line: int, field: str, integer: bool = True) -> float:
    """A count: finite, zero or more and, when ``integer``, a whole number."""
    value = parse_number(text, file=file, line=line, field=field)
    if value < 0:
        raise ScanInputError(f"{text.strip()!r} is negative; counts must be zero or more",
                             file=file, line=line, field=field)
    if integer and value != math.floor(value):
        raise ScanInputError(f"{text.strip()!r} is not a whole number; counts of people must "
                             "be integers", file=file, line=line, field=field)
    return value


def _column_indices(header: list[str], file: str, required: dict[str, str],
                    optional: dict[str, str]) -> dict[str, int]:
    """Map each wanted column to its index; the error lists the columns that were found."""
    names = [h.strip() for h in header]
    index = {}
    for role, name in required.items():
        if name not in names:
            raise ScanInputError(
                f"missing required column '{name}'; columns found: {', '.join(names)}",
                file=file, line=1, field=name)
        index[role] = names.index(name)
    for role, name in optional.items():
        if name in names:
            index[role] = names.index(name)
    return index


def _parse_row(row: list[str], col: dict[str, int], names: dict[str, str], model: str,
               file: str, line: int) -> tuple:
    """One location: (id, x, y, cases, population, expected or None)."""
    loc = row[col["id"]]
    if loc.strip() == "":
        raise ScanInputError("empty id", file=file, line=line, field=names["id"])
    x, y = (parse_number(row[col[k]], file=file, line=line, field=names[k]) for k in ("x", "y"))
    cases = parse_count(row[col["cases"]], file=file, line=line, field=names["cases"])
    population = parse_count(row[col["population"]], file=file, line=line,
                             field=names["population"], integer=(model == "bernoulli"))
    if model == "bernoulli" and cases > population:
        raise ScanInputError(
            f"{cases:g} cases but a population of {population:g}; for the Bernoulli model the "
            "population counts cases plus controls, so it can never be below the cases",
            file=file, line=line, field=names["population"])
    expected = None
    if "expected" in col:
        expected = parse_count(row[col["expected"]], file=file, line=line,
                               field=names["expected"], integer=False)
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

    Ids are kept as strings exactly as written ("007" stays "007").  Line numbers in messages
    are 1-based lines of the file (the header is line 1).

    Raises
    ------
    ScanInputError naming file, line and field for a missing column (listing the columns
    found), a row with the wrong number of fields, an empty or non-numeric value, negative or
    fractional cases, a duplicate id (both lines named), non-finite coordinates, or (Bernoulli)
    more cases than population.
    """
    check_choice("model", model, ("poisson", "bernoulli"))
    check_choice("coordinates", coordinates, ("cartesian", "latlong"))
    file = str(path)
    names = {"id": id_column, "x": x_column, "y": y_column, "cases": cases_column,
             "population": population_column, "expected": expected_column}
    rows = []
    first_line: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ScanInputError("the file is empty; expected a header row naming the columns "
                                 "id, x, y, cases, population", file=file, line=1)
        required = {k: v for k, v in names.items() if k != "expected"}
        col = _column_indices(header, file, required, {"expected": expected_column})
        for row in reader:
            if all(v.strip() == "" for v in row):
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise ScanInputError(f"{len(row)} fields but the header has {len(header)}",
                                     file=file, line=line)
            rec = _parse_row(row, col, names, model, file, line)
            if rec[0] in first_line:
                raise ScanInputError(
                    f"location id '{rec[0]}' already appears on line {first_line[rec[0]]}; "
                    "ids must be unique", file=file, line=line, field=id_column)
            first_line[rec[0]] = line
            rows.append(rec)
    if not rows:
        raise ScanInputError("no data rows after the header", file=file, line=2)
    ids, xs, ys, cases, population, expected = zip(*rows)
    use_expected = model == "poisson" and "expected" in col
    return study_area(np.array(ids, dtype=str), xs, ys, cases, population,
                      expected=expected if use_expected else None,
                      coordinates=coordinates, crs=crs, project_to=project_to, model=model,
                      source=file)
