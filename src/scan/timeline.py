"""Time: SaTScan's dates, the analysis intervals of a study period, and person-time.

Shared by every reader that meets dates (the space-time CSV, SaTScan's files and parameter
files) and by the space-time scan:

- **Dates** (:func:`parse_date`): ``YYYY/MM/DD``, ``YYYY/MM`` or ``YYYY`` (separators
  ``/ - . *``; ``MM/DD/YYYY`` and ``MM/YYYY`` recognised by their four-digit last part, as
  SaTScan does), each kept as the first day of the period it names and its precision.  Two-digit
  years follow SaTScan's rule (see :func:`parse_date`).
- **Intervals** (:func:`time_intervals`): counted back from the end of the study period,
  boundaries at ``end + 1 day - k x length`` aggregation units (calendar months and years with
  SaTScan's month-end rule, :func:`shift_back`); the remainder joins the FIRST interval, which
  is longer than the others (SaTScan 9+, ``CSaTScanData::SetIntervalStartTimes``).
- **Maximum temporal window** (:func:`max_temporal_intervals`): a fraction of the study period
  gives ``floor(floor(study length in units x fraction) / aggregation length)`` intervals (weeks
  counted as days, SaTScan having no week unit); a length in units gives
  ``floor(max_temporal_length / aggregation length)``; at least 1.
- **Populations** at census times (:func:`census_instant`): a year means 1 July, a year/month
  the 15th, a date that day; linear between census days, constant outside them.  Person-time is
  the integral of that curve (:func:`interval_person_time`, :func:`time_averaged_population`).
"""
from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np

from .errors import ScanInputError, ScanParameterError, check_choice

TimeUnit = Literal["day", "week", "month", "year"]
TIME_UNITS = ("day", "week", "month", "year")
DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12.0, "year": 365.25}
"""Days in one aggregation unit, for recurrence intervals (SaTScan's 365.25-day year)."""
PRECISIONS = ("year", "month", "day")
_DATE = re.compile(r"[0-9]+(?:[/\-.*][0-9]+){0,2}")


# ============================================================================ dates
class StudyPeriod(tuple):
    """(start, end) of a study period, with a note saying where it came from when it was not
    given (used in messages: a two-digit year judged against a period taken from the data)."""

    origin: str = ""

    def __new__(cls, start, end, origin: str = ""):
        self = super().__new__(cls, (start, end))
        self.origin = origin
        return self


def _resolve_year(year: int, period: tuple | None, text: str, file: str, line: int,
                  field: str) -> int:
    """SaTScan's rule for two-digit years (see the module docstring)."""
    if year > 99:
        return year
    if period is None:
        return 1900 + year
    low, high = (int(str(np.datetime64(p, "Y"))) for p in period[:2])
    origin = getattr(period, "origin", "")
    origin = f" ({origin})" if origin else ""
    if low // 100 == high // 100:
        return (low // 100) * 100 + year
    if high - low >= 100:
        raise ScanInputError(f"two-digit year in {text!r} is ambiguous: the study period "
                             f"{period[0]} to {period[1]}{origin} spans more than 99 years; "
                             "write four-digit years", file=file, line=line, field=field)
    if year >= low % 100:
        return (low // 100) * 100 + year
    if year <= high % 100:
        return (high // 100) * 100 + year
    raise ScanInputError(f"two-digit year in {text!r} falls outside the study period "
                         f"{period[0]} to {period[1]}{origin}; write four-digit years",
                         file=file, line=line, field=field)


def parse_date(text: str, *, file: str = "<date>", line: int | None = None,
               field: str = "date", period: tuple | None = None) -> tuple[np.datetime64, str]:
    """Parse a SaTScan date to (first day of the period it names, precision).

    ``YYYY`` -> ("YYYY-01-01", "year"), ``YYYY/MM`` -> ("YYYY-MM-01", "month"),
    ``YYYY/MM/DD`` -> (that day, "day"); ``MM/YYYY`` and ``MM/DD/YYYY`` also work.
    ``period`` (start, end) resolves two-digit years.  Years run from 1 to 9999; digits are
    ASCII.
    """
    def bad(why: str) -> ScanInputError:
        return ScanInputError(f"{text!r} is not a date ({why}); write YYYY/MM/DD, YYYY/MM or "
                              "YYYY", file=file, line=line, field=field)

    if not _DATE.fullmatch(text):
        raise bad("expected digits separated by '/'")
    pieces = re.split(r"[/\-.*]", text)
    if max(len(p) for p in pieces) > 4:
        raise bad("a part has more than four digits")
    parts = [int(p) for p in pieces]
    precision = PRECISIONS[len(parts) - 1]
    year_piece = pieces[0]
    if len(parts) > 1 and parts[-1] > 999:          # MM/YYYY or MM/DD/YYYY
        parts = parts[-1:] + parts[:-1]
        year_piece = pieces[-1]
    # a year written with three or four digits is taken as written ("0073" is not "73")
    year = (parts[0] if len(year_piece) > 2
            else _resolve_year(parts[0], period, text, file, line or 0, field))
    if year < 1:
        raise bad("year 0 does not exist")
    month, day = (parts[1:] + [1, 1])[:2]
    if not 1 <= month <= 12:
        raise bad(f"month {month} is not 1-12")
    try:
        value = np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")
    except ValueError:
        raise bad(f"day {day} does not exist in {year:04d}/{month:02d}") from None
    return value, precision


def period_end(time: np.datetime64, precision: str) -> np.datetime64:
    """The last day of the period a date names (1991, "year" -> 1991-12-31)."""
    unit = {"year": "Y", "month": "M", "day": "D"}[precision]
    return (np.datetime64(time, unit) + 1).astype("datetime64[D]") - 1


def _as_period_bound(value, *, end: bool) -> np.datetime64 | None:
    """A study-period bound from a SaTScan date string, a date or a datetime64."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            day, precision = parse_date(value, field="start" if not end else "end")
        except ScanInputError as exc:
            raise ScanParameterError("end" if end else "start", "a date such as '1973/1/1'",
                                     value, str(exc)) from None
        return period_end(day, precision) if end else day
    return np.datetime64(value, "D")


# ============================================================================ intervals
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


# ============================================================================ person-time
def census_instant(time: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """The day a census record refers to: July 1 for a year, the 15th for a month, else the day
    written (SaTScan's convention for population dates)."""
    time = np.asarray(time, dtype="datetime64[D]")
    july = (time.astype("datetime64[Y]").astype("datetime64[M]") + 6).astype("datetime64[D]")
    out = np.where(precision == "year", july, time)
    return np.where(precision == "month", time + 14, out)


def _hat_weights(days: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(m,) weights w with ``values @ w`` the integral over [lo, hi) (days as floats) of the
    curve linear between the m census days and constant outside them: the trapezoid weights of
    the knots, each split between the two census days around it (O(knots + m) memory)."""
    knots = np.concatenate([[lo], days[(days > lo) & (days < hi)], [hi]])
    widths = np.diff(knots)
    trapezoid = np.zeros(len(knots))
    trapezoid[:-1] += 0.5 * widths
    trapezoid[1:] += 0.5 * widths
    x = np.clip(knots, days[0], days[-1])
    right = np.minimum(np.searchsorted(days, x, side="left"), len(days) - 1)
    left = np.maximum(right - 1, 0)
    span = days[right] - days[left]
    frac = np.divide(x - days[left], span, out=np.ones_like(x), where=span > 0)
    w = np.zeros(len(days))
    np.add.at(w, left, trapezoid * (1.0 - frac))
    np.add.at(w, right, trapezoid * frac)
    return w


def _day_numbers(days) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]").astype(np.int64).astype(np.float64)


def interval_person_time(census_days: np.ndarray, values: np.ndarray, starts: np.ndarray,
                         ends: np.ndarray) -> np.ndarray:
    """Integral (person-days) of each row's population over each interval.

    ``census_days``: m sorted distinct days; ``values``: (rows, m) populations on them.  The
    population is linear between census days and constant outside them; the integral over the
    days [s, e] runs from the start of day s to the end of day e.  Returns (rows, n_intervals).
    """
    days = _day_numbers(census_days)
    values = np.asarray(values, dtype=np.float64)
    lo_all, hi_all = _day_numbers(starts), _day_numbers(ends) + 1.0
    weights = np.column_stack([_hat_weights(days, lo, hi) for lo, hi in zip(lo_all, hi_all)]) \
        if len(lo_all) else np.zeros((len(days), 0))
    return values @ weights


def time_averaged_population(census_days: np.ndarray, values: np.ndarray,
                             start: np.datetime64, end: np.datetime64) -> np.ndarray:
    """Average over the days [start, end] of populations interpolated between census days
    (:func:`interval_person_time` over one interval, divided by its length in days)."""
    days = _day_numbers(census_days)
    lo, hi = float(_day_numbers([start])[0]), float(_day_numbers([end])[0]) + 1.0
    # weights normalised first: no overflow for huge values
    return np.asarray(values, dtype=np.float64) @ (_hat_weights(days, lo, hi) / (hi - lo))


# ============================================================================ reader guards
MAX_READ_INTERVALS = 100_000
"""Most time intervals a reader builds: far more than any real analysis (274 years of days); a
study period that long is a typo in a date, reported with the records it came from."""


def check_time_options(time_aggregation, aggregation_length) -> None:
    if time_aggregation is not None:
        check_choice("time_aggregation", time_aggregation, TIME_UNITS)
    if not (isinstance(aggregation_length, (int, np.integer))
            and not isinstance(aggregation_length, bool)
            and 1 <= aggregation_length <= MAX_READ_INTERVALS):
        raise ScanParameterError("aggregation_length",
                                 f"a whole number from 1 to {MAX_READ_INTERVALS:,}",
                                 aggregation_length, "the number of time units in one interval")


def check_reader_period(start, end, unit: str, length: int, file: str, where: str) -> None:
    """A study period the interval builder can handle: not inverted, no more than
    ``MAX_READ_INTERVALS`` intervals, and intervals no longer than the period."""
    if end < start:
        raise ScanParameterError("start/end", "a study period that starts before it ends",
                                 (str(start), str(end)))
    days = float((np.datetime64(end, "D") + 1 - np.datetime64(start, "D")).astype(np.int64))
    per_unit = DAYS_PER_UNIT[unit]
    n = days / (per_unit * length)
    if n > MAX_READ_INTERVALS:
        raise ScanInputError(
            f"the study period {start} to {end} holds about {n:,.0f} intervals of {length} "
            f"{unit}(s), more than the {MAX_READ_INTERVALS:,} scan builds; {where}check the "
            "dates for a typo, or aggregate by a longer time unit (time_aggregation)",
            file=file)
    units = max(1, math.ceil(days / per_unit - 1e-9))
    if length > units:
        raise ScanParameterError(
            "aggregation_length", f"at most the length of the study period ({units} {unit}(s), "
            f"{start} to {end})", length, "use a shorter aggregation interval")


def check_person_time(values, lines, start, end, file: str) -> None:
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


def record_span(days: np.ndarray, lines, file: str) -> str:
    """'earliest ... on FILE line N, latest ... on line M; ' for messages about the period."""
    if len(days) == 0:
        return ""
    i, j = int(np.argmin(days)), int(np.argmax(days))
    return (f"the earliest record is {days[i]} on line {lines[i]} and the latest {days[j]} on "
            f"line {lines[j]} of {file}; ")
