"""Read SaTScan's own input files (.cas, .ctl, .pop, .geo) and parameter files (.prm).

File formats (whitespace separated, one record per line; blank lines are skipped; there is no
comment syntax in SaTScan data files):

- case file ``.cas``:        ``<location id> <#cases> [<date>] [<covariate> ...]``
- control file ``.ctl``:     ``<location id> <#controls> [<date>]``
- population file ``.pop``:  ``<location id> <date> <population> [<covariate> ...]``;
  populations at one or more census times, not necessarily whole numbers;
- coordinates file ``.geo``: ``<location id> <x> <y>`` (Cartesian) or
  ``<location id> <latitude> <longitude>`` (LATITUDE FIRST, as SaTScan writes them).  A
  :class:`~scan.data.StudyArea` holds ``x = longitude, y = latitude``; the swap happens here.

Dates are ``YYYY/MM/DD``, ``YYYY/MM`` or ``YYYY`` (separators ``/ - . *``; ``MM/DD/YYYY`` and
``MM/YYYY`` are recognised by their four-digit last part, as SaTScan does).  Each record keeps
the first day of the period it names (``1977`` -> 1977-01-01, ``2001/11`` -> 2001-11-01) as
``datetime64[D]`` and its precision ("year", "month", "day") so later code can aggregate.
Two-digit years (``73`` in the sample ``nm.pop``) follow SaTScan's rule: with a study period
whose start and end are in the same century, that century; across a century boundary, the
lower century when the year is at least the start's last two digits, else the upper century
when it is at most the end's; with no study period known, the 1900s.  A year written with three
or four digits is taken as written.  When the study period was taken from the case dates, a
message about a two-digit year names the case records that set it (a typo such as 2077 in the
.cas is then found there, not in the .pop).

Safety (the same rules as the CSV readers): every file is read through
:func:`scan.io.text.read_text` (missing, folder, unreadable, binary, non-UTF-8 files are one
:class:`~scan.errors.ScanInputError`; UTF-16 with a byte-order mark is decoded); all the files
of an analysis are checked before any is parsed; numbers are plain ASCII decimals (no
``1_000``, ``nan``, ``inf``); cases are at most 2,147,483,647 per record, per location and in
total; populations are 0 or between 1e-100 and a total a float can hold.

:func:`read_satscan_data` returns the raw record tables (:class:`SatscanData`) for space-time
work; :func:`read_satscan` aggregates them to a purely spatial :class:`~scan.data.StudyArea`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..data import MAX_COUNT, MAX_EXACT, SpaceTimeData, StudyArea, build_spacetime_data, study_area
from ..errors import ScanInputError, ScanParameterError, check_choice
from ..timeline import (TIME_UNITS, StudyPeriod, TimeUnit, _as_period_bound, census_instant,
                        check_person_time, check_reader_period, check_time_options, parse_date,
                        period_end, record_span, time_averaged_population)
from .csv import parse_amount, parse_count, parse_number
from .text import check_readable, numbered_lines

Coordinates = Literal["cartesian", "latlong"]


# ----------------------------------------------------------------------------- record tables
@dataclass(frozen=True, eq=False)
class CountRecords:
    """The records of a case or control file, one entry per line that holds data.

    ``times`` and ``time_precision`` are None when the file has no date column; ``times`` is
    the first day of the period written (datetime64[D]).  ``covariates`` holds one tuple of
    strings per record (empty tuples when there are none).  ``lines`` are 1-based file lines.
    """

    file: str
    ids: np.ndarray
    counts: np.ndarray
    times: np.ndarray | None
    time_precision: np.ndarray | None
    covariates: tuple[tuple[str, ...], ...]
    lines: np.ndarray


@dataclass(frozen=True, eq=False)
class PopulationRecords:
    """The records of a population file: location, census time, population, covariates."""

    file: str
    ids: np.ndarray
    times: np.ndarray
    time_precision: np.ndarray
    populations: np.ndarray
    covariates: tuple[tuple[str, ...], ...]
    lines: np.ndarray


@dataclass(frozen=True, eq=False)
class GeoRecords:
    """The records of a coordinates file; ``coords`` is (x, y), i.e. (longitude, latitude)."""

    file: str
    ids: np.ndarray
    coords: np.ndarray
    lines: np.ndarray
    coordinates: Coordinates


@dataclass(frozen=True, eq=False)
class SatscanData:
    """Everything read from a set of SaTScan input files, not yet aggregated.

    ``start`` and ``end`` are the study period (inclusive days) when known: given by the
    caller, or the span of the case dates.
    """

    cases: CountRecords
    geo: GeoRecords
    population: PopulationRecords | None = None
    controls: CountRecords | None = None
    start: np.datetime64 | None = None
    end: np.datetime64 | None = None


# ----------------------------------------------------------------------------- low-level parsing
Records = list  # of (1-based line number, whitespace-split fields), blank lines left out


def _records(path, what: str = "input file") -> Records:
    """(1-based line number, whitespace-split fields) for every non-blank line, read once."""
    return [(number, fields) for number, text in numbered_lines(path, what=what)
            if (fields := text.split())]


def _check_width(fields: list[str], width: int, layout: str, file: str, line: int) -> None:
    if len(fields) != width:
        raise ScanInputError(f"{len(fields)} columns but expected {width} ({layout})",
                             file=file, line=line)


# ----------------------------------------------------------------------------- file readers
_ROLES = {"cases": "case file", "controls": "control file", "population": "population file",
          "geo": "coordinates file"}


def read_counts(path, *, kind: Literal["cases", "controls"] = "cases",
                dates: bool | None = None, n_covariates: int | None = None,
                period: tuple | None = None) -> CountRecords:
    """Read a .cas or .ctl file.

    ``dates`` says whether the third column is a date.  None infers it: with ``n_covariates``
    known (from the population file) from the number of columns (2 + k without a date,
    3 + k with one); otherwise a third column is taken to be a date.  All records must have
    the same number of columns as the first.  Counts must be whole numbers >= 0, cases at most
    2,147,483,647 (:data:`scan.data.MAX_COUNT`) per record.
    """
    return _counts_from(_records(path, _ROLES[kind]), str(path), kind=kind, dates=dates,
                        n_covariates=n_covariates, period=period)


def _counts_from(records: Records, file: str, *, kind: str, dates: bool | None,
                 n_covariates: int | None, period: tuple | None) -> CountRecords:
    if not records:
        raise ScanInputError(f"no records; expected '<location id> <#{kind}> [<date>]'",
                             file=file)
    first_line, first = records[0]
    width = len(first)
    if dates is None:
        if n_covariates is not None:
            extra = width - 2 - n_covariates
            if extra not in (0, 1):
                raise ScanInputError(
                    f"{width} columns, but with {n_covariates} covariates in the population "
                    f"file expected {2 + n_covariates} (without a date) or {3 + n_covariates} "
                    "(with a date)", file=file, line=first_line)
            dates = extra == 1
        else:
            dates = width >= 3
    if width < 2 + dates:
        raise ScanInputError(f"{width} columns but expected at least {2 + dates} "
                             f"(location id, #{kind}{', date' if dates else ''})", file=file,
                             line=first_line)
    layout = f"location id, #{kind}" + (", date" if dates else "") + (
        f", {width - 2 - dates} covariates" if width > 2 + dates else "")
    maximum = MAX_COUNT if kind == "cases" else MAX_EXACT
    ids, counts, times, precision, covariates, lines = [], [], [], [], [], []
    for line, fields in records:
        _check_width(fields, width, layout, file, line)
        ids.append(fields[0])
        counts.append(parse_count(fields[1], file=file, line=line, field=f"#{kind}",
                                  maximum=maximum))
        if dates:
            day, prec = parse_date(fields[2], file=file, line=line, field="date", period=period)
            times.append(day)
            precision.append(prec)
        covariates.append(tuple(fields[2 + dates:]))
        lines.append(line)
    return CountRecords(
        file=file, ids=np.array(ids, dtype=str), counts=np.array(counts, dtype=np.int64),
        times=np.array(times, dtype="datetime64[D]") if dates else None,
        time_precision=np.array(precision, dtype=str) if dates else None,
        covariates=tuple(covariates), lines=np.array(lines, dtype=np.int64))


def read_population(path, *, period: tuple | None = None) -> PopulationRecords:
    """Read a .pop file: ``<location id> <date> <population> [<covariate> ...]``.

    Populations must be finite and >= 0; they need not be whole numbers.  Every record must
    have the same number of covariates as the first.
    """
    return _population_from(_records(path, _ROLES["population"]), str(path), period=period)


def _population_from(records: Records, file: str, *, period: tuple | None) -> PopulationRecords:
    if not records:
        raise ScanInputError("no records; expected '<location id> <date> <population> "
                             "[<covariate> ...]'", file=file)
    width = len(records[0][1])
    layout = "location id, date, population" + (
        f", {width - 3} covariates" if width > 3 else "")
    ids, times, precision, pops, covariates, lines = [], [], [], [], [], []
    for line, fields in records:
        if width < 3:
            _check_width(fields, 3, layout, file, line)
        _check_width(fields, width, layout, file, line)
        ids.append(fields[0])
        day, prec = parse_date(fields[1], file=file, line=line, field="date", period=period)
        times.append(day)
        precision.append(prec)
        pops.append(parse_amount(fields[2], file=file, line=line, field="population"))
        covariates.append(tuple(fields[3:]))
        lines.append(line)
    return PopulationRecords(
        file=file, ids=np.array(ids, dtype=str), times=np.array(times, dtype="datetime64[D]"),
        time_precision=np.array(precision, dtype=str),
        populations=np.array(pops, dtype=np.float64), covariates=tuple(covariates),
        lines=np.array(lines, dtype=np.int64))


def read_geo(path, *, coordinates: Coordinates = "cartesian") -> GeoRecords:
    """Read a .geo file.  Latlong files hold ``<id> <latitude> <longitude>``; the result's
    ``coords`` are (longitude, latitude).  Ids must be unique; latitude in [-90, 90] and
    longitude in [-180, 180]."""
    check_choice("coordinates", coordinates, ("cartesian", "latlong"))
    file = str(path)
    latlong = coordinates == "latlong"
    names = ("latitude", "longitude") if latlong else ("x", "y")
    layout = "location id, " + ", ".join(names)
    ids, coords, lines = [], [], []
    first: dict[str, int] = {}
    for line, fields in _records(path, _ROLES["geo"]):
        _check_width(fields, 3, layout, file, line)
        loc = fields[0]
        if loc in first:
            raise ScanInputError(f"location id '{loc}' already appears on line {first[loc]}; "
                                 "each location needs exactly one coordinate record",
                                 file=file, line=line, field="location id")
        first[loc] = line
        a, b = (parse_number(v, file=file, line=line, field=n) for v, n in zip(fields[1:], names))
        if latlong:
            if not -90 <= a <= 90:
                raise ScanInputError(f"latitude {a:g} is outside [-90, 90]; SaTScan files give "
                                     "latitude first, then longitude", file=file, line=line,
                                     field="latitude")
            if not -180 <= b <= 180:
                raise ScanInputError(f"longitude {b:g} is outside [-180, 180]", file=file,
                                     line=line, field="longitude")
            a, b = b, a
        ids.append(loc)
        coords.append((a, b))
        lines.append(line)
    if not ids:
        raise ScanInputError(f"no records; expected '<location id> {' '.join(names)}'", file=file)
    return GeoRecords(file=file, ids=np.array(ids, dtype=str),
                      coords=np.array(coords, dtype=np.float64).reshape(-1, 2),
                      lines=np.array(lines, dtype=np.int64), coordinates=coordinates)


def _check_known_ids(records, geo: GeoRecords) -> None:
    known = set(geo.ids.tolist())
    for loc, line in zip(records.ids.tolist(), records.lines.tolist()):
        if loc not in known:
            raise ScanInputError(f"location id '{loc}' is not in the coordinates file "
                                 f"{geo.file}; add it there or correct the id",
                                 file=records.file, line=line, field="location id")


def _case_span(cases: CountRecords) -> tuple[np.datetime64, np.datetime64] | None:
    if cases.times is None or len(cases.times) == 0:
        return None
    last = int(np.argmax(cases.times))
    return cases.times.min(), period_end(cases.times[last], cases.time_precision[last])


def _check_in_period(records: CountRecords, start, end) -> None:
    if records.times is None or start is None or end is None:
        return
    outside = (records.times < start) | (records.times > end)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ScanInputError(f"date {records.times[i]} is outside the study period {start} to "
                             f"{end}; widen the study period or remove the record",
                             file=records.file, line=int(records.lines[i]), field="date")


def _period_origin(cases: CountRecords, start_given: bool, end_given: bool) -> str:
    """Where an inferred study period came from, for messages that judge dates against it."""
    if start_given and end_given or cases.times is None or len(cases.times) == 0:
        return ""
    said = []
    for given, pick, word in ((start_given, np.argmin, "earliest"),
                              (end_given, np.argmax, "latest")):
        if not given:
            i = int(pick(cases.times))
            said.append(f"{word} {cases.times[i]} on {cases.file} line {cases.lines[i]}")
    return f"from the case dates: {', '.join(said)}; check them or pass start/end"


def read_satscan_data(cas, *, geo, pop=None, ctl=None, coordinates: Coordinates = "cartesian",
                      start=None, end=None, dates: bool | None = None) -> SatscanData:
    """Read SaTScan input files into raw record tables, checking ids against the .geo file.

    ``start``/``end`` bound the study period (SaTScan date strings such as '1973/1/1' or
    '1991', dates, or datetime64; a year as ``end`` means its last day).  Case and control
    dates outside it are errors (reported against the file and line of the record).  When not
    given they are the span of the case dates; a message that judges a date against such a
    period names the case records it came from.  ``dates`` forces whether the case/control
    files have a date column (see :func:`read_counts`).

    Every file is checked for existence and readability before any is parsed (see
    :mod:`scan.io.text` for the encodings read).
    """
    for path, kind in ((cas, "cases"), (geo, "geo"), (pop, "population"), (ctl, "controls")):
        if path is not None:
            check_readable(path, what=_ROLES[kind])
    if cas is None or geo is None:
        raise ScanParameterError("cas" if cas is None else "geo",
                                 "a file name (SaTScan CaseFile / CoordinatesFile)", None)
    start, end = _as_period_bound(start, end=False), _as_period_bound(end, end=True)
    start_given, end_given = start is not None, end is not None
    if start_given and end_given and start > end:
        raise ScanParameterError("start/end", "a study period that starts before it ends",
                                 (str(start), str(end)))
    given = StudyPeriod(start, end) if start_given and end_given else None
    pop_records = _records(pop, _ROLES["population"]) if pop is not None else None
    n_cov = max(len(pop_records[0][1]) - 3, 0) if pop_records else None
    cases = read_counts(cas, kind="cases", dates=dates, n_covariates=n_cov, period=given)
    span = _case_span(cases)
    if span is not None:
        start = span[0] if start is None else start
        end = span[1] if end is None else end
    _check_in_period(cases, start, end)
    period = None
    if start is not None and end is not None:
        period = StudyPeriod(start, end, _period_origin(cases, start_given, end_given))
    controls = None
    if ctl is not None:
        controls = read_counts(ctl, kind="controls", dates=cases.times is not None,
                               period=period)
        _check_in_period(controls, start, end)
    population = (_population_from(pop_records, str(pop), period=period)
                  if pop is not None else None)
    geo_records = read_geo(geo, coordinates=coordinates)
    for records in (cases, controls, population):
        if records is not None:
            _check_known_ids(records, geo_records)
    return SatscanData(cases=cases, geo=geo_records, population=population, controls=controls,
                       start=start, end=end)


# ----------------------------------------------------------------------------- aggregation
def _strata(population: PopulationRecords | None) -> list[tuple[str, ...]]:
    if population is None:
        return [()]
    seen: dict[tuple[str, ...], None] = {}
    for cov in population.covariates:
        seen.setdefault(cov, None)
    return list(seen)


def _case_covariate_strata(records: CountRecords) -> list[tuple[str, ...]]:
    """The covariate categories of a case file read without a population file (the space-time
    permutation model's covariates, SaTScan's extra case-file columns): every distinct tuple of
    the trailing columns, in order of first appearance."""
    seen: dict[tuple[str, ...], None] = {}
    for cov in records.covariates:
        seen.setdefault(cov, None)
    return list(seen) or [()]


def _case_stratum(records: CountRecords, strata: list[tuple[str, ...]]) -> list[int]:
    """The stratum (index into ``strata``) of every case record: its trailing covariate
    columns must name a covariate category of the population file."""
    col = {s: k for k, s in enumerate(strata)}
    if strata == [()]:
        return [0] * len(records.covariates)
    out = []
    for cov, line in zip(records.covariates, records.lines.tolist()):
        if cov not in col:
            raise ScanInputError(
                f"covariates {' '.join(cov)!r} do not match any covariate category of the "
                f"population file (e.g. {' '.join(strata[0])!r})", file=records.file,
                line=line, field="covariates")
        out.append(col[cov])
    return out


def _case_strata_matrix(records: CountRecords, index: dict[str, int],
                        strata: list[tuple[str, ...]]) -> np.ndarray:
    out = np.zeros((len(index), len(strata)), dtype=np.float64)
    rows = [index[loc] for loc in records.ids.tolist()]
    np.add.at(out, (rows, _case_stratum(records, strata)), records.counts)
    return out


def _population_strata_matrix(pop: PopulationRecords, index: dict[str, int],
                              strata: list[tuple[str, ...]], start, end) -> np.ndarray:
    census = census_instant(pop.times, pop.time_precision)
    days, day_col = np.unique(census, return_inverse=True)
    col = {s: k for k, s in enumerate(strata)}
    n, k = len(index), len(strata)
    values = np.zeros((n * k, len(days)), dtype=np.float64)   # zero where no record (SaTScan)
    rows = [index[loc] * k + col[cov] for loc, cov in zip(pop.ids.tolist(), pop.covariates)]
    np.add.at(values, (np.array(rows, dtype=np.int64), day_col.ravel()), pop.populations)
    return time_averaged_population(days, values, start, end).reshape(n, k)


def _default_period(data: SatscanData) -> tuple[np.datetime64, np.datetime64]:
    if data.start is not None and data.end is not None:
        return data.start, data.end
    pop = data.population
    first, last = int(np.argmin(pop.times)), int(np.argmax(pop.times))
    start = pop.times[first] if data.start is None else data.start
    end = period_end(pop.times[last], pop.time_precision[last]) if data.end is None else data.end
    return start, end


def _require_files(model: str, pop, ctl) -> None:
    check_choice("model", model, ("poisson", "bernoulli"))
    if model == "poisson" and pop is None:
        raise ScanParameterError("pop", "a population file for the Poisson model", None,
                                 "pass pop='file.pop' (SaTScan PopulationFile), or use "
                                 "model='bernoulli' with ctl='file.ctl'")
    if model == "bernoulli" and ctl is None:
        raise ScanParameterError("ctl", "a control file for the Bernoulli model", None,
                                 "pass ctl='file.ctl' (SaTScan ControlFile), or use "
                                 "model='poisson' with pop='file.pop'")


def spatial_study_area(data: SatscanData, *, model: Literal["poisson", "bernoulli"] = "poisson",
                       crs: str | None = None) -> StudyArea:
    """Aggregate raw SaTScan records to a purely spatial :class:`StudyArea` (see
    :func:`read_satscan` for the rules)."""
    _require_files(model, data.population, data.controls)
    geo = data.geo
    index = {loc: i for i, loc in enumerate(geo.ids.tolist())}
    n = len(index)
    cases = np.zeros(n, dtype=np.float64)
    np.add.at(cases, [index[v] for v in data.cases.ids.tolist()], data.cases.counts)
    kwargs: dict = {}
    if model == "bernoulli":
        controls = np.zeros(n, dtype=np.float64)
        np.add.at(controls, [index[v] for v in data.controls.ids.tolist()],
                  data.controls.counts)
        kwargs["population"] = cases + controls
    else:
        pop = data.population
        with np.errstate(over="ignore"):
            total = float(pop.populations.sum())
        if not np.isfinite(total):
            i = int(np.argmax(pop.populations))
            raise ScanInputError(
                f"the population values add up to more than a float can hold (1.8e308; the "
                f"largest is {pop.populations[i]:.6g} on line {pop.lines[i]}); check the values",
                file=pop.file, field="population")
        start, end = _default_period(data)
        strata = _strata(data.population)
        pop_strata = _population_strata_matrix(data.population, index, strata, start, end)
        if strata == [()]:
            kwargs["population"] = pop_strata[:, 0]
        else:
            kwargs.update(case_strata=_case_strata_matrix(data.cases, index, strata),
                          population_strata=pop_strata,
                          strata_names=["|".join(s) for s in strata])
    return study_area(geo.ids, geo.coords[:, 0], geo.coords[:, 1], cases,
                      coordinates=geo.coordinates, crs=crs, model=model, source=data.cases.file,
                      **kwargs)


def read_satscan(cas, *, geo, pop=None, ctl=None, coordinates: Coordinates = "cartesian",
                 model: Literal["poisson", "bernoulli"] = "poisson", crs: str | None = None,
                 start=None, end=None, dates: bool | None = None) -> StudyArea:
    """Read SaTScan input files into a :class:`StudyArea` for a purely spatial analysis.

    Parameters
    ----------
    cas : case file.  ``geo`` : coordinates file (all its locations become the study area,
        in file order; locations without records get zero cases/population).
    pop : population file (required for ``model='poisson'``).
    ctl : control file (required for ``model='bernoulli'``); population = cases + controls.
    coordinates : "cartesian" or "latlong" (SaTScan CoordinatesType 0 / 1).
    crs : projected CRS of Cartesian coordinates; default None (plain Cartesian numbers).
    start, end : study period (inclusive; see :func:`read_satscan_data`).
    dates : whether the case/control files have a date column (None: inferred).

    Rules
    -----
    Cases (and controls) are summed per location over all records.  With a population file
    whose records carry covariates, every distinct covariate tuple of the population file is a
    stratum, named by joining its values with "|" ("1|2"); the trailing columns of each case
    record must match one of them.  Expected counts then come from indirect standardisation
    (:func:`scan.data.indirect_expected`).

    Time-averaged population (SaTScan's rule).  Each census record refers to one day: July 1
    for a bare year, the 15th for a year/month, the day itself for a full date.  For every
    location and stratum the population P(t) is known on the sorted set of all census days in
    the file (a location/stratum with no record on a census day counts zero there; several
    records for the same location, stratum and day are added).  P(t) is linear between
    consecutive census days and held constant before the first and after the last.  The
    population used for the purely spatial analysis is the average of P(t) over the study
    period, ``(1 / (E + 1 - S)) * integral_{S}^{E+1} P(t) dt`` in days, where S is the first
    day and E the last day of the study period: ``start``/``end`` when given, else the span of
    the case dates (first day of the earliest to last day of the period of the latest), else
    (cases without dates) the first day of the earliest census period to the last day of the
    latest (census years 1980 and 1990 -> 1980-01-01 to 1990-12-31).  (SaTScan also repeats a
    day-precision census value on the following day; that one-day detail is not reproduced.)

    Raises
    ------
    ScanInputError naming file, line and field (wrong number of columns, non-numeric or
    negative count, bad date, location missing from the coordinates file, duplicate
    coordinate ids, latitude outside [-90, 90], ...); ScanParameterError when the file needed
    by the model is missing.
    """
    _require_files(model, pop, ctl)
    data = read_satscan_data(cas, geo=geo, pop=pop, ctl=ctl, coordinates=coordinates,
                             start=start, end=end, dates=dates)
    return spatial_study_area(data, model=model, crs=crs)


# ----------------------------------------------------------------------------- space-time data
def satscan_spacetime_data(data, *, time_aggregation: TimeUnit, aggregation_length: int = 1,
                           crs: str | None = None) -> SpaceTimeData:
    """Space-time data from the raw SaTScan records of :func:`scan.io.satscan.read_satscan_data`.

    Every location of the .geo file is a location, in file order.  With a population file whose
    records carry covariates, each distinct covariate tuple is a stratum and the trailing
    columns of each case record must name one; expected counts are then adjusted by indirect
    standardisation over location × interval × stratum person-time.  Without a population file,
    the trailing columns of the case records after the date (SaTScan's covariates of the
    space-time permutation model) define the strata: each distinct tuple is one, and the
    permutation model adjusts for them (``SpaceTimeData.cases_by_stratum``).
    """
    check_choice("time_aggregation", time_aggregation, TIME_UNITS)
    check_time_options(time_aggregation, aggregation_length)
    if data.cases.times is None:
        raise ScanInputError("the case file has no dates; a space-time analysis needs a date "
                             "on every case record", file=data.cases.file, field="date")
    total = int(data.cases.counts.sum())
    if total > MAX_COUNT:
        raise ScanInputError(f"the cases add up to {total:,}, more than {MAX_COUNT:,}, the "
                             "largest total scan can hold (its kernels count in 32-bit "
                             "integers)", file=data.cases.file, field="#cases")
    check_reader_period(data.start, data.end, time_aggregation, aggregation_length,
                         data.cases.file, record_span(data.cases.times,
                                                       data.cases.lines.tolist(),
                                                       data.cases.file))
    if data.population is not None:
        check_person_time(data.population.populations, data.population.lines.tolist(),
                           data.start, data.end, data.population.file)
    geo = data.geo
    index = {loc: i for i, loc in enumerate(geo.ids.tolist())}
    pop = data.population
    strata = _strata(pop) if pop is not None else _case_covariate_strata(data.cases)
    case_stratum = _case_stratum(data.cases, strata)
    census = {}
    if pop is not None:
        col = {c: k for k, c in enumerate(strata)}
        census = dict(census_loc=[index[v] for v in pop.ids.tolist()],
                      census_day=census_instant(pop.times, pop.time_precision),
                      census_value=pop.populations,
                      census_stratum=[col[c] for c in pop.covariates])
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
    data = read_satscan_data(cas, geo=geo, pop=pop, coordinates=coordinates, start=start,
                             end=end, dates=True)
    return satscan_spacetime_data(data, time_aggregation=time_aggregation,
                                  aggregation_length=aggregation_length, crs=crs)
