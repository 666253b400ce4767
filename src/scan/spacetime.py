"""Space-time scans (SaTScan's space-time family): retrospective and prospective space-time
Poisson (Kulldorff 1998, 2001), space-time permutation (Kulldorff 2005) and the purely temporal
Poisson scan.

Data flow: records (a long CSV, SaTScan files or the embedded borough) -> :class:`SpaceTimeData`
(cases and expected counts by location × time interval) -> :func:`spacetime_scan`, which reuses
the spatial windows (:func:`scan.windows.build_windows`), the seeding scheme and backends of
:mod:`scan.montecarlo`, and the result types of :mod:`scan.result`.

SaTScan's conventions, followed here:

- **Time intervals** are counted back from the end of the study period: boundaries at
  ``end + 1 day - k × length`` aggregation units (calendar months and years, with SaTScan's
  month-end rule, :func:`shift_back`).  When the study period is not a whole number of
  intervals, the remainder joins the FIRST interval, which is longer than the others (never
  shorter), as SaTScan 9+ does (``CSaTScanData::SetIntervalStartTimes``).
- **Maximum temporal window**: a fraction of the study period (default 0.5) gives
  ``floor(floor(study length in units × fraction) / aggregation length)`` intervals (weeks are
  counted as days, a week interval being 7 days long, as SaTScan has no week unit); a length in
  aggregation units gives ``floor(max_temporal_length / aggregation length)``.  The minimum is 1
  interval.
- **Populations** at census times: a year means 1 July, a year/month the 15th, a full date that
  day; linear between census days, constant before the first and after the last.  The expected
  count of a location in an interval is proportional to the integral of its population over the
  interval (person-days), covariate-adjusted by indirect standardisation:
  ``e[n, t] = sum_s risk_s × pop[n, t, s]`` with ``risk_s = cases_s / person-days_s``, so the
  expected counts sum to the total cases.
- **Space-time permutation**: ``mu[z, d] = C_z × C_d / C``; the null permutes the cases'
  intervals among the cases, keeping both margins.
- **Statistic**: the Poisson LLR for every model; a high-rate cylinder needs ``c > e`` and at
  least ``min_cases`` (2) cases.  Prospective analyses keep only cylinders that end at the last
  interval, for the observed data and the replicates alike.
- **Secondary clusters**: no geographical overlap (SaTScan's default): the best cylinder of each
  centre, most likely first, kept when it shares no location with a kept one (whatever the
  time windows).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from .data import DEFAULT_CRS, LocationTotals, check_coordinates
from .errors import ScanInputError, ScanParameterError, check_choice
from .montecarlo import Backend, Progress, SpaceTimeNullProblem  # noqa: F401
from .windows import Windows

log = logging.getLogger(__name__)

Model = Literal["poisson", "permutation"]
Analysis = Literal["retrospective", "prospective", "temporal"]
TimeUnit = Literal["day", "week", "month", "year"]
TIME_UNITS = ("day", "week", "month", "year")
ANALYSIS_NAMES = {"retrospective": "retrospective space-time",
                  "prospective": "prospective space-time", "temporal": "purely temporal"}
DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12.0, "year": 365.25}
"""Days in one aggregation unit, for recurrence intervals (SaTScan's 365.25-day year)."""


# ============================================================================ time intervals
def _ymd(day: np.datetime64) -> tuple[int, int, int]:
    y, m, d = str(np.datetime64(day, "D")).split("-")
    return int(y), int(m), int(d)


def _days_in_month(y: int, m: int) -> int:
    first = np.datetime64(f"{y:04d}-{m:02d}", "M")
    return int(((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]"))
               .astype(np.int64))


def _date(y: int, m: int, d: int) -> np.datetime64:
    return np.datetime64(f"{y:04d}-{m:02d}-{d:02d}", "D")


def shift_back(day: np.datetime64, unit: str, k: int) -> np.datetime64:
    """``day`` moved back by k units as SaTScan's ``DecrementableEndDate`` does.

    Days and weeks: 1 or 7 days a unit.  Months and years are calendar units keeping the day of
    the month; when ``day`` is the last day of its month (or later than the 28th) the target day
    is 31 (29 for 29 February; else that day), and a month too short for it rolls over to the
    first day of the following month (from 31 March one month back is 1 March, two months back
    31 January).
    """
    day = np.datetime64(day, "D")
    if unit in ("day", "week"):
        return day - k * (7 if unit == "week" else 1)
    y, m, d = _ymd(day)
    total = y * 12 + (m - 1) - k * (12 if unit == "year" else 1)
    y2, m2 = divmod(total, 12)
    m2 += 1
    n2 = _days_in_month(y2, m2)
    if d == _days_in_month(y, m):
        target = 29 if (m == 2 and d == 29) else 31
    elif d > 28:
        target = d
    else:
        return _date(y2, m2, d)
    if target > n2:
        return _date(y2, m2, n2) + 1
    return _date(y2, m2, target)


def time_intervals(start, end, unit: TimeUnit = "day", length: int = 1):
    """The analysis intervals of the study period [start, end] (inclusive days).

    Boundaries are ``end + 1 - k × length`` units, k = 1, 2, ..., counted back from the end while
    they are not before ``start``; the part of the period before the earliest boundary joins the
    first interval, so the first interval is the longer one.

    Returns (starts, ends): datetime64[D] arrays, ``ends`` inclusive.
    """
    check_choice("time_aggregation", unit, TIME_UNITS)
    start, end = np.datetime64(start, "D"), np.datetime64(end, "D")
    if end < start:
        raise ScanParameterError("start/end", "a study period that starts before it ends",
                                 (str(start), str(end)))
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ScanParameterError("aggregation_length", "a whole number >= 1", length)
    bounds = [end + 1]
    k = 1
    while True:
        b = shift_back(end + 1, unit, k * int(length))
        if b < start:
            break
        bounds.append(b)
        k += 1
    if bounds[-1] > start:          # a short remainder: merge it into the first interval
        if len(bounds) > 1:
            bounds[-1] = start
        else:
            bounds.append(start)
    bounds = np.array(bounds[::-1], dtype="datetime64[D]")
    return bounds[:-1], bounds[1:] - 1


def study_length_in_units(start, end, unit: TimeUnit) -> float:
    """Length of [start, end] in units, as SaTScan's ``CalculateNumberOfTimeIntervals``: whole
    units counted back from ``end + 1`` (:func:`shift_back`) plus the fraction left at the
    start (in days of the start's year or month); days for "day" and "week"."""
    start, end = np.datetime64(start, "D"), np.datetime64(end, "D")
    if unit in ("day", "week"):
        return float((end + 1 - start).astype(np.int64))
    n, k = 0.0, 1
    b = shift_back(end + 1, unit, k)
    while b > start:
        n += 1
        k += 1
        b = shift_back(end + 1, unit, k)
    if b == start:
        return n + 1
    y, m, _ = _ymd(start)
    size = (366 if _days_in_month(y, 2) == 29 else 365) if unit == "year" else _days_in_month(y, m)
    return n + (size - float((start - b).astype(np.int64))) / size


def max_temporal_intervals(start, end, unit: TimeUnit, length: int, n_intervals: int, *,
                           fraction: float | None = 0.5, max_length: float | None = None) -> int:
    """SaTScan's maximum temporal window, in intervals (see the module docstring)."""
    if max_length is not None:
        if not (max_length >= 1 and np.isfinite(max_length)):
            raise ScanParameterError("max_temporal_length", f"a number of {unit}s >= 1",
                                     max_length)
        n = int(math.floor(max_length / length + 1e-9))
        name, value = "max_temporal_length", max_length
    else:
        if fraction is None or not (0.0 < fraction <= 0.9):
            raise ScanParameterError("max_temporal_fraction", "in (0, 0.9]", fraction,
                                     "SaTScan's default is 0.5 (50% of the study period)")
        units = math.floor(study_length_in_units(start, end, unit) * fraction + 1e-9)
        n = int(units // (length * (7 if unit == "week" else 1)))
        name, value = "max_temporal_fraction", fraction
    if n < 1:
        raise ScanParameterError(name, "large enough for at least one whole interval", value,
                                 f"the aggregation interval is {length} {unit}(s)")
    return min(n, n_intervals)


def interval_person_time(census_days: np.ndarray, values: np.ndarray, starts: np.ndarray,
                         ends: np.ndarray) -> np.ndarray:
    """Integral (person-days) of each row's population over each interval.

    ``census_days``: m sorted distinct days; ``values``: (rows, m) populations on them.  The
    population is linear between census days and constant outside them; the integral over the
    days [s, e] runs from the start of day s to the end of day e (trapezoids between knots).
    Returns (rows, n_intervals).
    """
    days = np.asarray(census_days, dtype="datetime64[D]").astype(np.int64).astype(np.float64)
    values = np.asarray(values, dtype=np.float64)
    lo_all = starts.astype(np.int64).astype(np.float64)
    hi_all = ends.astype(np.int64).astype(np.float64) + 1.0
    eye = np.eye(len(days))
    out = np.empty((values.shape[0], len(starts)))
    for t, (lo, hi) in enumerate(zip(lo_all, hi_all)):
        knots = np.concatenate([[lo], days[(days > lo) & (days < hi)], [hi]])
        weights = np.column_stack([np.interp(knots, days, eye[j]) for j in range(len(days))])
        at = values @ weights.T
        out[:, t] = (0.5 * (at[:, 1:] + at[:, :-1]) * np.diff(knots)).sum(axis=1)
    return out


# ============================================================================ data
@dataclass(frozen=True, eq=False)
class SpaceTimeData(LocationTotals):
    """Cases and expected counts by location × time interval, validated.

    ids (n,), coords (n, 2) (x, y; longitude, latitude for latlong), coordinates, crs;
    interval_starts / interval_ends (T,) datetime64[D] (ends inclusive); time_unit and
    aggregation_length; study_start / study_end; cases (n, T) int64; expected (n, T) float64
    summing to the total cases, or None for case-only data (space-time permutation only);
    population (n,) float64 time-averaged population (zeros when unknown).
    """

    ids: np.ndarray
    coords: np.ndarray
    cases: np.ndarray
    expected: np.ndarray | None
    population: np.ndarray
    interval_starts: np.ndarray
    interval_ends: np.ndarray
    time_unit: str
    aggregation_length: int
    coordinates: str = "cartesian"
    crs: str | None = DEFAULT_CRS
    source: str = "<arrays>"
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def n_intervals(self) -> int:
        return self.cases.shape[1]

    @property
    def study_start(self) -> np.datetime64:
        return self.interval_starts[0]

    @property
    def study_end(self) -> np.datetime64:
        return self.interval_ends[-1]

    def model_expected(self, model: str) -> np.ndarray:
        """Expected counts (n, T) for ``model`` (:meth:`scan.models.Model.cell_expected`)."""
        from . import models

        return models.get(model, "spacetime").cell_expected(self)

    def measure(self, model: str) -> np.ndarray:
        """Per-location weights for the circles' size cap (SaTScan's "population at risk"):
        the expected counts over the study period, i.e. the cases for the permutation model."""
        return self.model_expected(model).sum(axis=1)

    def to_dataframe(self):
        """One row per location: totals over the study period."""
        import pandas as pd

        x_name, y_name = ("lon", "lat") if self.coordinates == "latlong" else ("x", "y")
        expected = (self.expected if self.expected is not None
                    else self.model_expected("permutation"))
        return pd.DataFrame({"id": self.ids, x_name: self.coords[:, 0], y_name: self.coords[:, 1],
                             "cases": self.cases.sum(axis=1), "population": self.population,
                             "expected": expected.sum(axis=1)})


def _interval_index(days: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return np.searchsorted(starts, days, side="right") - 1


def build_spacetime_data(ids, coords, *, case_loc, case_day, case_count, start, end,
                         time_unit: TimeUnit, aggregation_length: int = 1, case_stratum=None,
                         census_loc=None, census_day=None, census_value=None,
                         census_stratum=None, n_strata: int = 1,
                         coordinates: str = "cartesian", crs: str | None = DEFAULT_CRS,
                         source: str = "<arrays>", strata_names=()) -> SpaceTimeData:
    """Aggregate case records and census records into a :class:`SpaceTimeData`.

    Case records: location index, day (datetime64[D]) and count, optional stratum index.
    Census records (optional; without them the data are case-only): location index, census day
    (already the instant the census refers to), population, optional stratum index.  Expected
    counts follow the module docstring's rules.  Records outside [start, end] are errors.
    """
    ids = np.asarray([str(v) for v in ids])
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    n = len(ids)
    check_coordinates(coords, ids, coordinates, crs if coordinates == "cartesian" else None,
                      source)
    starts, ends = time_intervals(start, end, time_unit, aggregation_length)
    T = len(starts)
    case_day = np.asarray(case_day, dtype="datetime64[D]")
    outside = (case_day < starts[0]) | (case_day > ends[-1])
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ScanInputError(f"case date {case_day[i]} is outside the study period "
                             f"{starts[0]} to {ends[-1]}; widen the study period (start/end) or "
                             "remove the record", file=source, field="time")
    t_of = _interval_index(case_day, starts, ends)
    case_loc = np.asarray(case_loc, dtype=np.int64)
    case_count = np.asarray(case_count, dtype=np.int64)
    s_of = (np.zeros(len(case_loc), dtype=np.int64) if case_stratum is None
            else np.asarray(case_stratum, dtype=np.int64))
    cases_s = np.zeros((n, T, n_strata), dtype=np.int64)
    np.add.at(cases_s, (case_loc, t_of, s_of), case_count)
    cases = cases_s.sum(axis=2)
    total = int(cases.sum())
    if total <= 0:
        raise ScanInputError("the total number of cases in the study period is zero; there is "
                             "nothing to scan", file=source, field="cases")
    expected = None
    population = np.zeros(n)
    if census_loc is not None and len(census_loc) > 0:
        cday = np.asarray(census_day, dtype="datetime64[D]")
        days, col = np.unique(cday, return_inverse=True)
        c_loc = np.asarray(census_loc, dtype=np.int64)
        c_s = (np.zeros(len(c_loc), dtype=np.int64) if census_stratum is None
               else np.asarray(census_stratum, dtype=np.int64))
        values = np.zeros((n * n_strata, len(days)))   # zero where no record, as SaTScan
        np.add.at(values, (c_loc * n_strata + c_s, col.ravel()),
                  np.asarray(census_value, dtype=np.float64))
        pt = interval_person_time(days, values, starts, ends).reshape(n, n_strata, T)
        pt_s = pt.sum(axis=(0, 2))
        c_s_tot = cases_s.sum(axis=(0, 1)).astype(np.float64)
        empty = (pt_s <= 0) & (c_s_tot > 0)
        if empty.any():
            k = int(np.flatnonzero(empty)[0])
            name = strata_names[k] if k < len(strata_names) else str(k)
            raise ScanInputError(f"covariate stratum '{name}' has cases but no population",
                                 file=source, field="population")
        risk = np.divide(c_s_tot, pt_s, out=np.zeros_like(pt_s), where=pt_s > 0)
        expected = np.einsum("nst,s->nt", pt, risk)
        days_total = float((ends[-1] + 1 - starts[0]).astype(np.int64))
        population = pt.sum(axis=(1, 2)) / days_total
        zero = (expected.sum(axis=1) <= 0) & (cases.sum(axis=1) > 0)
        if zero.any():
            i = int(np.flatnonzero(zero)[0])
            raise ScanInputError(f"location '{ids[i]}' has cases but no population in the study "
                                 "period; check its population records", file=source,
                                 field="population")
    for arr in (ids, coords, cases, population, starts, ends):
        arr.setflags(write=False)
    if expected is not None:
        expected.setflags(write=False)
    return SpaceTimeData(ids=ids, coords=coords, cases=cases, expected=expected,
                         population=population, interval_starts=starts, interval_ends=ends,
                         time_unit=time_unit, aggregation_length=int(aggregation_length),
                         coordinates=coordinates,
                         crs=crs if coordinates == "cartesian" else "EPSG:4326", source=source,
                         extra={"strata_names": tuple(strata_names)})


# ---------------------------------------------------------------------------- readers
_MAX_READ_INTERVALS = 100_000
"""Most time intervals a reader builds: far more than any real analysis (274 years of days); a
study period that long is a typo in a date, reported with the records it came from."""


def _census_instants(days: np.ndarray, precision: np.ndarray) -> np.ndarray:
    from .io.satscan import census_instant

    return census_instant(days, precision)


def _check_time_options(time_aggregation, aggregation_length) -> None:
    if time_aggregation is not None:
        check_choice("time_aggregation", time_aggregation, TIME_UNITS)
    if not (isinstance(aggregation_length, (int, np.integer))
            and not isinstance(aggregation_length, bool)
            and 1 <= aggregation_length <= _MAX_READ_INTERVALS):
        raise ScanParameterError("aggregation_length",
                                 f"a whole number from 1 to {_MAX_READ_INTERVALS:,}",
                                 aggregation_length, "the number of time units in one interval")


def _check_reader_period(start, end, unit: str, length: int, file: str, where: str) -> None:
    """A study period the interval builder can handle: not inverted, no more than
    ``_MAX_READ_INTERVALS`` intervals, and intervals no longer than the period."""
    if end < start:
        raise ScanParameterError("start/end", "a study period that starts before it ends",
                                 (str(start), str(end)))
    days = float((np.datetime64(end, "D") + 1 - np.datetime64(start, "D")).astype(np.int64))
    per_unit = DAYS_PER_UNIT[unit]
    n = days / (per_unit * length)
    if n > _MAX_READ_INTERVALS:
        raise ScanInputError(
            f"the study period {start} to {end} holds about {n:,.0f} intervals of {length} "
            f"{unit}(s), more than the {_MAX_READ_INTERVALS:,} scan builds; {where}check the "
            "dates for a typo, or aggregate by a longer time unit (time_aggregation)",
            file=file)
    units = max(1, math.ceil(days / per_unit - 1e-9))
    if length > units:
        raise ScanParameterError(
            "aggregation_length", f"at most the length of the study period ({units} {unit}(s), "
            f"{start} to {end})", length, "use a shorter aggregation interval")


def _check_person_time(values, lines, start, end, file: str) -> None:
    """Census values whose person-time over the study period a float can hold (the expected
    counts divide the cases by it)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return
    days = float((np.datetime64(end, "D") + 1 - np.datetime64(start, "D")).astype(np.int64))
    with np.errstate(over="ignore"):
        summed = float(values.sum())
        total = summed * days
    if not total < 1e300:
        i = int(np.argmax(values))
        where = f" on line {lines[i]}" if lines is not None else ""
        what = (f"their total ({summed:.3g}) times the {days:,.0f} days of the study period "
                "(person-days) overflows a float" if np.isfinite(summed)
                else "they add up to more than a float can hold (1.8e308)")
        raise ScanInputError(f"the population values are too large: {what}; check the values "
                             f"(largest: {values[i]:.3g}{where})", file=file, field="population")


def _record_span(days: np.ndarray, lines, file: str) -> str:
    """'earliest ... on FILE line N, latest ... on line M; ' for messages about the period."""
    if len(days) == 0:
        return ""
    i, j = int(np.argmin(days)), int(np.argmax(days))
    return (f"the earliest record is {days[i]} on line {lines[i]} and the latest {days[j]} on "
            f"line {lines[j]} of {file}; ")


def read_spacetime_csv(path, *, time_aggregation: TimeUnit | None = None,
                       aggregation_length: int = 1,
                       start=None, end=None, coordinates: str = "cartesian",
                       crs: str | None = DEFAULT_CRS) -> SpaceTimeData:
    """Read a long CSV with columns ``id,x,y,time,cases[,population]``.

    ``time`` is an ISO date (``2023-01-02``), a year/month (``2023-01``) or a year (``2023``).
    Each row's cases fall in the interval holding the first day of its time.  ``population``
    (optional; without it only the space-time permutation model applies) is a census value at
    that time: a year means 1 July, a year/month the 15th, a date that day (SaTScan's rule);
    the population is interpolated linearly between census times and held constant outside.
    An empty population cell means no census value on that row.
    x, y must be the same on every row of an id.  ``start``/``end`` default to the span of the
    times: from the earliest time to the end of the last aggregation interval, counting
    intervals from the latest time (``--time-aggregation week`` with weekly rows dated by their
    first day ends six days after the latest date; month and year end with the calendar month or
    year of the latest time).  For latlong, x is longitude and y latitude.
    ``time_aggregation`` defaults to the precision of the times: "year" when every time is a
    year, "month" when they are year/months, else "day".

    The file is read as :func:`scan.read_csv` reads: UTF-8 (or UTF-16 with a byte-order mark),
    ids without surrounding spaces, plain decimal numbers (no ``1_000``, ``nan`` or ``inf``),
    no duplicated column names, cases at most 2,147,483,647 per row and in total; a record
    outside ``start``/``end`` is reported with its line.
    """
    from .data import MAX_COUNT
    from .io.csv import column_indices, parse_amount, parse_count, parse_number
    from .io.satscan import _as_period_bound, parse_date
    from .io.text import csv_rows

    check_choice("coordinates", coordinates, ("cartesian", "latlong"))
    _check_time_options(time_aggregation, aggregation_length)
    s = _as_period_bound(start, end=False)
    e = _as_period_bound(end, end=True)
    if s is not None and e is not None and e < s:
        raise ScanParameterError("start/end", "a study period that starts before it ends",
                                 (str(s), str(e)))
    file = str(path)
    expected_header = "id,x,y,time,cases[,population]"
    records = ((line, row) for line, row in csv_rows(path, what="CSV file")
               if any(v.strip() for v in row))
    header_line, header = next(records, (1, None))
    if header is None:
        raise ScanInputError(f"the file is empty; expected a header row {expected_header}",
                             file=file, line=1)
    names = [h.strip() for h in header]
    missing = [c for c in ("id", "x", "y", "time", "cases") if c not in names]
    if missing:
        raise ScanInputError(f"missing column(s) {', '.join(missing)}; expected "
                             f"{expected_header}; columns found: {', '.join(names)}", file=file,
                             line=header_line)
    col = column_indices(header, file, {c: c for c in ("id", "x", "y", "time", "cases")},
                         {"population": "population"}, line=header_line)
    index: dict[str, int] = {}
    coords, first_line = [], []
    loc, days, precision, counts, lines, pops = [], [], [], [], [], []
    dates: dict[str, tuple] = {}        # each distinct time text is parsed once
    for line, row in records:
        if len(row) != len(header):
            raise ScanInputError(f"{len(row)} fields but the header has {len(header)}",
                                 file=file, line=line)
        name = row[col["id"]].strip()
        if name == "":
            raise ScanInputError("empty id", file=file, line=line, field="id")
        xy = tuple(parse_number(row[col[k]], file=file, line=line, field=k) for k in "xy")
        text = row[col["time"]].strip()
        if text not in dates:
            dates[text] = parse_date(text, file=file, line=line, field="time")
        count = parse_count(row[col["cases"]], file=file, line=line, field="cases",
                            maximum=MAX_COUNT)
        pop = np.nan
        if "population" in col and row[col["population"]].strip() != "":
            pop = parse_amount(row[col["population"]], file=file, line=line,
                               field="population")
        i = index.setdefault(name, len(index))
        if i == len(coords):
            coords.append(xy)
            first_line.append(line)
        elif coords[i] != xy:
            raise ScanInputError(f"location '{name}' has coordinates {xy} here but {coords[i]} "
                                 f"on line {first_line[i]}; give each id one x, y", file=file,
                                 line=line, field="x/y")
        loc.append(i)
        days.append(dates[text][0])
        precision.append(dates[text][1])
        counts.append(count)
        lines.append(line)
        pops.append(pop)
    if not loc:
        raise ScanInputError(f"no data rows after the header; expected rows of "
                             f"{expected_header}", file=file, line=header_line + 1)
    total = float(sum(counts))
    if total > MAX_COUNT:
        raise ScanInputError(f"the cases add up to {total:,.0f}, more than {MAX_COUNT:,}, the "
                             "largest total scan can hold (its kernels count in 32-bit "
                             "integers)", file=file, field="cases")
    ids = np.array(list(index), dtype=str)
    loc = np.array(loc, dtype=np.int64)
    days = np.array(days, dtype="datetime64[D]")
    precision = np.array(precision)
    if time_aggregation is None:
        time_aggregation = next(p for p in ("day", "month", "year") if (precision == p).any()) \
            if not (precision == precision[0]).all() else str(precision[0])
    span = _record_span(days, lines, file)
    if s is None:
        s = days.min()
    if e is None:
        e = _default_end(days.max(), precision[int(np.argmax(days))], time_aggregation,
                         aggregation_length)
    _check_reader_period(s, e, time_aggregation, aggregation_length, file,
                         span if start is None or end is None else "")
    outside = np.flatnonzero((days < s) | (days > e))
    if len(outside):
        i = int(outside[0])
        raise ScanInputError(f"case date {days[i]} is outside the study period {s} to {e}; "
                             "widen the study period (start/end) or remove the record",
                             file=file, line=lines[i], field="time")
    census = {}
    if "population" in col:
        pop = np.array(pops, dtype=np.float64)
        instants = _census_instants(days, precision)
        seen: dict[tuple[int, int], int] = {}       # one census value per location and time
        keep = []
        for r in np.flatnonzero(np.isfinite(pop)).tolist():
            key = (int(loc[r]), int(instants[r].astype(np.int64)))
            before = seen.setdefault(key, r)
            if before == r:
                keep.append(r)
            elif pop[before] != pop[r]:
                raise ScanInputError(
                    f"population {pop[r]:g} differs from {pop[before]:g} on line "
                    f"{lines[before]} for location '{ids[loc[r]]}' at the same time; give one "
                    "population per location and time", file=file, line=lines[r],
                    field="population")
        keep = np.array(keep, dtype=np.int64)
        _check_person_time(pop[keep], [lines[r] for r in keep.tolist()], s, e, file)
        census = dict(census_loc=loc[keep], census_day=instants[keep], census_value=pop[keep])
    return build_spacetime_data(ids, np.array(coords, dtype=np.float64).reshape(-1, 2),
                                case_loc=loc, case_day=days,
                                case_count=np.array(counts, dtype=np.int64),
                                start=s, end=e, time_unit=time_aggregation,
                                aggregation_length=aggregation_length, coordinates=coordinates,
                                crs=crs, source=file, **census)


def _default_end(last: np.datetime64, precision: str, unit: str, length: int) -> np.datetime64:
    """Last day of the study period when only the records say: the end of the period the latest
    time names, extended to a whole aggregation interval starting at it."""
    from .io.satscan import period_end

    end = period_end(last, precision)
    if unit in ("day", "week"):
        step = length * (7 if unit == "week" else 1)
        return max(end, last + step - 1)
    months = length * (12 if unit == "year" else 1)
    first = np.datetime64(last, "Y" if unit == "year" else "M")
    whole = (np.datetime64(first, "M") + months).astype("datetime64[D]") - 1
    return max(end, whole)


def satscan_spacetime_data(data, *, time_aggregation: TimeUnit, aggregation_length: int = 1,
                           crs: str | None = None) -> SpaceTimeData:
    """Space-time data from the raw SaTScan records of :func:`scan.io.satscan.read_satscan_data`.

    Every location of the .geo file is a location, in file order.  With a population file whose
    records carry covariates, each distinct covariate tuple is a stratum and the trailing
    columns of each case record must name one; expected counts are then adjusted by indirect
    standardisation over location × interval × stratum person-time.
    """
    from .data import MAX_COUNT

    check_choice("time_aggregation", time_aggregation, TIME_UNITS)
    _check_time_options(time_aggregation, aggregation_length)
    if data.cases.times is None:
        raise ScanInputError("the case file has no dates; a space-time analysis needs a date "
                             "on every case record", file=data.cases.file, field="date")
    total = int(data.cases.counts.sum())
    if total > MAX_COUNT:
        raise ScanInputError(f"the cases add up to {total:,}, more than {MAX_COUNT:,}, the "
                             "largest total scan can hold (its kernels count in 32-bit "
                             "integers)", file=data.cases.file, field="#cases")
    _check_reader_period(data.start, data.end, time_aggregation, aggregation_length,
                         data.cases.file, _record_span(data.cases.times,
                                                       data.cases.lines.tolist(),
                                                       data.cases.file))
    if data.population is not None:
        _check_person_time(data.population.populations, data.population.lines.tolist(),
                           data.start, data.end, data.population.file)
    geo = data.geo
    index = {loc: i for i, loc in enumerate(geo.ids.tolist())}
    strata: dict[tuple, int] = {}
    pop = data.population
    if pop is not None:
        for cov in pop.covariates:
            strata.setdefault(cov, len(strata))
    else:
        strata[()] = 0
    case_stratum = []
    for cov, line in zip(data.cases.covariates, data.cases.lines.tolist()):
        if pop is None:
            case_stratum.append(0)
            continue
        if cov not in strata:
            example = " ".join(next(iter(strata)))
            raise ScanInputError(f"covariates {' '.join(cov)!r} do not match any covariate "
                                 f"category of the population file (e.g. {example!r})",
                                 file=data.cases.file, line=line, field="covariates")
        case_stratum.append(strata[cov])
    census = {}
    if pop is not None:
        census = dict(census_loc=[index[v] for v in pop.ids.tolist()],
                      census_day=_census_instants(pop.times, pop.time_precision),
                      census_value=pop.populations,
                      census_stratum=[strata[c] for c in pop.covariates])
    return build_spacetime_data(
        geo.ids, geo.coords, case_loc=[index[v] for v in data.cases.ids.tolist()],
        case_day=data.cases.times, case_count=data.cases.counts, case_stratum=case_stratum,
        n_strata=len(strata), start=data.start, end=data.end, time_unit=time_aggregation,
        aggregation_length=aggregation_length, coordinates=geo.coordinates, crs=crs,
        source=data.cases.file, strata_names=["|".join(s) for s in strata], **census)


def read_satscan_spacetime(cas, *, geo, pop=None, coordinates: str = "cartesian", start=None,
                           end=None, time_aggregation: TimeUnit = "day",
                           aggregation_length: int = 1, crs: str | None = None) -> SpaceTimeData:
    """Read SaTScan .cas (with dates), .geo and optional .pop files into :class:`SpaceTimeData`.

    ``start``/``end``: the study period (SaTScan dates such as '1973/1/1'; a year as ``end``
    means its last day); by default the span of the case dates.
    """
    from .io.satscan import read_satscan_data

    data = read_satscan_data(cas, geo=geo, pop=pop, coordinates=coordinates, start=start,
                             end=end, dates=True)
    return satscan_spacetime_data(data, time_aggregation=time_aggregation,
                                  aggregation_length=aggregation_length, crs=crs)


_PRM_ANALYSES = {"retrospective space-time": "retrospective",
                 "prospective space-time": "prospective", "purely temporal": "temporal"}
_PRM_MODELS = {"poisson": "poisson", "space-time permutation": "permutation"}
_PRM_UNITS = {"year": "year", "month": "month", "day": "day"}


def satscan_prm_spacetime(prm, *, base_dir=None) -> tuple[SpaceTimeData, dict]:
    """Data and :func:`spacetime_scan` keyword arguments from a SaTScan parameter file.

    Honoured: the input files (relative to the .prm's folder, or ``base_dir``), CoordinatesType,
    StartDate/EndDate, AnalysisType (3 retrospective, 4 prospective space-time, 2 purely
    temporal), ModelType (0 Poisson, 2 space-time permutation), TimeAggregationUnits/Length,
    MaxSpatialSizeInPopulationAtRisk, UseDistanceFromCenterOption with
    MaxSpatialSizeInDistanceFromCenter, MaxTemporalSize with MaxTemporalSizeInterpretation,
    MinimumTemporalClusterSize, MinimumCasesInHighRateClusters and MonteCarloReps.  Settings
    that would change the analysis in ways not implemented (low rates, ellipses, adjustments,
    iterative scans, purely spatial/temporal clusters inside a space-time analysis, adjustment
    for earlier analyses, secondary-cluster criteria other than no overlap) raise
    ScanParameterError rather than being ignored.
    """
    import re

    from .io.satscan import _prm_entries, prm_settings, read_satscan_data
    from .io.text import unreadable_reason

    entries = _prm_entries(prm)
    if not entries:
        raise ScanInputError("no settings: a SaTScan parameter file holds 'Key=value' lines",
                             file=str(prm))
    raw = {key: value for key, (value, _) in entries.items()}
    s = prm_settings(prm)
    folder = Path(base_dir) if base_dir is not None else Path(prm).parent

    def line_of(key):
        return entries[key][1] if key in entries else None

    def unsupported(key, value, fix):
        raise ScanParameterError(f"{key} (in {prm})", "a setting scan implements", value, fix)

    analysis = _PRM_ANALYSES.get(s.get("AnalysisType"))
    if analysis is None:
        unsupported("AnalysisType", s.get("AnalysisType"), "use 2, 3 or 4")
    model = _PRM_MODELS.get(s.get("ModelType"))
    if model is None:
        unsupported("ModelType", s.get("ModelType"), "use 0 (Poisson) or 2 (space-time "
                    "permutation)")
    if s.get("ScanAreas", "high") != "high":
        unsupported("ScanAreas", s.get("ScanAreas"), "only high rates (1) are implemented")
    if s.get("SpatialWindowShapeType", "circular") != "circular":
        unsupported("SpatialWindowShapeType", "elliptic", "only circles (0) are implemented")
    for key in ("IncludePurelyTemporal", "IncludePurelySpatial", "IterativeScan"):
        if s.get(key):
            unsupported(key, "y", "set it to n")
    for key in ("TimeTrendAdjustmentType", "SpatialAdjustmentType"):
        if raw.get(key, "0") not in ("0", ""):
            unsupported(key, raw[key], "set it to 0 (no adjustment)")
    for key in ("AdjustForWeeklyTrends", "UseAdjustmentsByRRFile",
                "UseMaxCirclePopulationFileOption",
                "UseNeighborsFile", "UseMetaLocationsFile", "UseLocationsNetworkFile",
                "AdjustForEarlierAnalyses", "RiskLimitHighClusters"):
        if raw.get(key, "n").lower() == "y":
            unsupported(key, "y", "set it to n" + (
                " and pass n_earlier_analyses= for the recurrence interval"
                if key == "AdjustForEarlierAnalyses" else ""))
    if s.get("CriteriaForReportingSecondaryClusters", "no geographical overlap") \
            != "no geographical overlap":
        unsupported("CriteriaForReportingSecondaryClusters",
                    s["CriteriaForReportingSecondaryClusters"], "use 0 (no geographical overlap)")
    if raw.get("MultipleCoordinatesType", "0") not in ("0", ""):
        unsupported("MultipleCoordinatesType", raw["MultipleCoordinatesType"], "use 0")
    unit = _PRM_UNITS.get(s.get("TimeAggregationUnits"))
    if unit is None:
        unsupported("TimeAggregationUnits", s.get("TimeAggregationUnits"),
                    "use 1 (year), 2 (month) or 3 (day)")

    relative_to = "base_dir" if base_dir is not None else "the .prm's folder"

    def path(key, needed: str | None = None):
        """The input file a setting names, checked now so the message can name the setting."""
        name = s.get(key)
        if not name:
            if needed is None:
                return None
            raise ScanInputError(f"no {key} given: {needed}", file=str(prm), line=line_of(key),
                                 field=key)
        full = folder / name
        reason = unreadable_reason(full)
        if reason is not None:
            hint = ("; it looks like a Windows path: copy the file next to the .prm and give "
                    "its name" if "\\" in name or re.match(r"[A-Za-z]:", name) else "")
            raise ScanInputError(f"the file it names, {name!r}, {reason}; paths are relative to "
                                 f"{relative_to}{hint}", file=str(prm), line=line_of(key),
                                 field=key)
        return str(full)

    if model == "poisson" and not s.get("PopulationFile"):
        unsupported("PopulationFile", "", "the Poisson model needs a population file")
    cas = path("CaseFile", "a space-time analysis needs a case file")
    geo = path("CoordinatesFile", "a space-time analysis needs a coordinates file")
    pop = path("PopulationFile") if model == "poisson" else None
    time_size = s.get("MaxTemporalSize", 50)
    if s.get("MaxTemporalSizeInterpretation", "percentage") == "time":
        if time_size < 1:
            raise ScanInputError(f"{raw['MaxTemporalSize']!r} is out of range: with "
                                 "MaxTemporalSizeInterpretation=1 it is a number of time units, "
                                 "at least 1", file=str(prm), line=line_of("MaxTemporalSize"),
                                 field="MaxTemporalSize")
    elif time_size > 90:
        raise ScanInputError(f"{raw['MaxTemporalSize']!r} is out of range: as a percentage of "
                             "the study period it is at most 90", file=str(prm),
                             line=line_of("MaxTemporalSize"), field="MaxTemporalSize")
    data = read_satscan_data(cas, geo=geo, pop=pop,
                             coordinates=s.get("CoordinatesType", "cartesian"),
                             start=s.get("StartDate"), end=s.get("EndDate"), dates=True)
    st = satscan_spacetime_data(data, time_aggregation=unit,
                                aggregation_length=s.get("TimeAggregationLength", 1))
    kwargs: dict = dict(model=model, analysis=analysis,
                        max_population_fraction=s.get("MaxSpatialSizeInPopulationAtRisk", 50) / 100,
                        # SaTScan: ceil(minimum size in units / aggregation length) intervals
                        min_temporal_length=max(1, math.ceil(
                            s.get("MinimumTemporalClusterSize", 1)
                            / s.get("TimeAggregationLength", 1))),
                        min_cases=s.get("MinimumCasesInHighRateClusters", 2),
                        n_replications=s.get("MonteCarloReps", 999))
    if raw.get("UseDistanceFromCenterOption", "n").lower() == "y":
        if "MaxSpatialSizeInDistanceFromCenter" not in s:
            raise ScanInputError("UseDistanceFromCenterOption=y but there is no "
                                 "MaxSpatialSizeInDistanceFromCenter setting", file=str(prm),
                                 line=line_of("UseDistanceFromCenterOption"),
                                 field="MaxSpatialSizeInDistanceFromCenter")
        kwargs["max_radius"] = s["MaxSpatialSizeInDistanceFromCenter"]
    if s.get("MaxTemporalSizeInterpretation", "percentage") == "time":
        kwargs["max_temporal_length"] = time_size
    else:
        kwargs["max_temporal_fraction"] = time_size / 100
    return st, kwargs


def borough_spacetime(outcome: str = "flu_like", weeks: int = 52) -> SpaceTimeData:
    """The embedded borough's weekly counts (:func:`scan.datasets.borough_weekly`) as
    space-time data: weekly intervals, populations constant over time."""
    from .datasets import borough_weekly, load_borough

    df = borough_weekly(outcome, weeks)
    borough = load_borough()
    areas = borough.areas.set_index("id")
    ids = df["id"].drop_duplicates().to_numpy()
    index = {v: i for i, v in enumerate(ids)}
    loc = df["id"].map(index).to_numpy()
    days = df["week_start"].to_numpy().astype("datetime64[D]")
    pops = df.groupby("id", sort=False)["population"].first().reindex(ids).to_numpy(float)
    return build_spacetime_data(
        ids, areas.loc[ids, ["x", "y"]].to_numpy(float), case_loc=loc, case_day=days,
        case_count=df["cases"].to_numpy(), start=days.min(), end=days.max() + 6,
        time_unit="week", census_loc=np.arange(len(ids)),
        census_day=np.full(len(ids), days.min()), census_value=pops,
        crs=borough.crs, source=f"borough_weekly({outcome!r}, {weeks})")


# ============================================================================ the scan
def _prefix(a: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def recurrence_interval(p_value: float, time_unit: str, aggregation_length: int = 1,
                        n_analyses: int = 1) -> float:
    """SaTScan's recurrence interval in days: ``D / adjP`` with ``D`` the aggregation interval
    in days (a year is 365.25 days, a month 365.25 / 12) and ``adjP = 1 - (1 - p)^(1/A)`` for A
    analyses in all (A = 1: ``adjP = p``)."""
    A = max(int(n_analyses), 1)
    adj = p_value if A == 1 else -math.expm1(math.log1p(-p_value) / A) if p_value < 1 else 1.0
    return DAYS_PER_UNIT[time_unit] * aggregation_length / adj


@dataclass(frozen=True, eq=False)
class SpaceTimeAnalysis:
    """A space-time (or purely temporal) scan's data and kernels, for
    :func:`scan.pipeline.run`.  ``cases``/``expected`` are the scanned tables: the data's, or
    for the purely temporal scan their sums over the whole area (one location)."""

    data: SpaceTimeData
    model: "models.Model"
    analysis: str
    cases: np.ndarray          # (n, T) float64
    expected: np.ndarray       # (n, T) float64
    min_len: int
    max_len: int
    min_cases: int
    n_earlier_analyses: int

    @property
    def name(self) -> str:
        return ANALYSIS_NAMES[self.analysis]

    @property
    def whole_area(self) -> bool:
        return self.analysis == "temporal"

    @property
    def total_cases(self) -> float:
        return float(self.cases.sum())

    @property
    def first_end(self) -> int:
        """Earliest end interval of a window: the last one for prospective analyses."""
        return self.data.n_intervals if self.analysis == "prospective" else self.min_len

    def observed(self, windows: Windows) -> "Candidates":
        from . import _st_kernels as SK
        from .pipeline import Candidates

        n = windows.n_rows
        llr, size = np.zeros(n), np.zeros(n, dtype=np.int64)
        t1, t2 = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        SK.best_cylinder_per_centre(windows.offsets, windows.neighbors, _prefix(self.cases),
                                    _prefix(self.expected), self.total_cases, self.min_len,
                                    self.max_len, self.first_end, self.min_cases, llr, size,
                                    t1, t2)
        return Candidates(llr=llr, size=size, t1=t1, t2=t2)

    def null_problem(self, windows: Windows, entropy: int):
        from . import _st_kernels as SK
        from ._random import alias_table
        from .montecarlo import SpaceTimeNullProblem

        T = self.data.n_intervals
        if self.model.null == "permutation":
            flat = self.data.cases.astype(np.int64).ravel()
            cells = np.repeat(np.arange(flat.size), flat)
            case_loc, case_time = cells // T, cells % T
            prob, alias = np.ones(1), np.zeros(1, dtype=np.int64)
            null_kind = SK.PERMUTATION
        else:
            prob, alias = alias_table(self.expected.ravel())
            case_loc = case_time = np.zeros(0, dtype=np.int64)
            null_kind = SK.MULTINOMIAL
        return SpaceTimeNullProblem(
            offsets=windows.offsets, neighbors=windows.neighbors,
            cum_expected=_prefix(self.expected), total_cases=self.total_cases,
            min_len=self.min_len, max_len=self.max_len, first_end=self.first_end,
            min_cases=self.min_cases, null_kind=null_kind, prob=prob, alias=alias,
            case_loc=np.ascontiguousarray(case_loc, dtype=np.int64),
            case_time=np.ascontiguousarray(case_time, dtype=np.int64), entropy=entropy)

    def members(self, windows: Windows, row: int, size: int) -> np.ndarray:
        if self.whole_area:
            return np.arange(self.data.n_locations)
        return windows.members(row, size)

    def counts(self, members: np.ndarray, time_window) -> tuple[float, float]:
        t1, t2 = time_window
        full = self.model.cell_expected(self.data)
        return (float(self.data.cases[members, t1:t2].sum()),
                float(full[members, t1:t2].sum()))

    def cluster_fields(self, time_window, p_value: float) -> dict:
        t1, t2 = time_window
        data = self.data
        ri = (recurrence_interval(p_value, data.time_unit, data.aggregation_length,
                                  self.n_earlier_analyses + 1)
              if self.analysis == "prospective" else None)
        return {"start": str(data.interval_starts[t1]), "end": str(data.interval_ends[t2 - 1]),
                "recurrence_interval": ri}

    def n_time_windows(self) -> int:
        T = self.data.n_intervals
        return sum(1 for t2 in range(max(self.first_end, self.min_len), T + 1)
                   for _ in range(self.min_len, min(self.max_len, t2) + 1))


def spacetime_scan(data: SpaceTimeData, *, model: Model = "poisson",
                   analysis: Analysis = "retrospective", max_temporal_fraction: float = 0.5,
                   max_temporal_length: float | None = None, min_temporal_length: int = 1,
                   max_population_fraction: float = 0.5, max_radius: float | None = None,
                   min_cases: int = 2, n_earlier_analyses: int = 0, n_replications: int = 999,
                   rng=None, backend: Backend = "threads", threads: int | None = None,
                   scheduler: str | None = None, n_workers: int = 2,
                   block_size: int | None = None, client=None,
                   progress: Progress | None = None, secondary: str = "no-overlap"):
    """Space-time (or purely temporal) scan for high rates with Monte Carlo inference.

    Parameters
    ----------
    data : SpaceTimeData
        Cases and expected counts by location x time interval (:func:`read_spacetime_csv`,
        :func:`read_satscan_spacetime`, :func:`borough_spacetime`).
    model : {"poisson", "permutation"}
        "poisson" (expected counts from the population) or "permutation" (space-time
        permutation, case-only; expected ``C_z C_t / C``).
    analysis : {"retrospective", "prospective", "temporal"}
        "retrospective" (every time window), "prospective" (windows ending at the last
        interval: "alive" clusters) or "temporal" (purely temporal: the whole area, Poisson).
    max_temporal_fraction : float
        Largest time window as a share of the study period (default 0.5); ignored when
        ``max_temporal_length`` (in aggregation units) is given.
    min_temporal_length : int
        Shortest time window in intervals (default 1).
    max_population_fraction : float
        Largest share of the population at risk in a circle (default 0.5); the measure is the
        expected count over the study period (Poisson) or the cases (permutation), as in SaTScan.
    max_radius : float, optional
        Largest radius (coordinate units; km for latlong).
    min_cases : int
        Fewest cases in a high-rate cluster (default 2).
    n_earlier_analyses : int
        For prospective analyses, the number of earlier analyses in the surveillance (A - 1 in
        the recurrence interval); the p-value itself is not adjusted.
    n_replications, rng, backend, threads, scheduler, n_workers, block_size, client, progress,
    secondary
        As for :func:`scan.circular_scan`.

    Returns
    -------
    ScanResult
        Clusters carry ``start`` and ``end`` (first and last day of the time window) and, when
        prospective, ``recurrence_interval`` in days.  p-values are ``(1 + number of replicate
        maxima >= the cluster's LLR) / (R + 1)``.

    Examples
    --------
    >>> import scan
    >>> data = scan.borough_spacetime("flu_like")                           # doctest: +SKIP
    >>> result = scan.spacetime_scan(data, model="permutation", analysis="prospective",
    ...                              max_temporal_length=4, rng=1)          # doctest: +SKIP
    >>> result.most_likely.start, result.most_likely.recurrence_interval    # doctest: +SKIP
    """
    from . import models
    from .montecarlo import normalise_seed
    from .params import check_all
    from .pipeline import run
    from .windows import Windows, build_windows

    if not isinstance(data, SpaceTimeData):
        raise ScanParameterError("data", "a SpaceTimeData", type(data).__name__,
                                 "build it with read_spacetime_csv, read_satscan_spacetime or "
                                 "borough_spacetime")
    p = check_all(dict(model=model, analysis=analysis,
                       max_temporal_fraction=max_temporal_fraction,
                       max_temporal_length=max_temporal_length,
                       min_temporal_length=min_temporal_length,
                       max_population_fraction=max_population_fraction, max_radius=max_radius,
                       min_cases=min_cases, n_earlier_analyses=n_earlier_analyses,
                       n_replications=n_replications, backend=backend, threads=threads,
                       scheduler=scheduler, n_workers=n_workers, block_size=block_size),
                  choices={"model": models.models_for("spacetime")})
    if analysis == "temporal" and model != "poisson":
        raise ScanParameterError("model", "'poisson' for a purely temporal analysis", model,
                                 "the space-time permutation model needs a spatial dimension")
    m = models.get(model, "spacetime")
    seed = normalise_seed(rng)
    t0 = time.perf_counter()
    T = data.n_intervals
    max_len = max_temporal_intervals(data.study_start, data.study_end, data.time_unit,
                                     data.aggregation_length, T,
                                     fraction=p["max_temporal_fraction"],
                                     max_length=p["max_temporal_length"])
    if p["min_temporal_length"] > max_len:
        raise ScanParameterError("min_temporal_length", f"at most the maximum temporal window "
                                 f"({max_len} intervals)", min_temporal_length)
    expected = np.ascontiguousarray(m.cell_expected(data), dtype=np.float64)
    cases = np.ascontiguousarray(data.cases, dtype=np.float64)
    if analysis == "temporal":     # the whole area is one location, scanned in one window
        expected = expected.sum(axis=0, keepdims=True)
        cases = cases.sum(axis=0, keepdims=True)
        windows = Windows.single([0])
    else:
        windows = build_windows(data.coords, expected.sum(axis=1), coordinates=data.coordinates,
                                max_population_fraction=p["max_population_fraction"],
                                max_radius=p["max_radius"])
    st = SpaceTimeAnalysis(data=data, model=m, analysis=analysis, cases=cases,
                           expected=expected, min_len=p["min_temporal_length"],
                           max_len=int(max_len), min_cases=p["min_cases"],
                           n_earlier_analyses=p["n_earlier_analyses"])
    timings = {"windows_s": time.perf_counter() - t0}
    parameters = {
        "analysis": st.name, "model": model, "direction": "high",
        "max_population_fraction": (p["max_population_fraction"] if analysis != "temporal"
                                    else 1.0),
        "max_radius": p["max_radius"], "max_temporal_fraction": p["max_temporal_fraction"],
        "max_temporal_length": p["max_temporal_length"], "max_temporal_intervals": int(max_len),
        "min_temporal_length": p["min_temporal_length"],
        "time_aggregation": data.time_unit, "aggregation_length": data.aggregation_length,
        "study_start": str(data.study_start), "study_end": str(data.study_end),
        "n_intervals": int(T), "n_replications": p["n_replications"],
        "min_cases": p["min_cases"], "n_earlier_analyses": p["n_earlier_analyses"],
        "n_windows": int(windows.n_windows) * st.n_time_windows(),
    }
    return run(st, windows, n_replications=p["n_replications"], seed=seed,
               parameters=parameters, secondary=secondary, backend=backend, threads=threads,
               progress=progress, timings=timings,
               dask_options=dict(scheduler=scheduler, n_workers=p["n_workers"],
                                 block_size=block_size, client=client))
