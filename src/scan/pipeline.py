"""One pipeline for every analysis.

    validate (scan.params) -> data -> windows (scan.windows) -> observed kernel -> Monte Carlo
    (scan.montecarlo) -> secondary clusters (scan.secondary) -> clusters -> ScanResult

Analyses differ only in their data and kernel, which an :class:`Analysis` object supplies
(:class:`scan.spatial.SpatialAnalysis`, :class:`scan.spacetime.SpaceTimeAnalysis`); everything
else, cluster building and provenance included, is here once.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from .result import (Cluster, EarlyTermination, GiniResult, ScanResult, Section,
                     gumbel_p_value, monte_carlo_p_value, relative_risk)
from .windows import Windows, window_geometry

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate clusters of the observed data: by default the best window of every window row,
    candidate k being row k; an analysis may add more candidates per row (``row`` maps each to
    its window row), such as the best cylinders before and after a centre's best one.

    statistic : (k,) the candidate's test statistic: its LLR times its row's ``scale`` (0 when
    the row has no window in the scanned direction).  size : (k,) its number of locations.
    t1, t2 : (k,) its time window ``[t1, t2)`` in intervals, or None for purely spatial scans.
    scale : (rows,) the multiplier of each row's LLR in the test statistic (the non-compactness
    penalty of an elliptic window), or None when it is 1 everywhere (circles): then the test
    statistic is the LLR.  row : (k,) the window row of each candidate, or None (k = row).
    """

    statistic: np.ndarray
    size: np.ndarray
    t1: np.ndarray | None = None
    t2: np.ndarray | None = None
    scale: np.ndarray | None = None
    row: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.statistic)

    def row_of(self, k: int) -> int:
        return int(k if self.row is None else self.row[k])

    def llr(self, k: int) -> float:
        """The candidate's log-likelihood ratio (without the penalty)."""
        s = float(self.statistic[k])
        return s if self.scale is None else s / float(self.scale[self.row_of(k)])

    def time_window(self, k: int) -> tuple[int, int] | None:
        if self.t1 is None:
            return None
        return int(self.t1[k]), int(self.t2[k])


class Analysis(Protocol):
    """What an analysis supplies to the pipeline: its data and its kernels."""

    name: str            # "purely spatial", "retrospective space-time", ...
    data: Any            # StudyArea or SpaceTimeData (ids, coords, coordinates, population)
    total_cases: float
    whole_area: bool     # the purely temporal scan: one window, the whole area

    def observed(self, windows: Windows) -> Candidates: ...

    def null_problem(self, windows: Windows, entropy: int): ...

    def members(self, windows: Windows, row: int, size: int) -> np.ndarray: ...

    def counts(self, members: np.ndarray, time_window) -> tuple[float, float]: ...

    def cluster_fields(self, time_window, p_value: float) -> dict: ...


def versions() -> dict:
    import numba
    import numpy

    from . import __version__

    return {"scan": __version__, "numba": numba.__version__, "numpy": numpy.__version__}


def build_cluster(analysis: Analysis, windows: Windows, rank: int, k: int,
                  candidates: Candidates, null: np.ndarray, *, p_value: float | None = None,
                  iteration: int = 1) -> Cluster:
    """One reported cluster: candidate ``k``, its counts, p-values and geometry (``p_value``
    overrides the Monte Carlo p-value: early termination's)."""
    data = analysis.data
    row = candidates.row_of(k)
    size = int(candidates.size[k])
    statistic = float(candidates.statistic[k])
    members = np.asarray(analysis.members(windows, row, size), dtype=np.int64)
    when = candidates.time_window(k)
    c, e = analysis.counts(members, when)
    centre = int(windows.centre[row])
    if analysis.whole_area:
        cx, cy = (float(v) for v in data.coords.mean(axis=0))
        centre_id, geometry = "(whole area)", {"radius": 0.0}
    else:
        cx, cy = windows.centre_of(row, data.coords)
        centre_id = str(data.ids[centre]) if centre >= 0 else "(focus)"
        geometry = window_geometry(windows, row, data.coords, data.coordinates, (cx, cy),
                                   members)
    p = monte_carlo_p_value(statistic, null) if p_value is None else p_value
    return Cluster(
        rank=rank, center=centre_id, center_index=centre, **geometry,
        members=tuple(str(v) for v in data.ids[members]), member_indices=members,
        population=float(data.population[members].sum()), observed=c, expected=e,
        relative_risk=relative_risk(c, e, analysis.total_cases), llr=candidates.llr(k),
        test_statistic=statistic, p_value=p, gumbel_p_value=gumbel_p_value(statistic, null),
        center_x=cx, center_y=cy,
        shape=float(windows.shape[row]), angle=float(windows.angle[row]), iteration=iteration,
        **analysis.cluster_fields(when, p))


# --- inference options --------------------------------------------------------------------------

@dataclass(frozen=True)
class Inference:
    """How clusters are reported and their p-values computed (the keywords of the same names).

    secondary : the secondary-cluster criterion (:data:`scan.secondary.CRITERIA`).
    drop_p_one : SaTScan's reporting rule: a secondary cluster is left out when every replicate
        statistic reaches its own (p = 1) or its statistic is below 0.001 (with no
        replications: at most 10 clusters).
    gini, gini_collections, gini_cutoff : SaTScan's Gini-optimised collections (purely spatial).
    iterative, iterative_max, iterative_cutoff : the iterative scan.
    early_termination, early_termination_threshold : SaTScan's sequential Monte Carlo.
    """

    secondary: str = "no-overlap"
    drop_p_one: bool = False
    gini: bool = False
    gini_collections: str = "optimal"
    gini_cutoff: float = 0.05
    iterative: bool = False
    iterative_max: int = 10
    iterative_cutoff: float = 0.05
    early_termination: bool = False
    early_termination_threshold: int | None = None

    KEYWORDS = ("secondary", "drop_p_one", "gini", "gini_collections", "gini_cutoff",
                "iterative", "iterative_max", "iterative_cutoff", "early_termination",
                "early_termination_threshold")

    def threshold(self, n_replications: int) -> int | None:
        """The early-termination threshold in force, or None (off, or fewer than 99
        replications: SaTScan never stops early then)."""
        from .montecarlo import default_threshold
        from .secondary import MIN_REPLICATIONS_FOR_P

        if not self.early_termination or n_replications < MIN_REPLICATIONS_FOR_P:
            return None
        return self.early_termination_threshold or default_threshold(n_replications)

    def parameters(self, n_replications: int) -> dict:
        d = {"secondary_criterion": self.secondary, "drop_p_one": self.drop_p_one,
             "early_termination": self.early_termination,
             "early_termination_threshold": self.threshold(n_replications)}
        if self.iterative:
            d.update(iterative=True, iterative_max=self.iterative_max,
                     iterative_cutoff=self.iterative_cutoff)
        if self.gini:
            d.update(gini=True, gini_collections=self.gini_collections,
                     gini_cutoff=self.gini_cutoff)
        return d


def check_inference(options: Inference, *, analysis: str, model: str, n_replications: int,
                    max_population_fraction: float = 0.5) -> None:
    """The combinations SaTScan refuses, refused before any work (``analysis``: "spatial",
    "retrospective", "prospective" or "temporal")."""
    from .errors import ScanParameterError
    from .secondary import GINI_MAXIMA, MIN_REPLICATIONS_FOR_P, gini_maxima

    t = options.early_termination_threshold
    if options.early_termination and 0 < n_replications < MIN_REPLICATIONS_FOR_P:
        log.warning("early termination needs at least %d replications (SaTScan's rule); all %d "
                    "will run", MIN_REPLICATIONS_FOR_P, n_replications)
    if t is not None and n_replications > 0 and t > n_replications:
        raise ScanParameterError("early_termination_threshold",
                                 f"at most the number of replications ({n_replications})", t,
                                 "SaTScan's rule is (R + 1) // 20; leave it unset to use it",
                                 flag="--early-termination-threshold")
    if options.gini:
        if analysis != "spatial":
            raise ScanParameterError("gini", "False outside purely spatial scans", True,
                                     "SaTScan computes Gini clusters for purely spatial scans "
                                     "only", flag="--gini")
        if options.iterative:
            raise ScanParameterError("gini", "False with the iterative scan", True,
                                     "SaTScan does not combine Gini clusters with the "
                                     "iterative scan; drop one of them", flag="--gini")
        if not gini_maxima(100.0 * max_population_fraction):
            raise ScanParameterError(
                "gini", f"used with windows of at least {GINI_MAXIMA[0]}% of the population "
                "at risk (the smallest Gini maximum size)", True,
                "raise max_population_fraction to 0.01 or more", flag="--gini")
    if options.iterative and analysis in ("retrospective", "prospective") \
            and model != "permutation":
        raise ScanParameterError("iterative", "False for space-time Poisson scans", True,
                                 "SaTScan offers the iterative space-time scan with the "
                                 "space-time permutation model only", flag="--iterative")


# --- one scan of the data -----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Scanned:
    """One scan of the data: its clusters (the kept candidates, built), the replicate maxima,
    and, with Gini, the collections."""

    clusters: tuple[Cluster, ...]
    keys: tuple[tuple, ...]            # per cluster: (row, size, t1, t2)
    null: np.ndarray
    early: EarlyTermination | None
    gini: GiniResult | None


def _hits(statistic: float, null: np.ndarray) -> int:
    from .result import P_VALUE_RTOL

    return int(np.count_nonzero(null >= statistic * (1.0 - P_VALUE_RTOL)))


def reportable(clusters, null: np.ndarray) -> list[int]:
    """Indices of the clusters SaTScan's reporting rule keeps (``printTopClusters``): the
    first always; a later one only with a test statistic of at least 0.001 and p < 1 (some
    replicate statistic below its own); with no replications, at most 10 clusters."""
    from .secondary import MIN_REPORTED_STATISTIC

    k = len(null)
    out = []
    for i, c in enumerate(clusters):
        if i == 0:
            out.append(i)
            continue
        if k == 0 and i >= 10:
            break
        if c.test_statistic >= MIN_REPORTED_STATISTIC and (k == 0 or _hits(c.test_statistic,
                                                                             null) < k):
            out.append(i)
    return out


def _key(candidates: Candidates, k: int) -> tuple:
    t = candidates.time_window(k)
    return (candidates.row_of(k), int(candidates.size[k])) + (t or (None, None))


def _scan_once(analysis, windows, options: Inference, *, n_replications, seed, backend,
               threads, progress, dask_options, timings, iteration=1, removed=None) -> Scanned:
    from .montecarlo import EarlyStop, numba_threads, replicate_maxima
    from .result import sequential_p_value
    from .secondary import gini_maxima, select, truncated_windows

    with numba_threads(threads if backend == "threads" else None):
        t0 = time.perf_counter()
        collections = []
        if options.gini:
            weights = analysis.weights()[0]
            percents = gini_maxima(100.0 * windows.max_population_fraction)
            for q, w in zip(percents, truncated_windows(windows, weights, percents)):
                collections.append((q, w, analysis.observed(w)))
            observed_windows, candidates = collections[-1][1], collections[-1][2]
        else:
            observed_windows, candidates = windows, analysis.observed(windows)
        kept = select(options.secondary, candidates, observed_windows, analysis,
                      limit=1 if options.iterative else None, removed=removed)
        timings["observed_s"] = timings.get("observed_s", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        observed = float(candidates.statistic[kept[0]]) if kept else 0.0
        threshold = options.threshold(n_replications)
        stop = EarlyStop(observed, threshold) if threshold else None
        problem = analysis.null_problem(windows, seed)
        null = replicate_maxima(problem, n_replications, backend=backend, progress=progress,
                                threads=threads, stop=stop, **(dask_options or {}))
        timings["monte_carlo_s"] = (timings.get("monte_carlo_s", 0.0)
                                    + time.perf_counter() - t0)

    def p_of(statistic, most_likely):
        return sequential_p_value(statistic, null, requested=n_replications,
                                  threshold=threshold, most_likely=most_likely)

    clusters = []
    for rank, k in enumerate(kept, start=1):
        st = float(candidates.statistic[k])
        clusters.append(build_cluster(analysis, windows, rank, k, candidates, null,
                                      p_value=p_of(st, rank == 1 or options.iterative),
                                      iteration=iteration))
    keys = [_key(candidates, k) for k in kept]
    if options.drop_p_one:
        shown = reportable(clusters, null)
        clusters, keys = [clusters[i] for i in shown], [keys[i] for i in shown]
    early = (EarlyTermination(threshold=threshold, requested=n_replications, run=len(null))
             if threshold else None)
    gini = None
    if options.gini:
        gini = _gini(analysis, windows, collections, clusters[0] if clusters else None, null,
                     options, n_replications, p_of)
    return Scanned(tuple(clusters), tuple(keys), null, early, gini)


def _gini(analysis, windows, collections, mlc, null, options: Inference, n_replications,
          p_of) -> GiniResult:
    """SaTScan's Gini collections: per maximum size, the non-overlapping clusters of windows up
    to that size; their coefficients; the collection(s) reported."""
    from dataclasses import replace as dc_replace

    from .result import GiniCollection
    from .secondary import choose_gini, counted_for_gini, gini_coefficient, ranked, select

    weights, C, W = analysis.weights()
    poisson = analysis.model.name == "poisson"
    adjustment = 1.0 if poisson else C / W
    built = []
    for q, w, cands in collections:
        kept = select("no-overlap", cands, w, analysis)
        clusters = []
        for j, k in enumerate(kept):
            st = float(cands.statistic[k])
            clusters.append(build_cluster(analysis, windows, j + 1, k, cands, null,
                                          p_value=p_of(st, j == 0)))
        counted = counted_for_gini([c.p_value for c in clusters], options.gini_cutoff,
                                   n_replications)
        used = [c for c, f in zip(clusters, counted) if f]
        g = gini_coefficient([c.observed for c in used],
                             [c.expected if poisson else c.population for c in used],
                             [c.test_statistic for c in used], total_cases=C,
                             total_measure=W, adjustment=adjustment)
        built.append(GiniCollection(percent=q, coefficient=float(g), clusters=tuple(clusters),
                                    counted=tuple(counted)))
    chosen, optimal = choose_gini([c.coefficient for c in built],
                                  [len(c.clusters) for c in built], options.gini_collections)
    merged: list[Cluster] = []
    seen = set()
    for j in chosen:
        for c in built[j].clusters:
            key = (frozenset(c.member_indices.tolist()), c.start, c.end)
            if key not in seen:
                seen.add(key)
                merged.append(c)
    # most likely first, SaTScan's order (statistic; ties: fewer locations, the first location,
    # the lower centre)
    order = ranked(Candidates(statistic=np.array([c.test_statistic for c in merged]),
                              size=np.array([c.n_locations for c in merged], dtype=np.int64)))
    merged = [merged[i] for i in order]

    def is_mlc(c):
        return mlc is not None and set(c.member_indices.tolist()) == \
            set(mlc.member_indices.tolist()) and c.start == mlc.start

    merged = [dc_replace(c, rank=i + 1, p_value=p_of(c.test_statistic, is_mlc(c)))
              for i, c in enumerate(merged)]
    if options.drop_p_one:
        merged = [merged[i] for i in reportable(merged, null)]
    flags = counted_for_gini([c.p_value for c in merged], options.gini_cutoff, n_replications)
    return GiniResult(collections=tuple(built), reporting=options.gini_collections,
                      chosen=tuple(built[j].percent for j in chosen),
                      optimal=None if optimal is None else built[optimal].percent,
                      p_value_cutoff=options.gini_cutoff, clusters=tuple(merged),
                      gini_cluster=tuple(flags))


# --- the iterative scan: removing a cluster's data ----------------------------------------------

def _remove_spatial(analysis, key, removed):
    """Purely spatial (SaTScan's ``RemoveClusterSignificance``): the cluster's locations lose
    their cases and measure; Poisson expected counts of the others are rescaled so that they add
    up to the cases left; Bernoulli loses the locations' cases and controls."""
    from dataclasses import replace as dc_replace

    area = analysis.data
    cases = np.asarray(area.cases).copy()
    population = np.asarray(area.population, dtype=np.float64).copy()
    expected = np.asarray(area.expected, dtype=np.float64).copy()
    cases[removed] = 0
    population[removed] = 0.0
    expected[removed] = 0.0
    C = float(cases.sum())
    if analysis.model.name == "poisson":
        U = expected.sum()
        if U > 0:
            expected *= C / U
    else:
        N = population.sum()
        expected = population * (C / N) if N > 0 else expected
    new = dc_replace(area, cases=cases, population=population, expected=expected,
                     case_strata=None, population_strata=None, expected_external=None,
                     expected_scale=None, yearly=None)
    return dc_replace(analysis, data=new)


def _remove_permutation(analysis, key, removed):
    """Space-time permutation: the locations' cases over the whole study period, whatever the
    cluster's time window (SaTScan); expected counts recomputed from what is left."""
    from dataclasses import replace as dc_replace

    data = analysis.data
    cases = np.asarray(data.cases).copy()
    cases[removed, :] = 0
    population = np.asarray(data.population, dtype=np.float64).copy()
    population[removed] = 0.0
    changes = dict(cases=cases, population=population)
    if getattr(data, "cases_by_stratum", None) is not None:   # every covariate stratum
        by_stratum = np.asarray(data.cases_by_stratum).copy()
        by_stratum[removed] = 0
        changes["cases_by_stratum"] = by_stratum
    new = dc_replace(data, **changes)
    expected = np.ascontiguousarray(analysis.model.cell_expected(new), dtype=np.float64)
    return dc_replace(analysis, data=new, cases=np.ascontiguousarray(cases, dtype=np.float64),
                      expected=expected)


def _remove_temporal(analysis, key, removed):
    """Purely temporal Poisson: every location's cases and expected counts inside the cluster's
    time window; the expected counts left are rescaled to the cases left."""
    from dataclasses import replace as dc_replace

    data = analysis.data
    _, _, t1, t2 = key
    cases = np.asarray(data.cases).copy()
    expected = np.asarray(data.expected, dtype=np.float64).copy()
    cases[:, t1:t2] = 0
    expected[:, t1:t2] = 0.0
    U = expected.sum()
    if U > 0:
        expected *= cases.sum() / U
    new = dc_replace(data, cases=cases, expected=expected)
    return dc_replace(analysis, data=new,
                      cases=np.ascontiguousarray(cases.sum(axis=0, keepdims=True), dtype=float),
                      expected=np.ascontiguousarray(expected.sum(axis=0, keepdims=True)))


REMOVERS = {
    "purely spatial": _remove_spatial,
    "retrospective space-time": _remove_permutation,
    "prospective space-time": _remove_permutation,
    "purely temporal": _remove_temporal,
}
"""How the iterative scan removes a cluster's data, by analysis name (SaTScan's rules)."""


def _iterate(analysis, windows, options, rebuild, **kw) -> tuple[list, list, Scanned]:
    """Iterations of the iterative scan: (clusters, Iteration records, first scan)."""
    from .result import Iteration

    clusters, records, first = [], [], None
    removed = np.zeros(analysis.data.n_locations, dtype=bool)
    current, current_windows = analysis, windows
    for it in range(1, options.iterative_max + 1):
        scanned = _scan_once(current, current_windows, options, iteration=it,
                             removed=removed if it > 1 else None, **kw)
        first = first or scanned
        alive = int((~removed).sum())
        if not scanned.clusters:
            records.append(Iteration(it, 0.0, 1.0, scanned.null, current.total_cases, alive,
                                     scanned.early))
            break
        c = dataclasses.replace(scanned.clusters[0], rank=it, iteration=it)
        clusters.append(c)
        records.append(Iteration(it, c.test_statistic, c.p_value, scanned.null,
                                 current.total_cases, alive, scanned.early))
        if it >= options.iterative_max:
            break
        if kw["n_replications"] > 0 and c.p_value > options.iterative_cutoff:
            break
        if not current.whole_area:
            removed = removed.copy()
            removed[c.member_indices] = True
        current = REMOVERS[current.name](current, scanned.keys[0], c.member_indices)
        if current.total_cases < 2:
            break
        if not current.whole_area and int((~removed).sum()) < 2:
            break
        current_windows = rebuild(current) if rebuild is not None else current_windows
    return clusters, records, first


def run(analysis: Analysis, windows: Windows, *, n_replications: int, seed: int,
        parameters: dict, secondary: str | None = None, backend: str = "threads",
        threads: int | None = None, progress=None, dask_options: dict | None = None,
        timings: dict | None = None, inference: Inference | None = None,
        rebuild: Callable[[Analysis], Windows] | None = None) -> ScanResult:
    """The observed scan, the replications and the clusters of one analysis.

    ``inference`` holds the reporting and inference options (:class:`Inference`; ``secondary``
    overrides its criterion).  ``rebuild(analysis) -> Windows`` makes the windows of the data
    left after an iterative scan removed a cluster (the size cap is a share of what is left);
    without it the windows are kept.
    """
    options = inference or Inference()
    if secondary is not None:
        options = dataclasses.replace(options, secondary=secondary)
    timings = dict(timings or {})
    kw = dict(n_replications=n_replications, seed=seed, backend=backend, threads=threads,
              progress=progress, dask_options=dask_options, timings=timings)
    sections = []
    iterations: tuple = ()
    if options.iterative:
        clusters, records, scanned = _iterate(analysis, windows, options, rebuild, **kw)
        iterations = tuple(records)
        sections.append(Section("iterations", "Iterative scan:", tuple(
            f"iteration {r.iteration}: {r.total_cases:g} cases in {r.n_locations} locations, "
            + (f"LLR {clusters[i].llr:.6f}, p = {r.p_value:.4g}, {len(r.null_distribution):,}"
               f" replications" if i < len(clusters) else "no further cluster")
            for i, r in enumerate(records)), [r.to_dict() for r in records]))
    else:
        scanned = _scan_once(analysis, windows, options, **kw)
        clusters = list(scanned.clusters)
    if scanned.early is not None:
        sections.append(Section("early_termination", "Early termination (sequential Monte "
                                "Carlo):", (scanned.early.line(),), scanned.early.to_dict()))
    if scanned.gini is not None:
        sections.append(Section("gini", "Gini coefficients by maximum cluster size (% of the "
                                "population at risk):", scanned.gini.lines(),
                                scanned.gini.to_dict()))
    statistic = clusters[0].test_statistic if clusters else 0.0
    p_value = clusters[0].p_value if clusters else 1.0
    parameters = {**parameters, **options.parameters(n_replications), "backend": backend,
                  "n_windows": parameters.get("n_windows", windows.n_windows)}
    return ScanResult(statistic=statistic, p_value=p_value,
                      null_distribution=scanned.null, clusters=tuple(clusters),
                      area=analysis.data, parameters=parameters, seed=seed, versions=versions(),
                      analysis=analysis.name, timings=timings, sections=tuple(sections),
                      early_termination=scanned.early, iterations=iterations,
                      gini=scanned.gini)
