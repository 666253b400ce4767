"""Read a study area from long-form CSV files: one row per area x stratum (x year).

Three files, each with a header row (columns in any order; other columns are ignored):

- **cases** (``cases_path``): ``id, <stratum columns>, cases, population`` and optionally
  ``year``.  One row per location and stratum (and year).  ``population`` is the population at
  risk of that stratum (person-years when the row is one year); for the Bernoulli model it
  counts cases plus controls.  A (location, stratum, year) that has no row counts zero.
- **locations** (``locations``): ``id, x, y`` and optionally ``name``.  For
  ``coordinates='latlong'`` x is the longitude and y the latitude in degrees.
- **reference rates** (``reference_rates``, optional): the stratum columns and ``rate``, the
  cases per person-year (or per ``rate_per`` person-years) of an external standard population,
  e.g. England's age- and sex-specific incidence.

How the locations are matched (the rule of SaTScan's coordinates file, as in
:func:`scan.io.satscan.read_satscan`): every location of the locations file becomes a location of
the study area, in that file's order; a location with no row in the cases file has zero cases and
zero population (a warning is logged with how many).  Every id in the cases file must be in the
locations file.  A location has at most one row per stratum (and year): a
repeated row is an error, not added, so cases are never counted twice (to analyse a stratified
file without standardisation, add its rows up first, or name the strata).

Expected counts (recorded in ``StudyArea.expected_kind``):

- no reference rates, no strata: proportional to the population ("population");
- no reference rates, strata: indirect standardisation on the study area's own stratum rates,
  ``e_i = sum_k P_ik C_k / P_k`` ("internal-standardised"; :func:`scan.data.indirect_expected`);
- reference rates: ``e_i = sum_k P_ik rate_k years / rate_per`` ("reference-rates"), summed over
  the year rows instead (each row is one year) when the cases carry a year.  These counts are
  kept unscaled in ``StudyArea.expected_external`` (an SIR against the external standard); the
  scan, which conditions on the total, uses ``expected = expected_external * expected_scale``
  with ``expected_scale = C / sum(expected_external)``.

With a ``year`` column the counts by year are kept in ``StudyArea.yearly``
(:class:`scan.data.YearlyCounts`), their expected counts computed with the same stratum rates
(internal rates pooled over all the years, or the reference rates), so each location's yearly
expected counts add up to its expected count over the period.
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from ..data import (
    DEFAULT_CRS,
    MAX_COUNT,
    MAX_EXACT,
    StudyArea,
    YearlyCounts,
    study_area,
)
from ..errors import ScanInputError, ScanParameterError, check_choice
from ..models import models_for
from .csv import column_indices as _column_indices
from .csv import parse_amount, parse_count, parse_number
from .text import csv_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Locations:
    ids: list[str]
    x: list[float]
    y: list[float]
    names: list[str] | None
    file: str


def _rows(path, file: str, what: str):
    """(header, list of (line, row)) of a CSV file read through :mod:`scan.io.text` (the shared
    checks: missing file, folder, encoding, field size); blank lines skipped, field counts
    checked."""
    records = ((line, row) for line, row in csv_rows(path, what=f"{what} file")
               if any(v.strip() for v in row))
    header_line, header = next(records, (1, None))
    if header is None:
        raise ScanInputError(f"the {what} file is empty; expected a header row naming the "
                             "columns", file=file, line=1)
    rows = []
    for line, row in records:
        if len(row) != len(header):
            raise ScanInputError(f"{len(row)} fields but the header has {len(header)}",
                                 file=file, line=line)
        rows.append((line, row))
    if not rows:
        raise ScanInputError("no data rows after the header", file=file, line=header_line + 1)
    return [h.strip() for h in header], rows


def _text(row, col, name, file, line) -> str:
    value = row[col].strip()
    if value == "":
        raise ScanInputError("empty value", file=file, line=line, field=name)
    return value


def read_locations(path, *, id_column: str = "id", x_column: str = "x", y_column: str = "y",
                   name_column: str = "name") -> _Locations:
    """The locations file: ``id, x, y[, name]``; ids unique, coordinates finite numbers."""
    file = str(path)
    header, rows = _rows(path, file, "locations")
    col = _column_indices(header, file, {"id": id_column, "x": x_column, "y": y_column},
                          {"name": name_column})
    ids, xs, ys, names = [], [], [], []
    first: dict[str, int] = {}
    for line, row in rows:
        loc = row[col["id"]].strip()
        if loc == "":
            raise ScanInputError("empty id", file=file, line=line, field=id_column)
        if loc in first:
            raise ScanInputError(f"location id '{loc}' already appears on line {first[loc]}; "
                                 "ids must be unique", file=file, line=line, field=id_column)
        first[loc] = line
        ids.append(loc)
        xs.append(parse_number(row[col["x"]], file=file, line=line, field=x_column))
        ys.append(parse_number(row[col["y"]], file=file, line=line, field=y_column))
        if "name" in col:
            names.append(row[col["name"]].strip())
    return _Locations(ids=ids, x=xs, y=ys, names=names if "name" in col else None, file=file)


def _parse_year(text: str, *, file: str, line: int, field: str) -> int:
    value = parse_number(text, file=file, line=line, field=field)
    if value != math.floor(value):
        raise ScanInputError(f"{text.strip()!r} is not a whole year", file=file, line=line,
                             field=field)
    return int(value)


def read_reference_rates(path, *, strata: Sequence[str] = (), rate_column: str = "rate"
                         ) -> dict[tuple[str, ...], tuple[float, int]]:
    """The reference-rates file: the stratum columns and ``rate`` (cases per person-year).

    Returns ``{stratum values: (rate, line)}``.  Rates must be finite and zero or more; a stratum
    may appear once.  Strata of the rates file absent from the cases are allowed (a national
    table covers every age band).
    """
    file = str(path)
    header, rows = _rows(path, file, "reference rates")
    required = {f"stratum {s}": s for s in strata}
    required["rate"] = rate_column
    col = _column_indices(header, file, required, {})
    rates: dict[tuple[str, ...], tuple[float, int]] = {}
    for line, row in rows:
        key = tuple(_text(row, col[f"stratum {s}"], s, file, line) for s in strata)
        if key in rates:
            raise ScanInputError(f"stratum {_describe(strata, key)} already has a rate on line "
                                 f"{rates[key][1]}; give one rate per stratum", file=file,
                                 line=line, field=",".join(strata) or rate_column)
        rate = parse_count(row[col["rate"]], file=file, line=line, field=rate_column,
                           integer=False)
        rates[key] = (rate, line)
    return rates


def _describe(strata: Sequence[str], key: tuple[str, ...]) -> str:
    return ", ".join(f"{s}={v!r}" for s, v in zip(strata, key)) if strata else "(all)"


def _check_strata_names(strata: Sequence[str], reserved: dict[str, str]) -> tuple[str, ...]:
    if isinstance(strata, str):
        raise ScanParameterError("strata", "a sequence of column names, e.g. ('sex', 'age')",
                                 strata, f"pass ({strata!r},) or split it: "
                                 f"{tuple(s.strip() for s in strata.split(','))!r}")
    strata = tuple(str(s) for s in strata)
    if len(set(strata)) != len(strata):
        raise ScanParameterError("strata", "distinct column names", strata)
    for role, name in reserved.items():
        if name in strata:
            raise ScanParameterError("strata", "column names other than the id, cases, "
                                     "population and year columns", strata,
                                     f"'{name}' is already the {role} column")
    return strata


def read_long_csv(cases_path, *, locations, strata: Sequence[str] = (),
                  model: Literal["poisson", "bernoulli"] = "poisson", reference_rates=None,
                  years: float | None = None, rate_per: float = 1.0,
                  crs: str | None = DEFAULT_CRS,
                  coordinates: Literal["cartesian", "latlong"] = "cartesian",
                  project_to: str | None = None, id_column: str = "id",
                  cases_column: str = "cases", population_column: str = "population",
                  year_column: str = "year", name_column: str = "name",
                  rate_column: str = "rate") -> StudyArea:
    """Read a study area from a long-form cases CSV and a locations CSV (see the module
    docstring for the files and the rules).

    Parameters
    ----------
    cases_path : cases CSV, one row per location x stratum (x year):
        ``id, <strata columns>, cases, population[, year]``.
    locations : locations CSV, ``id, x, y[, name]``; names become ``StudyArea.names``.
    strata : the stratum columns of the cases file, e.g. ``("sex", "age")``; () for none.
    model : "poisson" or "bernoulli" (population = cases + controls; no standardisation, so
        strata are summed and reference rates are not allowed).
    reference_rates : optional CSV of the stratum columns and ``rate``; expected counts are then
        population x rate x ``years`` / ``rate_per``, kept unscaled in ``expected_external``.
    years : the number of years the cases (and the population of each row) cover; required with
        ``reference_rates`` unless the cases have a year column (then each row is one year and
        ``years`` must be None).
    rate_per : the person-years the rates are per (1 by default; 100000 for rates per 100,000).
    crs, coordinates, project_to : as for :func:`scan.io.csv.read_csv`.
    *_column : column names.

    Raises
    ------
    ScanInputError naming the file, 1-based line and field for: a missing column, a wrong number
    of fields, an empty or non-numeric value, negative or fractional cases, a fractional year, a
    duplicate (location, stratum, year) row (both lines named), a case id that is not in the
    locations file, a duplicate location, a stratum without a reference rate, a duplicate rate.
    ScanParameterError for ``years`` missing or not allowed, bad ``strata``, ``rate_per`` or
    ``model``.
    """
    check_choice("model", model, models_for("spatial"))
    check_choice("coordinates", coordinates, ("cartesian", "latlong"))
    reserved = {"id": id_column, "cases": cases_column, "population": population_column,
                "year": year_column}
    strata = _check_strata_names(strata, reserved)
    if not (isinstance(rate_per, numbers.Real) and math.isfinite(rate_per) and rate_per > 0):
        raise ScanParameterError("rate_per", "a positive number of person-years", rate_per,
                                 "pass 100000 for rates per 100,000 person-years")
    if reference_rates is not None and model != "poisson":
        raise ScanParameterError("reference_rates", "used with model='poisson'", reference_rates,
                                 "the Bernoulli model compares cases with controls, with no "
                                 "expected counts")
    if years is not None and reference_rates is None:
        raise ScanParameterError("years", "given only with reference_rates", years,
                                 "without reference rates expected counts come from the study "
                                 "area itself and do not depend on the period's length")
    if years is not None and not (isinstance(years, numbers.Real) and not isinstance(years, bool)
                                  and math.isfinite(years) and years > 0):
        raise ScanParameterError("years", "a positive number of years", years)

    where = read_locations(locations, id_column=id_column, name_column=name_column)
    index = {loc: i for i, loc in enumerate(where.ids)}
    file = str(cases_path)
    header, rows = _rows(cases_path, file, "cases")
    required = {"id": id_column, **{f"stratum {s}": s for s in strata},
                "cases": cases_column, "population": population_column}
    col = _column_indices(header, file, required, {"year": year_column})
    has_year = "year" in col
    if reference_rates is not None:
        if has_year and years is not None:
            raise ScanParameterError(
                "years", "None when the cases have a year column", years,
                f"each row of {file} covers one year (column '{year_column}'); drop years=")
        if not has_year and years is None:
            raise ScanParameterError(
                "years", "the number of years the cases cover, with reference_rates", None,
                "rates are per person-year: pass years=10 for ten years of cases (CLI --years)")

    stratum_col: dict[tuple[str, ...], int] = {}
    stratum_line: dict[tuple[str, ...], int] = {}
    records = []          # (location, stratum column, year, cases, population)
    seen: dict[tuple, int] = {}
    for line, row in rows:
        loc = row[col["id"]].strip()
        if loc == "":
            raise ScanInputError("empty id", file=file, line=line, field=id_column)
        if loc not in index:
            raise ScanInputError(f"location id '{loc}' is not in the locations file "
                                 f"{where.file}; add it there or correct the id", file=file,
                                 line=line, field=id_column)
        key = tuple(_text(row, col[f"stratum {s}"], s, file, line) for s in strata)
        year = (_parse_year(row[col["year"]], file=file, line=line, field=year_column)
                if has_year else 0)
        full = (loc, key, year)
        if full in seen:
            raise _duplicate_row(loc, key, year if has_year else None, seen[full], header,
                                 strata, reserved, file, line)
        seen[full] = line
        cases = parse_count(row[col["cases"]], file=file, line=line, field=cases_column,
                            maximum=MAX_COUNT)
        population = (parse_count(row[col["population"]], file=file, line=line,
                                  field=population_column, integer=True, maximum=MAX_EXACT)
                      if model == "bernoulli" else
                      parse_amount(row[col["population"]], file=file, line=line,
                                   field=population_column))
        if key not in stratum_col:
            stratum_col[key] = len(stratum_col)
            stratum_line[key] = line
        records.append((index[loc], stratum_col[key], year, cases, population))

    year_values = np.array(sorted({r[2] for r in records}), dtype=np.int64)
    year_col = {int(y): t for t, y in enumerate(year_values)}
    n, k, t = len(where.ids), len(stratum_col), len(year_values)
    cs = np.zeros((n, k, t))
    ps = np.zeros((n, k, t))
    for i, s, year, c, p in records:
        cs[i, s, year_col[year]] += c
        ps[i, s, year_col[year]] += p

    present = np.zeros(n, dtype=bool)
    present[[r[0] for r in records]] = True
    missing = int((~present).sum())
    if missing:
        first = where.ids[int(np.flatnonzero(~present)[0])]
        log.warning("%s: %d location(s) of %s have no rows (e.g. '%s'); they count zero cases "
                    "and zero population", file, missing, where.file, first)

    keys = sorted(stratum_col, key=stratum_col.get)
    case_strata, pop_strata = cs.sum(axis=2), ps.sum(axis=2)
    cases = case_strata.sum(axis=1)
    kwargs: dict = {}
    if model == "bernoulli" or not strata:
        kwargs["population"] = pop_strata.sum(axis=1)
    else:
        kwargs.update(case_strata=case_strata, population_strata=pop_strata,
                      strata_names=["|".join(key) for key in keys])

    yearly_rate = None   # expected cases per unit of a row's population, by stratum
    if reference_rates is not None:
        rates = read_reference_rates(reference_rates, strata=strata, rate_column=rate_column)
        _check_rates_cover(rates, keys, strata, stratum_line, file, str(reference_rates))
        rate = np.array([rates[key][0] for key in keys]) / rate_per
        expected_external = (pop_strata @ rate) * (1.0 if has_year else float(years))
        kwargs.update(expected=expected_external, expected_kind="reference-rates")
        yearly_rate = rate
    elif model == "poisson":
        # the study area's own stratum rates, pooled over the years: the rates of
        # scan.data.indirect_expected, so yearly expected counts add up to the area's
        c_k, p_k = case_strata.sum(axis=0), pop_strata.sum(axis=0)
        yearly_rate = np.divide(c_k, p_k, out=np.zeros(k), where=p_k > 0)
    else:
        total = pop_strata.sum()
        yearly_rate = np.full(k, cases.sum() / total if total > 0 else 0.0)

    yearly = None
    if has_year:
        yearly = YearlyCounts(years=year_values, cases=cs.sum(axis=1).astype(np.int64),
                              population=ps.sum(axis=1),
                              expected=np.einsum("ikt,k->it", ps, yearly_rate))
        for arr in (yearly.years, yearly.cases, yearly.population, yearly.expected):
            arr.setflags(write=False)
    return study_area(np.array(where.ids, dtype=str), where.x, where.y, cases, model=model,
                      coordinates=coordinates, crs=crs, project_to=project_to, source=file,
                      names=where.names, yearly=yearly, **kwargs)


def _duplicate_row(loc, key, year, first_line, header, strata, reserved, file, line):
    what = f"location '{loc}'" + (f", stratum {_describe(strata, key)}" if strata else "")
    what += f", year {year}" if year is not None else ""
    message = (f"{what} already has a row on line {first_line}; give one row per location"
               + (" and stratum" if strata else "") + (" and year" if year is not None else ""))
    others = [h for h in header if h not in strata and h not in reserved.values()]
    if others:
        message += (f" (if {', '.join(repr(h) for h in others)} "
                    f"{'is a stratum column' if len(others) == 1 else 'are stratum columns'}, "
                    "name it in strata=, CLI --strata)")
    fields = [reserved["id"], *strata] + ([reserved["year"]] if year is not None else [])
    return ScanInputError(message, file=file, line=line, field=",".join(fields))


def _check_rates_cover(rates, keys, strata, stratum_line, file, rates_file) -> None:
    """Every stratum of the cases has a rate; the message names the first row of a stratum
    without one and, when one column's value is unknown to the rates file, that column."""
    for key in keys:
        if key in rates:
            continue
        line = stratum_line[key]
        for j, s in enumerate(strata):
            known = sorted({r[j] for r in rates})
            if key[j] not in known:
                shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
                raise ScanInputError(
                    f"{key[j]!r} is not a value of '{s}' in the reference rates file "
                    f"{rates_file} (values there: {shown})", file=file, line=line, field=s)
        raise ScanInputError(f"stratum {_describe(strata, key)} has no rate in the reference "
                             f"rates file {rates_file}; add a row for it", file=file, line=line,
                             field=",".join(strata))
