"""Study data: locations with ids, coordinates, counts, population and expected counts.

A :class:`StudyArea` is immutable and validated once, in :func:`study_area`.  Every reader
(CSV, SaTScan files, the embedded borough) ends by calling :func:`study_area`, so the checks
and their messages are the same whatever route the data took.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from .errors import ScanInputError, ScanParameterError, check_choice
from .models import models_for
from .timeline import TimeUnit, interval_person_time, time_intervals

Coordinates = Literal["cartesian", "latlong"]
DEFAULT_CRS = "EPSG:27700"
ExpectedKind = Literal["population", "supplied", "internal-standardised", "reference-rates"]
EXPECTED_KINDS = ("population", "supplied", "internal-standardised", "reference-rates")

log = logging.getLogger(__name__)
MAX_COUNT = 2_147_483_647
"""Most cases (per location and in total) scan accepts: the kernels count in 32-bit integers."""
MAX_EXACT = 2.0 ** 53
"""Most people (Bernoulli cases + controls, in total) scan accepts: beyond it float64 and the
64-bit sums of the Bernoulli null no longer count exactly."""


class LocationTotals:
    """Counts shared by every study-data class: locations, total cases, total population."""

    @property
    def n_locations(self) -> int:
        return len(self.ids)

    @property
    def total_cases(self) -> int:
        return int(self.cases.sum())

    @property
    def total_population(self) -> float:
        return float(self.population.sum())


@dataclass(frozen=True, eq=False)
class YearlyCounts:
    """Counts by calendar year, for observed against expected year by year.

    years : (t,) int64, sorted.
    cases : (n, t) int64 observed cases of each location in each year.
    population : (n, t) float64 person-years of each location in each year.
    expected : (n, t) float64 expected cases of each location in each year, on the same footing
        as the study area's inquiry expected counts: against the reference rates, unscaled, when
        ``StudyArea.expected_external`` is set (rows sum to it), otherwise the study area's own
        ``expected`` split over the years (rows sum to it).
    """

    years: np.ndarray
    cases: np.ndarray
    population: np.ndarray
    expected: np.ndarray


@dataclass(frozen=True, eq=False)
class StudyArea(LocationTotals):
    """Locations of a study area, validated.

    Attributes
    ----------
    ids : (n,) array of str, unique.
    coords : (n, 2) float64.  ``x, y`` for cartesian data, ``longitude, latitude`` for latlong.
    cases : (n,) int64 observed cases.
    population : (n,) float64 population at risk (Bernoulli: cases + controls).
    expected : (n,) float64 expected counts under the null, summing to the total cases
        (indirect standardisation over ``population_strata`` when strata are given).
    coordinates : "cartesian" (Euclidean on x, y) or "latlong" (great-circle distances).
    crs : the projected CRS of cartesian coordinates (e.g. "EPSG:27700"), or None when the
        coordinates are plain Cartesian numbers with no known CRS.
    case_strata, population_strata : optional (n, k) counts by covariate stratum.
    strata_names : names of the k strata.
    source : where the data came from (a file name), used in messages.
    names : optional (n,) array of str, a readable name for each location (LSOA name, ward).
    expected_kind : where ``expected`` came from: "population" (proportional to the
        population, crude), "supplied" (expected counts given by the user, rescaled to the
        total), "internal-standardised" (indirect standardisation on the study area's own
        stratum rates) or "reference-rates" (population x external reference rates, rescaled to
        the total).
    expected_external : for "supplied" and "reference-rates", the expected counts as given or
        computed, before rescaling (compare observed with these for an SIR against an external
        standard); None otherwise.
    expected_scale : for "supplied" and "reference-rates", the factor ``C / sum(expected_external)``
        that made ``expected`` sum to the total cases C; None otherwise.
    yearly : optional :class:`YearlyCounts`, when the cases carry a year.
    """

    ids: np.ndarray
    coords: np.ndarray
    cases: np.ndarray
    population: np.ndarray
    expected: np.ndarray
    coordinates: Coordinates = "cartesian"
    crs: str | None = DEFAULT_CRS
    case_strata: np.ndarray | None = None
    population_strata: np.ndarray | None = None
    strata_names: tuple[str, ...] = ()
    source: str = "<arrays>"
    names: np.ndarray | None = None
    expected_kind: ExpectedKind = "population"
    expected_external: np.ndarray | None = None
    expected_scale: float | None = None
    yearly: YearlyCounts | None = None

    @property
    def reference(self) -> str:
        """"external" when expected counts were supplied or came from reference rates (the
        unscaled ones are in ``expected_external``), else "internal" (the study area itself)."""
        return "external" if self.expected_external is not None else "internal"

    def columns(self) -> dict[str, np.ndarray]:
        """One array per column of the locations table (:meth:`to_dataframe` without pandas)."""
        x_name, y_name = ("lon", "lat") if self.coordinates == "latlong" else ("x", "y")
        columns = {"id": self.ids}
        if self.names is not None:
            columns["name"] = self.names
        columns.update({
            x_name: self.coords[:, 0], y_name: self.coords[:, 1],
            "cases": self.cases, "population": self.population, "expected": self.expected,
        })
        if self.expected_external is not None:
            columns["expected_external"] = self.expected_external
        return columns

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.columns())


def _as_float_array(name: str, values, n: int | None, source: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ScanInputError(f"'{name}' must be numeric ({exc})", file=source) from None
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise ScanInputError(
            f"'{name}' must be one value per location ({n} locations); got shape {arr.shape}",
            file=source)
    return arr


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_counts(name: str, arr: np.ndarray, ids: np.ndarray, source: str,
                  integer: bool, maximum: float | None = None,
                  total_maximum: float | None = None) -> None:
    """Finite, >= 0, whole when ``integer``; each at most ``maximum`` and the sum finite and at
    most ``total_maximum`` (the limits are in the messages)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad(bad)
        raise ScanInputError(f"{name} of location '{ids[i]}' is {arr[i]}; counts must be finite",
                             file=source, field=name)
    bad = arr < 0
    if bad.any():
        i = _first_bad(bad)
        raise ScanInputError(f"{name} of location '{ids[i]}' is negative ({arr[i]:g}); "
                             "counts must be zero or more", file=source, field=name)
    if integer:
        bad = arr != np.floor(arr)
        if bad.any():
            i = _first_bad(bad)
            raise ScanInputError(
                f"{name} of location '{ids[i]}' is not a whole number ({arr[i]:g}); "
                "round or floor the counts first", file=source, field=name)
    if maximum is not None:
        bad = arr > maximum
        if bad.any():
            i = _first_bad(bad)
            raise ScanInputError(
                f"{name} of location '{ids[i]}' is {arr[i]:.6g}, more than {maximum:,.0f}, the "
                "largest count scan can hold (its kernels count in 32-bit integers); check the "
                "value", file=source, field=name)
    with np.errstate(over="ignore"):
        total = float(arr.sum())
    if not np.isfinite(total):
        i = int(np.argmax(arr))
        raise ScanInputError(
            f"the {name} values add up to more than a float can hold (1.8e308; the largest is "
            f"{arr[i]:.6g} at location '{ids[i]}'); check the values or rescale them",
            file=source, field=name)
    if total_maximum is not None and total > total_maximum:
        raise ScanInputError(
            f"the total {name} is {total:.6g}, more than {total_maximum:,.0f}, the largest "
            f"total scan can hold; check the values (largest: {arr.max():.6g} at location "
            f"'{ids[int(np.argmax(arr))]}')", file=source, field=name)


def _rate(total_cases: float, total: float, name: str, source: str) -> float:
    """total_cases / total, refused when a float cannot hold it (a subnormal total)."""
    with np.errstate(over="ignore"):
        rate = total_cases / total
    if not np.isfinite(rate):
        raise ScanInputError(f"the total {name} ({total:.3g}) is too small for {total_cases:g} "
                             "cases: the expected counts overflow a float; check the values and "
                             "their unit", file=source, field=name)
    return rate


def check_coordinates(coords: np.ndarray, ids: np.ndarray, coordinates: str, crs: str | None,
                      source: str) -> None:
    """Finite values, and values that fit the declared kind of coordinates."""
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        i = _first_bad(bad)
        raise ScanInputError(f"coordinates of location '{ids[i]}' are {tuple(coords[i])}; "
                             "coordinates must be finite numbers", file=source, field="x/y")
    lon_like = (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()
    if coordinates == "latlong":
        if not lon_like:
            i = _first_bad((np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90))
            raise ScanInputError(
                f"coordinates were declared longitude/latitude but location '{ids[i]}' has "
                f"{tuple(coords[i])}, outside [-180, 180] x [-90, 90]; these look projected: "
                "pass coordinates='cartesian' (CLI --coordinates cartesian) with their crs",
                file=source, field="x/y")
        return
    if crs is None:
        return
    from pyproj.exceptions import CRSError

    from ._crs import crs as crs_object, transformer

    try:
        crs_obj = crs_object(crs)
    except CRSError:
        raise ScanParameterError("crs", "a CRS pyproj understands, such as 'EPSG:27700'", crs,
                                 "pass None for plain Cartesian coordinates") from None
    if crs_obj.is_geographic:
        raise ScanParameterError(
            "crs", "a projected CRS for cartesian coordinates", crs,
            "for longitude/latitude pass coordinates='latlong' (CLI --coordinates latlong)")
    if lon_like and crs_obj.area_of_use is not None:
        # Every location within a couple of hundred units of the origin of a national grid is
        # far more likely to be degrees than metres.
        span = np.ptp(coords, axis=0).max()
        if span < 20:
            raise ScanInputError(
                f"coordinates look like longitude/latitude (all within [-180, 180] x [-90, 90], "
                f"spanning {span:.3g} units) but were declared projected in {crs}; pass "
                "coordinates='latlong' (CLI --coordinates latlong), or crs=None for plain "
                "Cartesian numbers", file=source, field="x/y")
    if crs_obj.area_of_use is not None:
        w, s, e, n = crs_obj.area_of_use.bounds
        to_geo = transformer(crs)
        lon, lat = to_geo.transform(coords[:, 0], coords[:, 1])
        margin = 2.0
        out = ~((lon >= w - margin) & (lon <= e + margin) & (lat >= s - margin) & (lat <= n + margin))
        out |= ~np.isfinite(lon) | ~np.isfinite(lat)
        if out.any():
            i = _first_bad(out)
            raise ScanInputError(
                f"location '{ids[i]}' at {tuple(coords[i])} lies outside the area where {crs} "
                f"is defined ({crs_obj.area_of_use.name}); pass the right crs, "
                "coordinates='latlong' for longitude/latitude, or crs=None for plain Cartesian "
                "numbers (CLI --crs none)", file=source, field="x/y")


def project_lonlat(coords: np.ndarray, crs: str) -> np.ndarray:
    """Longitude/latitude (WGS84) to a projected CRS with pyproj."""
    from pyproj.exceptions import CRSError

    from ._crs import WGS84, crs as crs_object, transformer

    try:
        target = crs_object(crs)
    except CRSError:
        raise ScanParameterError("project_to", "a CRS pyproj understands, such as 'EPSG:27700'",
                                 crs) from None
    if not target.is_projected:
        raise ScanParameterError("project_to", "a projected CRS", crs)
    t = transformer(WGS84, crs)
    x, y = t.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def indirect_expected(case_strata: np.ndarray, population_strata: np.ndarray) -> np.ndarray:
    """Expected counts by indirect standardisation on the study area's own stratum rates.

    ``e_i = sum_k P_ik * C_k / P_k`` where ``C_k`` and ``P_k`` are the stratum totals: SaTScan's
    covariate adjustment for the Poisson model.  The expected counts sum to the total cases.
    """
    c_k = case_strata.sum(axis=0)
    p_k = population_strata.sum(axis=0)
    rate = np.divide(c_k, p_k, out=np.zeros_like(c_k, dtype=np.float64), where=p_k > 0)
    return population_strata @ rate


def study_area(ids, x, y, cases, population=None, *, expected=None, case_strata=None,
               population_strata=None, strata_names: Sequence[str] = (),
               coordinates: Coordinates = "cartesian", crs: str | None = DEFAULT_CRS,
               project_to: str | None = None, model: str = "poisson",
               source: str = "<arrays>", names=None,
               expected_kind: Literal["supplied", "reference-rates"] = "supplied",
               yearly: YearlyCounts | None = None) -> StudyArea:
    """Validate arrays and build a :class:`StudyArea`.

    Parameters
    ----------
    ids, x, y, cases, population : one value per location.  For ``coordinates='latlong'`` x is
        longitude and y latitude in degrees.  For the Bernoulli model ``population`` counts cases
        plus controls.
    expected : optional expected counts (Poisson); rescaled so they sum to the total cases.  The
        counts as given are kept in ``expected_external`` and the factor in ``expected_scale``
        (logged when it is not 1).
    case_strata, population_strata : optional (n, k) counts by covariate stratum (age band x sex,
        say); when given without ``expected``, expected counts come from indirect
        standardisation; ``population`` defaults to the sum over strata.
    coordinates : "cartesian" or "latlong".
    crs : projected CRS of cartesian coordinates (default British National Grid, EPSG:27700);
        None for plain Cartesian numbers.
    project_to : for latlong data, a projected CRS (e.g. "EPSG:27700") to reproject the points
        into with pyproj; the scan then uses Euclidean distances in that CRS.
    model : "poisson" or "bernoulli"; decides which checks apply.
    source : a name used in error messages.
    names : optional readable name of each location, carried as ``StudyArea.names``.
    expected_kind : how supplied ``expected`` counts were made: "supplied" (by the user) or
        "reference-rates" (population x external rates); recorded as ``StudyArea.expected_kind``.
    yearly : optional :class:`YearlyCounts`; its cases must add up to ``cases``.
    """
    check_choice("coordinates", coordinates, ("cartesian", "latlong"))
    check_choice("model", model, models_for("spatial"))
    check_choice("expected_kind", expected_kind, ("supplied", "reference-rates"))
    ids = np.asarray([str(v) for v in np.asarray(ids).ravel()])
    n = len(ids)
    if n == 0:
        raise ScanInputError("no locations", file=source)
    if names is not None:
        names = np.asarray(["" if v is None else str(v) for v in np.asarray(names).ravel()])
        if len(names) != n:
            raise ScanInputError(f"'names' must be one value per location ({n} locations); "
                                 f"got {len(names)}", file=source, field="name")
    uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        raise ScanInputError(f"location id '{dup}' appears {counts[counts > 1][0]} times; "
                             "ids must be unique", file=source, field="id")
    coords = np.column_stack([_as_float_array("x", x, n, source), _as_float_array("y", y, n, source)])
    check_coordinates(coords, ids, coordinates, crs if coordinates == "cartesian" else None, source)
    if project_to is not None:
        if coordinates != "latlong":
            raise ScanParameterError("project_to", "used with coordinates='latlong'", project_to,
                                     "cartesian coordinates are already projected")
        coords = project_lonlat(coords, project_to)
        coordinates, crs = "cartesian", project_to

    expected_given = expected is not None and case_strata is None and population_strata is None
    cases = _as_float_array("cases", cases, n, source)
    _check_counts("cases", cases, ids, source, integer=True, maximum=MAX_COUNT,
                  total_maximum=MAX_COUNT)
    total_cases = cases.sum()
    if total_cases <= 0:
        raise ScanInputError("the total number of cases is zero; there is nothing to scan",
                             file=source, field="cases")

    kind = "population" if expected is None else expected_kind
    if case_strata is not None or population_strata is not None:
        if case_strata is None or population_strata is None:
            raise ScanParameterError("case_strata/population_strata", "given together", "one of them",
                                     "pass both, with one column per stratum")
        case_strata = np.asarray(case_strata, dtype=np.float64).reshape(n, -1)
        population_strata = np.asarray(population_strata, dtype=np.float64).reshape(n, -1)
        if case_strata.shape != population_strata.shape:
            raise ScanInputError(f"case strata {case_strata.shape} and population strata "
                                 f"{population_strata.shape} differ in shape", file=source)
        _check_counts("population", population_strata.ravel(), np.repeat(ids, population_strata.shape[1]),
                      source, integer=False)
        _check_counts("cases", case_strata.ravel(), np.repeat(ids, case_strata.shape[1]), source,
                      integer=True, maximum=MAX_COUNT, total_maximum=MAX_COUNT)
        empty = (population_strata.sum(axis=0) == 0) & (case_strata.sum(axis=0) > 0)
        if empty.any():
            k = int(np.flatnonzero(empty)[0])
            name = strata_names[k] if k < len(strata_names) else str(k)
            raise ScanInputError(f"stratum '{name}' has cases but no population", file=source,
                                 field="population")
        if not np.allclose(case_strata.sum(axis=1), cases):
            raise ScanInputError("case strata do not add up to the cases", file=source)
        if population is None:
            population = population_strata.sum(axis=1)
        if expected is None:
            with np.errstate(over="ignore", invalid="ignore"):
                expected = indirect_expected(case_strata, population_strata)
            if not np.isfinite(expected).all():
                raise ScanInputError("a stratum's population is too small for its cases: the "
                                     "expected counts overflow a float; check the population "
                                     "values and their unit", file=source, field="population")
            kind = "internal-standardised"

    if population is None and expected is None:
        raise ScanParameterError("population", "given (or expected counts, or strata)", None)
    if population is not None:
        population = _as_float_array("population", population, n, source)
        _check_counts("population", population, ids, source, integer=(model == "bernoulli"),
                      total_maximum=MAX_EXACT if model == "bernoulli" else None)
    expected_external = expected_scale = None
    if model == "bernoulli":
        over = cases > population
        if over.any():
            i = _first_bad(over)
            raise ScanInputError(
                f"location '{ids[i]}' has {cases[i]:g} cases but a population of "
                f"{population[i]:g}; for the Bernoulli model the population counts cases plus "
                "controls, so it can never be below the cases", file=source, field="population")
        if population.sum() <= total_cases:
            raise ScanInputError("there are no controls (population equals cases everywhere); the "
                                 "Bernoulli model needs controls", file=source, field="population")
        expected = population * _rate(total_cases, population.sum(), "population", source)
        kind = "population"
    elif kind in ("supplied", "reference-rates"):
        expected_external = _as_float_array("expected", expected, n, source).copy()
        _check_counts("expected", expected_external, ids, source, integer=False)
        if expected_external.sum() <= 0:
            raise ScanInputError("expected counts sum to zero", file=source, field="expected")
        expected_scale = float(_rate(total_cases, expected_external.sum(), "expected", source))
        expected = expected_external * expected_scale
        if abs(expected_scale - 1.0) > 1e-9:
            # by design for reference rates (the unscaled counts serve the SIR); a surprise for
            # counts the user supplied as they are
            log.log(logging.INFO if kind == "reference-rates" else logging.WARNING,
                    "%s: %s expected counts (total %.6g) rescaled by %.6g to the %d observed "
                    "cases, as the scan conditions on the total", source,
                    "reference-rate" if kind == "reference-rates" else "supplied",
                    expected_external.sum(), expected_scale, int(total_cases))
    elif kind == "internal-standardised":
        expected = _as_float_array("expected", expected, n, source)
    else:
        if population.sum() <= 0:
            raise ScanInputError("the total population is zero", file=source, field="population")
        expected = population * _rate(total_cases, population.sum(), "population", source)
    if population is None:
        population = expected.copy()
    zero_e = (expected <= 0) & (cases > 0)
    if zero_e.any():
        i = _first_bad(zero_e)
        if population[i] > 0 and not expected_given:   # a share too small for a float
            raise ScanInputError(
                f"location '{ids[i]}' has {cases[i]:g} cases but nothing expected: its "
                f"population {population[i]:.6g} is too small next to the total "
                f"{population.sum():.6g} for its share to be represented; check the population "
                f"values (largest: {population.max():.6g} at location "
                f"'{ids[int(np.argmax(population))]}')", file=source, field="population")
        raise ScanInputError(f"location '{ids[i]}' has {cases[i]:g} cases but nothing expected "
                             "(zero population); check its population", file=source,
                             field="population")
    if yearly is not None and (yearly.cases.shape != (n, len(yearly.years))
                               or not np.array_equal(yearly.cases.sum(axis=1), cases)):
        raise ScanInputError("the counts by year do not add up to the cases of each location",
                             file=source, field="year")
    cases = cases.astype(np.int64)
    for arr in (ids, coords, cases, population, expected, names, expected_external):
        if arr is not None:
            arr.setflags(write=False)
    return StudyArea(ids=ids, coords=coords, cases=cases, population=population,
                     expected=expected, coordinates=coordinates,
                     crs=crs if coordinates == "cartesian" else "EPSG:4326",
                     case_strata=case_strata, population_strata=population_strata,
                     strata_names=tuple(strata_names), source=source, names=names,
                     expected_kind=kind, expected_external=expected_external,
                     expected_scale=expected_scale, yearly=yearly)


# ============================================================================ space-time data
@dataclass(frozen=True, eq=False)
class SpaceTimeData(LocationTotals):
    """Cases and expected counts by location × time interval, validated.

    ids (n,), coords (n, 2) (x, y; longitude, latitude for latlong), coordinates, crs;
    interval_starts / interval_ends (T,) datetime64[D] (ends inclusive); time_unit and
    aggregation_length; study_start / study_end; cases (n, T) int64; expected (n, T) float64
    summing to the total cases, or None for case-only data (space-time permutation only);
    population (n,) float64 time-averaged population (zeros when unknown).
    cases_by_stratum (n, T, K) int64: the cases by covariate stratum (the names are
    ``extra["strata_names"]``), or None with one stratum; the space-time permutation model
    adjusts for them (:meth:`permutation_expected`, and its null permutes within strata).
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
    cases_by_stratum: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_intervals(self) -> int:
        return self.cases.shape[1]

    @property
    def study_start(self) -> np.datetime64:
        return self.interval_starts[0]

    @property
    def study_end(self) -> np.datetime64:
        return self.interval_ends[-1]

    @property
    def n_strata(self) -> int:
        return 1 if self.cases_by_stratum is None else self.cases_by_stratum.shape[2]

    def permutation_expected(self) -> np.ndarray:
        """The space-time permutation model's expected counts (n, T), adjusted for the
        covariate strata as SaTScan does: ``mu[z, d] = sum_k n(z, k) n(d, k) / n(k)`` with
        n(z, k) the stratum's cases at location z over the period, n(d, k) its cases in interval
        d over all locations and n(k) its total (strata without cases add nothing); with one
        stratum ``n(z) n(d) / C``."""
        if self.cases_by_stratum is None:
            c = self.cases.astype(np.float64)
            return np.outer(c.sum(axis=1), c.sum(axis=0)) / c.sum()
        s = self.cases_by_stratum.astype(np.float64)
        n_zk, n_dk, n_k = s.sum(axis=1), s.sum(axis=0), s.sum(axis=(0, 1))
        w = np.divide(1.0, n_k, out=np.zeros_like(n_k), where=n_k > 0)
        return np.einsum("zk,dk,k->zd", n_zk, n_dk, w)

    def permutation_cases(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One entry per case for the permutation null: (location, interval, stratum offsets),
        the cases in order of stratum, then location, then interval; stratum k's cases are
        ``offsets[k]`` to ``offsets[k + 1]``."""
        T = self.n_intervals
        table = (self.cases[:, :, None] if self.cases_by_stratum is None
                 else self.cases_by_stratum).astype(np.int64)
        locs, times, offsets = [], [], [0]
        for k in range(table.shape[2]):
            flat = table[:, :, k].ravel()
            cells = np.repeat(np.arange(flat.size), flat)
            locs.append(cells // T)
            times.append(cells % T)
            offsets.append(offsets[-1] + len(cells))
        return (np.ascontiguousarray(np.concatenate(locs), dtype=np.int64),
                np.ascontiguousarray(np.concatenate(times), dtype=np.int64),
                np.array(offsets, dtype=np.int64))

    def model_expected(self, model: str) -> np.ndarray:
        """Expected counts (n, T) for ``model`` (:meth:`scan.models.Model.cell_expected`)."""
        from . import models

        return models.get(model, "spacetime").cell_expected(self)

    def measure(self, model: str) -> np.ndarray:
        """Per-location weights for the circles' size cap (SaTScan's "population at risk"):
        the expected counts over the study period, i.e. the cases for the permutation model."""
        return self.model_expected(model).sum(axis=1)

    def columns(self) -> dict[str, np.ndarray]:
        """One array per column of the locations table: totals over the study period."""
        x_name, y_name = ("lon", "lat") if self.coordinates == "latlong" else ("x", "y")
        expected = (self.expected if self.expected is not None
                    else self.model_expected("permutation"))
        return {"id": self.ids, x_name: self.coords[:, 0], y_name: self.coords[:, 1],
                "cases": self.cases.sum(axis=1), "population": self.population,
                "expected": expected.sum(axis=1)}

    def to_dataframe(self):
        """One row per location: totals over the study period."""
        import pandas as pd

        return pd.DataFrame(self.columns())


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
    by_stratum = None
    if n_strata > 1:
        by_stratum = cases_s
        by_stratum.setflags(write=False)
    return SpaceTimeData(ids=ids, coords=coords, cases=cases, expected=expected,
                         population=population, interval_starts=starts, interval_ends=ends,
                         time_unit=time_unit, aggregation_length=int(aggregation_length),
                         coordinates=coordinates,
                         crs=crs if coordinates == "cartesian" else "EPSG:4326", source=source,
                         extra={"strata_names": tuple(strata_names)},
                         cases_by_stratum=by_stratum)


# ---------------------------------------------------------------------------- readers
