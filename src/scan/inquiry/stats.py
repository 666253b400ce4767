"""Statistics of a cluster inquiry for a named area or a point (Stage 2a of the guidance).

Two kinds of question, two kinds of test:

- *Is the reported area's count high for its population?*  :func:`sir`: the standardised
  incidence ratio O/E with an exact confidence interval and an exact one-sided Poisson p-value.
  E may come from an external standard (reference rates, not rescaled) or from the study area.
- *Is there an excess around the reported place, given the study area's total?*  Tests that
  condition on the total C, with expected counts by internal standardisation scaled to C:
  :func:`stone_test` (Stone 1988), :func:`focused_scan` (Kulldorff's circular scan with
  circles centred on the focus only) and :func:`besag_newell` (Besag & Newell 1991, which
  does not condition on the total).

A *focus* is a location id of the study area (a string) or a point ``(x, y)`` in the study
area's coordinates (longitude, latitude for latlong data).  The areas are ordered by distance
from the focus exactly as the engine orders a centre's neighbours (:mod:`scan.windows`):
distance, then the coordinates in turn, then the location's index; for latlong data distances
are SaTScan's chord distances.

Monte Carlo conventions as in the engine: the p-value is ``(1 + number of replicates whose
statistic reaches the observed) / (R + 1)``, a replicate reaching the observed when it is at
least ``observed * (1 - 1e-9)``; replication ``r`` draws only from
``SeedSequence(seed, spawn_key=(r,))``, so results are the same on any machine and the first R
replications of a longer run are the R-replication run.

scipy is imported inside the functions that need it.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

import numpy as np

from ..data import StudyArea, indirect_expected
from ..errors import ScanParameterError

Focus = Union[str, Sequence[float]]

_CHUNK = 1024
"""Stone replications drawn and evaluated together (bounds memory to CHUNK x n counts)."""


# --- SIR ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SIR:
    """Observed against expected for one area (or a union of areas).

    sir : O / E.
    ci_low, ci_high : exact (Garwood 1936) ``confidence`` interval for the SIR.
    p_value : one-sided exact Poisson p-value P(X >= O) for X ~ Poisson(E).
    mid_p : P(X > O) + P(X = O) / 2, less conservative than ``p_value``.
    """

    observed: int
    expected: float
    sir: float
    ci_low: float
    ci_high: float
    p_value: float
    mid_p: float
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return {"observed": self.observed, "expected": self.expected, "sir": self.sir,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "confidence": self.confidence,
                "p_value": self.p_value, "mid_p": self.mid_p}


def sir(observed, expected, *, confidence: float = 0.95) -> SIR:
    """Standardised incidence ratio with its exact interval and exact one-sided p-values.

    Definitions, for O observed and E expected cases, X ~ Poisson(E), alpha = 1 - confidence:

    - SIR = O / E;
    - interval (Garwood 1936; Breslow & Day 1987, vol. II, sec. 2.3): lower =
      chi2(alpha/2; 2 O) / (2 E), 0 when O = 0; upper = chi2(1 - alpha/2; 2 O + 2) / (2 E),
      where chi2(q; k) is the q-quantile of the chi-square distribution with k degrees of
      freedom.  Computed as the inverse regularised incomplete gamma function,
      chi2(q; 2a) / 2 = P^-1(a, q);
    - p-value = P(X >= O) = P(O, E), the regularised lower incomplete gamma function (1 when
      O = 0): the chance of at least as many cases if the area had the reference rates;
    - mid-p = P(X > O) + P(X = O) / 2 (Lancaster 1961).

    Parameters
    ----------
    observed : whole number of cases, zero or more.
    expected : expected cases, positive and finite.
    confidence : of the interval, in (0, 1); default 0.95.
    """
    from scipy import special

    o = _check_observed(observed)
    if not (isinstance(expected, (int, float, np.integer, np.floating))
            and math.isfinite(expected) and expected > 0):
        raise ScanParameterError("expected", "a positive finite number of expected cases",
                                 expected, "an area with nothing expected has no SIR")
    if not (isinstance(confidence, (float, int)) and 0 < confidence < 1):
        raise ScanParameterError("confidence", "a number in (0, 1)", confidence, "e.g. 0.95")
    e = float(expected)
    alpha = 1.0 - confidence
    low = float(special.gammaincinv(o, alpha / 2)) / e if o > 0 else 0.0
    high = float(special.gammaincinv(o + 1, 1 - alpha / 2)) / e
    p = float(special.gammainc(o, e)) if o > 0 else 1.0
    p_equal = math.exp(o * math.log(e) - e - math.lgamma(o + 1))
    mid_p = float(special.gammainc(o + 1, e)) + 0.5 * p_equal
    return SIR(observed=o, expected=e, sir=o / e, ci_low=low, ci_high=high, p_value=p,
               mid_p=mid_p, confidence=float(confidence))


def _check_observed(observed) -> int:
    try:
        value = float(observed)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0 and value == math.floor(value)):
        raise ScanParameterError("observed", "a whole number of cases, zero or more", observed)
    return int(value)


# --- focus and ordering ---------------------------------------------------------------------------

def internal_expected(area: StudyArea) -> np.ndarray:
    """Expected counts by internal standardisation, summing to the total cases.

    Indirect standardisation on the study area's own stratum rates when the area has strata
    (:func:`scan.data.indirect_expected`; also when its ``expected`` came from reference rates);
    otherwise ``area.expected`` (proportional to the population, or supplied counts rescaled to
    the total).  For an area read without reference rates this is ``area.expected`` itself, so
    the focused tests run on the same expected counts as the circular scan.
    """
    if area.case_strata is not None and area.population_strata is not None:
        if area.expected_kind == "internal-standardised":
            return np.asarray(area.expected, dtype=np.float64)
        return indirect_expected(area.case_strata, area.population_strata)
    return np.asarray(area.expected, dtype=np.float64)


def _focus(area: StudyArea, focus: Focus) -> tuple[np.ndarray, str, int | None]:
    """(the focus as a point in the engine's embedded coordinates, a label, its index or None)."""
    from ..windows import embed_points

    if isinstance(focus, (str, np.str_)):
        where = np.flatnonzero(area.ids == str(focus))
        if len(where) == 0:
            close = difflib.get_close_matches(str(focus), area.ids.tolist(), n=3)
            hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close else
                    f"ids look like {', '.join(repr(v) for v in area.ids[:3].tolist())}")
            raise ScanParameterError("focus", f"a location id of the study area ({area.source})"
                                     " or a point (x, y)", focus, hint)
        i = int(where[0])
        pts = embed_points(area.coords, area.coordinates)
        return pts[i].copy(), str(focus), i
    try:
        xy = np.asarray(focus, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        xy = np.empty(0)
    if xy.shape != (2,) or not np.isfinite(xy).all():
        raise ScanParameterError("focus", "a location id (str) or a point (x, y) of two finite "
                                 "numbers", focus)
    point = embed_points(xy.reshape(1, 2), area.coordinates)[0]
    return point, f"({xy[0]:g}, {xy[1]:g})", None


def focus_order(area: StudyArea, focus: Focus) -> tuple[np.ndarray, np.ndarray]:
    """Every location ordered by distance from the focus, as the engine orders neighbours.

    Returns ``(order, d2)``: int64 location indices nearest first, and the squared embedded
    distance of each location (in location order).  Ties: the lesser coordinates, then the
    lower index (:func:`scan.windows._sorted_candidates`, the engine's own sort).
    """
    from ..windows import _sorted_candidates, embed_points

    point, _, _ = _focus(area, focus)
    pts = embed_points(area.coords, area.coordinates)
    d2 = np.zeros(len(pts))
    for t in range(pts.shape[1]):        # summed in the engine's order, so ties tie exactly
        d2 += (pts[:, t] - point[t]) ** 2
    order = _sorted_candidates(d2, np.arange(len(pts), dtype=np.int64), pts)
    return np.asarray(order, dtype=np.int64), d2


def _check_replications(n_replications) -> None:
    if not isinstance(n_replications, (int, np.integer)) or isinstance(n_replications, bool) \
            or n_replications < 0:
        raise ScanParameterError("n_replications", "a whole number >= 0", n_replications,
                                 "999 is the usual choice; 9999 for p-values below 0.001")


def _expected_for(area: StudyArea, expected) -> np.ndarray:
    if expected is None:
        return internal_expected(area)
    e = np.asarray(expected, dtype=np.float64)
    if e.shape != (area.n_locations,) or not np.isfinite(e).all() or (e < 0).any() \
            or e.sum() <= 0:
        raise ScanParameterError("expected", f"one non-negative finite expected count per "
                                 f"location ({area.n_locations}), not all zero", "array of shape "
                                 f"{e.shape}")
    return e * (area.total_cases / e.sum())


# --- Stone's test ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class StoneResult:
    """Stone's test around a focus.

    statistic : max over k of O(k) / E(k), the cumulative observed over the cumulative expected
        of the k areas nearest the focus.
    n_areas : the k at the maximum (the smallest on ties); members : those k areas, nearest
        first; observed, expected : their O(k), E(k).
    p_value : Monte Carlo, conditional on the total; null_distribution : the statistic of each
        replication, in replication order; seed : the root entropy.
    """

    focus: str
    statistic: float
    n_areas: int
    members: tuple[str, ...]
    member_indices: np.ndarray
    observed: float
    expected: float
    p_value: float
    n_replications: int
    seed: int
    null_distribution: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {"focus": self.focus, "statistic": self.statistic, "n_areas": self.n_areas,
                "members": list(self.members), "observed": self.observed,
                "expected": self.expected, "p_value": self.p_value,
                "n_replications": self.n_replications, "seed": self.seed}


def stone_statistic(ordered_counts: np.ndarray, cumulative_expected: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Stone's T and its k (1-based, smallest on ties) for each row of ``ordered_counts``.

    ``ordered_counts`` is (R, n) or (n,) counts with the areas nearest the focus first;
    ``cumulative_expected`` is (n,).  Prefixes with no expected count are skipped.
    """
    counts = np.atleast_2d(ordered_counts)
    valid = cumulative_expected > 0
    ratio = np.cumsum(counts, axis=1)[:, valid] / cumulative_expected[valid]
    best = np.argmax(ratio, axis=1)
    k = np.flatnonzero(valid)[best] + 1
    return ratio[np.arange(len(ratio)), best], k


def stone_test(area: StudyArea, focus: Focus, *, n_replications: int = 999, rng=None,
               expected=None) -> StoneResult:
    """Stone's (1988) test for raised incidence near a focus.

    Areas are ordered by distance from the focus (as the engine orders neighbours).  With O(k)
    and E(k) the observed and expected counts of the k nearest areas, the statistic is
    ``T = max_k O(k) / E(k)`` over k = 1 .. n (prefixes with E(k) = 0 skipped; at k = n the
    ratio is 1, so T >= 1).  Expected counts come from internal standardisation and sum to the
    total C (:func:`internal_expected`), or from ``expected`` rescaled to C.

    The null is conditional on the total: C cases spread over the areas multinomially with
    probabilities E_i / C.  Replication r draws its data set with
    ``numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(r,))))``.  The p-value is
    ``(1 + number of replicate T >= observed T) / (R + 1)`` (a replicate reaching T within a
    relative 1e-9 counts).

    Stone, R. A. (1988) Investigations of excess environmental risks around putative sources:
    statistical problems and a proposed test.  Statistics in Medicine 7, 649-660.

    Parameters
    ----------
    area : the study area.  focus : a location id or a point (x, y).
    n_replications : Monte Carlo replications (default 999).  rng : int, SeedSequence,
        Generator or None; the root entropy is recorded as ``result.seed``.
    expected : optional expected counts to use instead of internal standardisation.
    """
    from ..montecarlo import normalise_seed
    from ..result import monte_carlo_p_value

    _check_replications(n_replications)
    seed = normalise_seed(rng)
    e = _expected_for(area, expected)
    _, label, _ = _focus(area, focus)
    order, _ = focus_order(area, focus)
    cum_e = np.cumsum(e[order])
    observed = np.asarray(area.cases, dtype=np.int64)
    stat, k = stone_statistic(observed[order], cum_e)
    T, k = float(stat[0]), int(k[0])

    C = int(area.total_cases)
    pvals = e / e.sum()
    null = np.empty(n_replications)
    for start in range(0, n_replications, _CHUNK):
        stop = min(n_replications, start + _CHUNK)
        draws = np.empty((stop - start, len(e)), dtype=np.int64)
        for r in range(start, stop):
            gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed,
                                                                             spawn_key=(r,))))
            draws[r - start] = gen.multinomial(C, pvals)
        null[start:stop] = stone_statistic(draws[:, order], cum_e)[0]
    members = order[:k]
    return StoneResult(focus=label, statistic=T, n_areas=k,
                       members=tuple(str(v) for v in area.ids[members]), member_indices=members,
                       observed=float(observed[members].sum()), expected=float(cum_e[k - 1]),
                       p_value=monte_carlo_p_value(T, null), n_replications=n_replications,
                       seed=seed, null_distribution=null)


# --- focused Kulldorff scan -----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class FocusedScanResult:
    """Kulldorff's circular scan restricted to circles centred on the focus.

    llr : the largest log-likelihood ratio over those circles (0 when no circle has more cases
        than expected and at least ``min_cases``); members : that circle's areas, nearest first
        (empty when llr is 0); observed, expected, relative_risk (risk inside over risk
        outside), radius (from the focus to the farthest member; coordinate units, km for
        latlong) : of that circle (0, 0, None, 0 when llr is 0).
    n_windows : how many circles were scanned.  p_value : Monte Carlo with the engine's seeding;
        null_distribution : the maximum LLR of each replication; seed : the root entropy.
    """

    focus: str
    llr: float
    members: tuple[str, ...]
    member_indices: np.ndarray
    observed: float
    expected: float
    relative_risk: float | None
    radius: float
    n_windows: int
    p_value: float
    n_replications: int
    seed: int
    max_population_fraction: float
    null_distribution: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {"focus": self.focus, "llr": self.llr, "members": list(self.members),
                "observed": self.observed, "expected": self.expected,
                "relative_risk": self.relative_risk, "radius": self.radius,
                "n_windows": self.n_windows, "p_value": self.p_value,
                "n_replications": self.n_replications, "seed": self.seed,
                "max_population_fraction": self.max_population_fraction}


def focused_windows(area: StudyArea, focus: Focus, weights: np.ndarray,
                    max_population_fraction: float = 0.5):
    """The engine's window structure with a single centre, the focus.

    Its circles are the prefixes of :func:`focus_order` whose cumulative weight (expected
    count) stays within ``max_population_fraction`` of the total, inclusive; the circle stops at
    the first area that would exceed it, as :func:`scan.windows.build_windows` does.  For a
    location focus this is the engine's row for that centre.
    """
    from ..windows import Windows

    if not (isinstance(max_population_fraction, (int, float))
            and 0.0 < max_population_fraction <= 0.5):
        raise ScanParameterError("max_population_fraction", "in (0, 0.5]",
                                 max_population_fraction,
                                 "SaTScan allows circles of up to 50% of the population at risk")
    order, d2 = focus_order(area, focus)
    cap = max_population_fraction * weights.sum()
    total = np.cumsum(weights[order])           # sequential sums, as the engine adds them
    over = np.flatnonzero(total > cap)
    m = int(over[0]) if len(over) else len(order)
    windows = Windows(offsets=np.array([0, m], dtype=np.int64),
                      neighbors=np.ascontiguousarray(order[:m], dtype=np.int32),
                      max_population_fraction=float(max_population_fraction), max_radius=None)
    return windows, d2


def focused_scan(area: StudyArea, focus: Focus, *, max_population_fraction: float = 0.5,
                 n_replications: int = 999, rng=None, min_cases: int = 2, expected=None,
                 backend: str = "threads", progress: Callable[[int, int], None] | None = None,
                 **backend_options) -> FocusedScanResult:
    """Kulldorff's Poisson scan with circles centred on the focus only (a focused test).

    The circles grow from the focus by nearest area (the engine's order) while they hold at
    most ``max_population_fraction`` (default 0.5) of the expected total, inclusive.  For a
    circle with c observed and e expected cases out of C,
    ``LLR = c ln(c/e) + (C - c) ln((C - c)/(C - e))`` when c > e and c >= ``min_cases``
    (high rates only), else 0; the statistic is the largest LLR over the circles (the
    smallest circle on ties).  Expected counts come from internal standardisation, summing to C
    (:func:`internal_expected`), or from ``expected`` rescaled to C.

    The p-value is Monte Carlo with the engine's kernels and seeding
    (:func:`scan.montecarlo.null_problem`, :func:`scan.montecarlo.replicate_maxima`): replication
    r is the engine's replication r (the same null data set as a circular scan of the same area
    with the same seed and expected counts), scanned over the focus's circles only.  p =
    ``(1 + number of replicate maxima >= LLR) / (R + 1)``; 1 when the LLR is 0.

    Kulldorff, M. (1997) A spatial scan statistic.  Communications in Statistics: Theory and
    Methods 26, 1481-1496; focused tests: Lawson, A. B. (1993) On the analysis of mortality
    events associated with a prespecified fixed point.  JRSS A 156, 363-377.
    """
    from .. import _kernels as K
    from ..montecarlo import normalise_seed, null_problem, replicate_maxima
    from ..result import monte_carlo_p_value, relative_risk
    from ..windows import chord2_to_distance

    _check_replications(n_replications)
    if not isinstance(min_cases, (int, np.integer)) or isinstance(min_cases, bool) \
            or min_cases < 1:
        raise ScanParameterError("min_cases", "a whole number >= 1", min_cases,
                                 "SaTScan's default is 2")
    seed = normalise_seed(rng)
    weights = np.ascontiguousarray(_expected_for(area, expected), dtype=np.float64)
    _, label, _ = _focus(area, focus)
    windows, d2 = focused_windows(area, focus, weights, max_population_fraction)
    C, W = float(area.total_cases), float(weights.sum())
    best_llr, best_size = np.zeros(1), np.zeros(1, dtype=np.int64)
    K.best_window_per_centre(windows.offsets, windows.neighbors, weights,
                             np.asarray(area.cases, dtype=np.float64), C, W, K.POISSON, K.HIGH,
                             int(min_cases), np.ones(1), best_llr, best_size)
    problem = null_problem(windows, weights, C, area.population, K.POISSON, K.HIGH, seed,
                           int(min_cases))
    null = replicate_maxima(problem, n_replications, backend=backend, progress=progress,
                            **backend_options)
    llr, size = float(best_llr[0]), int(best_size[0])
    members = windows.members(0, size).astype(np.int64)
    c = float(area.cases[members].sum())
    e = float(weights[members].sum())
    radius = float(chord2_to_distance(d2[members].max(), area.coordinates)) if size else 0.0
    return FocusedScanResult(
        focus=label, llr=llr, members=tuple(str(v) for v in area.ids[members]),
        member_indices=members, observed=c, expected=e,
        relative_risk=relative_risk(c, e, C) if size else None, radius=radius,
        n_windows=windows.n_windows, p_value=monte_carlo_p_value(llr, null),
        n_replications=n_replications, seed=seed,
        max_population_fraction=float(max_population_fraction), null_distribution=null)


# --- Besag-Newell ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class BesagNewellResult:
    """Besag and Newell's test around a focus for k cases.

    n_areas : the fewest nearest areas holding at least k cases; members : those areas;
    observed, expected : their counts; p_value : P(Poisson(expected) >= k).
    """

    focus: str
    k: int
    n_areas: int
    members: tuple[str, ...]
    member_indices: np.ndarray
    observed: float
    expected: float
    p_value: float

    def to_dict(self) -> dict:
        return {"focus": self.focus, "k": self.k, "n_areas": self.n_areas,
                "members": list(self.members), "observed": self.observed,
                "expected": self.expected, "p_value": self.p_value}


def besag_newell(area: StudyArea, focus: Focus, k: int, *, expected=None) -> BesagNewellResult:
    """Besag and Newell's (1991) test: are the k cases nearest the focus unusually close?

    With the areas ordered by distance from the focus (the engine's order), let m be the
    fewest nearest areas whose observed cases reach k, and E(m) their expected count
    (internal standardisation summing to the total, :func:`internal_expected`, or
    ``expected`` rescaled to it).  Few areas needed means the cases are concentrated; under a
    Poisson null the chance that m or fewer areas hold k cases is
    ``p = P(X >= k), X ~ Poisson(E(m))`` = P(k, E(m)), the regularised lower incomplete gamma
    function.  (The test does not condition on the total, and it is cheap: no Monte Carlo.)

    Besag, J. and Newell, J. (1991) The detection of clusters in rare diseases.  JRSS A 154,
    143-155.
    """
    from scipy import special

    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ScanParameterError("k", "a whole number of cases >= 1", k,
                                 "Besag and Newell suggest several, e.g. k = 2, 4, 8")
    if k > area.total_cases:
        raise ScanParameterError("k", f"at most the total cases ({area.total_cases})", k)
    e = _expected_for(area, expected)
    _, label, _ = _focus(area, focus)
    order, _ = focus_order(area, focus)
    cum_o = np.cumsum(np.asarray(area.cases, dtype=np.int64)[order])
    m = int(np.searchsorted(cum_o, k, side="left")) + 1
    members = order[:m]
    e_m = float(e[members].sum())
    p = float(special.gammainc(int(k), e_m)) if e_m > 0 else 0.0
    return BesagNewellResult(focus=label, k=int(k), n_areas=m,
                             members=tuple(str(v) for v in area.ids[members]),
                             member_indices=members, observed=float(cum_o[m - 1]),
                             expected=e_m, p_value=p)
