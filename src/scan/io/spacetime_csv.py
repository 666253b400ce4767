"""Read space-time data from a long CSV: one row per location and time, ``id,x,y,time,cases``
and an optional ``population`` (census values)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data import DEFAULT_CRS, MAX_COUNT, SpaceTimeData, build_spacetime_data
from ..errors import ScanInputError, ScanParameterError, check_choice
from ..timeline import (TimeUnit, _as_period_bound,
                        census_instant, check_person_time, check_reader_period,
                        check_time_options, parse_date, period_end, record_span)
from .csv import column_indices, parse_amount, parse_count, parse_number
from .text import csv_rows


def read_spacetime_csv(path, *, time_aggregation: TimeUnit | None = None,
                       aggregation_length: int = 1,
                       start=None, end=None, coordinates: str = "cartesian",
                       crs: str | None = DEFAULT_CRS, strata: Sequence[str] = ()
                       ) -> SpaceTimeData:
    """Read a long CSV with columns ``id,x,y,time,cases[,population]``.

    ``strata`` names covariate columns (e.g. ``("sex", "age")``): each distinct combination of
    their values is a stratum, a row's cases and population are that stratum's, and the data
    keep the cases by stratum (``cases_by_stratum``): the space-time permutation model then
    adjusts for them as SaTScan does for case-file covariates, and Poisson expected counts are
    standardised indirectly over the strata.

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
    check_choice("coordinates", coordinates, ("cartesian", "latlong"))
    check_time_options(time_aggregation, aggregation_length)
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
    if isinstance(strata, str):
        raise ScanParameterError("strata", "a sequence of column names, e.g. ('sex', 'age')",
                                 strata, f"pass ({strata!r},)")
    strata = tuple(str(c) for c in strata)
    reserved = {"id", "x", "y", "time", "cases", "population"}
    if len(set(strata)) != len(strata) or reserved & set(strata):
        raise ScanParameterError("strata", "distinct column names other than id, x, y, time, "
                                 "cases and population", strata)
    col = column_indices(header, file, {**{c: c for c in ("id", "x", "y", "time", "cases")},
                                        **{f"stratum {c}": c for c in strata}},
                         {"population": "population"}, line=header_line)
    stratum_index: dict[tuple[str, ...], int] = {}
    stratum_of = []
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
        key = tuple(row[col[f"stratum {c}"]].strip() for c in strata)
        if strata and any(v == "" for v in key):
            empty = strata[[v == "" for v in key].index(True)]
            raise ScanInputError(f"empty {empty}", file=file, line=line, field=empty)
        stratum_of.append(stratum_index.setdefault(key, len(stratum_index)))
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
    span = record_span(days, lines, file)
    if s is None:
        s = days.min()
    if e is None:
        e = _default_end(days.max(), precision[int(np.argmax(days))], time_aggregation,
                         aggregation_length)
    check_reader_period(s, e, time_aggregation, aggregation_length, file,
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
        instants = census_instant(days, precision)
        seen: dict[tuple[int, int, int], int] = {}  # one census value per location, stratum
        keep = []                                    # and time
        for r in np.flatnonzero(np.isfinite(pop)).tolist():
            key = (int(loc[r]), stratum_of[r], int(instants[r].astype(np.int64)))
            before = seen.setdefault(key, r)
            if before == r:
                keep.append(r)
            elif pop[before] != pop[r]:
                raise ScanInputError(
                    f"population {pop[r]:g} differs from {pop[before]:g} on line "
                    f"{lines[before]} for location '{ids[loc[r]]}' at the same time; give one "
                    "population per location and time" + (" and stratum" if strata else ""),
                    file=file, line=lines[r],
                    field="population")
        keep = np.array(keep, dtype=np.int64)
        check_person_time(pop[keep], [lines[r] for r in keep.tolist()], s, e, file)
        census = dict(census_loc=loc[keep], census_day=instants[keep], census_value=pop[keep],
                      census_stratum=np.array(stratum_of, dtype=np.int64)[keep])
    names = ["|".join(k) for k in stratum_index] if strata else []
    return build_spacetime_data(ids, np.array(coords, dtype=np.float64).reshape(-1, 2),
                                case_loc=loc, case_day=days,
                                case_count=np.array(counts, dtype=np.int64),
                                start=s, end=e, time_unit=time_aggregation,
                                aggregation_length=aggregation_length, coordinates=coordinates,
                                crs=crs, source=file, case_stratum=np.array(stratum_of,
                                                                            dtype=np.int64),
                                n_strata=max(1, len(stratum_index)), strata_names=names,
                                **census)


def _default_end(last: np.datetime64, precision: str, unit: str, length: int) -> np.datetime64:
    """Last day of the study period when only the records say: the end of the period the latest
    time names, extended to a whole aggregation interval starting at it."""
    end = period_end(last, precision)
    if unit in ("day", "week"):
        step = length * (7 if unit == "week" else 1)
        return max(end, last + step - 1)
    months = length * (12 if unit == "year" else 1)
    first = np.datetime64(last, "Y" if unit == "year" else "M")
    whole = (np.datetime64(first, "M") + months).astype("datetime64[D]") - 1
    return max(end, whole)
