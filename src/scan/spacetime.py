"""Space-time scans (SaTScan's space-time family): retrospective and prospective space-time
Poisson (Kulldorff 1998, 2001), space-time permutation (Kulldorff 2005) and the purely temporal
Poisson scan.

Data flow: records (a long CSV, :mod:`scan.io.spacetime_csv`; SaTScan files, :mod:`scan.io.satscan`
and :mod:`scan.io.prm`; the embedded borough, :func:`scan.datasets.borough_spacetime`) ->
:class:`scan.data.SpaceTimeData` (cases and expected counts by location x time interval) ->
:func:`spacetime_scan`: the spatial windows plus a time interval, through :mod:`scan.pipeline`.

SaTScan's conventions, followed here (time intervals, the maximum temporal window and person-time
are in :mod:`scan.timeline`):

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
from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import models
from .data import SpaceTimeData
from .errors import ScanParameterError
from .montecarlo import Backend, Progress
from .pipeline import Candidates
from .timeline import DAYS_PER_UNIT, max_temporal_intervals
from .windows import ELLIPSE_ANGLES, ELLIPSE_SHAPES, Windows, best_row_per_centre

log = logging.getLogger(__name__)

Model = Literal["poisson", "permutation"]
Analysis = Literal["retrospective", "prospective", "temporal"]
ANALYSIS_NAMES = {"retrospective": "retrospective space-time",
                  "prospective": "prospective space-time", "temporal": "purely temporal"}


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
    model: models.Model
    analysis: str
    cases: np.ndarray          # (n, T) float64
    expected: np.ndarray       # (n, T) float64
    min_len: int
    max_len: int
    min_cases: int
    n_earlier_analyses: int
    scale: np.ndarray | None = None   # per window row: the non-compactness penalty (ellipses)

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

    def observed(self, windows: Windows) -> Candidates:
        from . import _st_kernels as SK
        from .montecarlo import row_scale

        n = windows.n_rows
        llr, size = np.zeros(n), np.zeros(n, dtype=np.int64)
        t1, t2 = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        SK.best_cylinder_per_centre(windows.offsets, windows.neighbors, _prefix(self.cases),
                                    _prefix(self.expected), self.total_cases, self.min_len,
                                    self.max_len, self.first_end, self.min_cases,
                                    row_scale(windows, self.scale), llr, size, t1, t2)
        rows = best_row_per_centre(windows, llr, size, penalised=self.scale is not None,
                                   rule="spacetime" if self.analysis == "retrospective"
                                   else "spatial")
        if rows is None:
            return Candidates(statistic=llr, size=size, t1=t1, t2=t2, scale=self.scale)
        return Candidates(statistic=llr[rows], size=size[rows], t1=t1[rows], t2=t2[rows],
                          scale=self.scale, row=rows)

    def null_problem(self, windows: Windows, entropy: int):
        from . import _st_kernels as SK
        from ._random import alias_table
        from .montecarlo import SpaceTimeNullProblem, row_scale

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
            case_time=np.ascontiguousarray(case_time, dtype=np.int64), entropy=entropy,
            scale=row_scale(windows, self.scale))

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
                   progress: Progress | None = None, secondary: str = "no-overlap",
                   shape: str = "circle", ellipse_shapes=ELLIPSE_SHAPES,
                   ellipse_angles=ELLIPSE_ANGLES, non_compactness_penalty: str = "medium"):
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
    secondary, shape, ellipse_shapes, ellipse_angles, non_compactness_penalty
        As for :func:`scan.circular_scan` (ellipses are cylinders' spatial windows too; they
        do not apply to the purely temporal analysis).  A retrospective analysis picks each
        centre's best cylinder across the penalised shapes by the highest test statistic,
        then the fewer locations (SaTScan's rule for retrospective space-time scans); a
        prospective one as the purely spatial scan does.

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
    from .montecarlo import normalise_seed
    from .params import check_all
    from .pipeline import run
    from .spatial import window_parameters
    from .windows import build_windows, check_ellipse_settings

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
                       scheduler=scheduler, n_workers=n_workers, block_size=block_size,
                       shape=shape, ellipse_shapes=ellipse_shapes, ellipse_angles=ellipse_angles,
                       non_compactness_penalty=non_compactness_penalty),
                  choices={"model": models.models_for("spacetime")})
    if analysis != "temporal":
        check_ellipse_settings(shape, ellipse_shapes, ellipse_angles, data.coordinates)
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
                                max_radius=p["max_radius"], shape=p["shape"],
                                ellipse_shapes=p["ellipse_shapes"],
                                ellipse_angles=p["ellipse_angles"])
    st = SpaceTimeAnalysis(data=data, model=m, analysis=analysis, cases=cases,
                           expected=expected, min_len=p["min_temporal_length"],
                           max_len=int(max_len), min_cases=p["min_cases"],
                           n_earlier_analyses=p["n_earlier_analyses"],
                           scale=windows.penalty(p["non_compactness_penalty"]))
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
        **window_parameters(windows, p["non_compactness_penalty"]),
    }
    return run(st, windows, n_replications=p["n_replications"], seed=seed,
               parameters=parameters, secondary=secondary, backend=backend, threads=threads,
               progress=progress, timings=timings,
               dask_options=dict(scheduler=scheduler, n_workers=p["n_workers"],
                                 block_size=block_size, client=client))
