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
  intervals among the cases, keeping both margins.  With covariates (extra case-file columns,
  or ``strata=`` of the CSV reader) ``mu[z, d] = sum_k n(z, k) n(d, k) / n(k)`` and the null
  permutes within each covariate category.
- **Statistic**: the Poisson LLR for every model.  ``direction="high"`` (SaTScan's ScanAreas=1):
  a cylinder needs ``c > e`` and at least ``min_cases`` (2) cases; ``"low"`` (2): ``c < e``, no
  minimum; ``"both"`` (3): either, with one maximum over all of them, for the observed data and
  the replicates alike.
- **Prospective analyses** keep only cylinders that end at the last interval ("alive").  With
  ``adjust_earlier_analyses=True`` and ``prospective_start`` (SaTScan's AdjustForEarlierAnalyses
  and ProspectiveStartDate), each replicate's statistic is its maximum over every analysis from
  the start to now: the windows ending at each interval end from the one holding the start
  date to the last, each with the longest window that analysis allowed (a percentage of the
  study period up to its end), while the observed statistic keeps the alive windows; so the
  p-value is that of the largest statistic seen in any of those analyses.  As in SaTScan the
  circles are then limited by ``max_radius`` only (required; the population cap is not used).
- **Secondary clusters of retrospective analyses** (``secondary_time="satscan"``, SaTScan
  >= 10.2): each centre contributes its best cylinder and, recursively, the best cylinders with
  statistic > 1 in the time ranges before and after it (each range leaves out the interval next
  to the window it borders; SaTScan's first range after the best window ends before the last
  interval, so no extra cylinder contains the last interval, and its purely temporal extras are
  the first window met above 1 rather than the best: both reproduced); a candidate that fails
  the secondary criterion against a more likely cluster is still reported when the two do not
  overlap in time (a gap of at least one interval).  ``"corrected"``: the same without the two
  SaTScan quirks.  ``"ignore"``: SaTScan before 10.2 (one candidate per centre, overlap by
  location only).  Prospective analyses have one candidate per centre (their clusters all end
  at the last interval, so they always overlap in time).
"""
from __future__ import annotations

import datetime
import functools
import logging
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import models
from .data import SpaceTimeData
from .errors import ScanParameterError
from .montecarlo import Backend, Progress, with_progress_bar
from .pipeline import Candidates
from .timeline import DAYS_PER_UNIT, max_temporal_intervals
from .windows import ELLIPSE_ANGLES, ELLIPSE_SHAPES, Windows, best_row_per_centre

log = logging.getLogger(__name__)

Model = Literal["poisson", "permutation"]
Analysis = Literal["retrospective", "prospective", "temporal"]
Direction = Literal["high", "low", "both"]
SecondaryTime = Literal["satscan", "corrected", "ignore"]
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
    analyses in all (A = 1: ``adjP = p``); at least one day."""
    A = max(int(n_analyses), 1)
    adj = p_value if A == 1 else -math.expm1(math.log1p(-p_value) / A) if p_value < 1 else 1.0
    return max(DAYS_PER_UNIT[time_unit] * aggregation_length / adj, 1.0)


@dataclass(frozen=True, eq=False)
class SpaceTimeAnalysis:
    """A space-time (or purely temporal) scan's data and kernels, for
    :func:`scan.pipeline.run`.  ``cases``/``expected`` are the scanned tables: the data's, or
    for the purely temporal scan their sums over the whole area (one location).

    ``max_len_end`` (prospective analyses adjusted for earlier ones): per window end ``e`` the
    longest window of the analysis ending there, for the replicates; their windows end at
    ``null_first_end`` or later (the interval end of the first analysis), while the observed
    data keep the alive windows.  ``n_analyses``: the analyses the recurrence interval counts.
    """

    data: SpaceTimeData
    model: models.Model
    analysis: str
    cases: np.ndarray          # (n, T) float64
    expected: np.ndarray       # (n, T) float64
    min_len: int
    max_len: int
    min_cases: int
    n_earlier_analyses: int
    direction: str = "high"
    secondary_time: str = "satscan"
    null_first_end: int | None = None
    max_len_end: np.ndarray | None = None
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

    @property
    def n_analyses(self) -> int:
        """Analyses in the surveillance: from the prospective start to now when adjusting,
        else the earlier ones given plus this one."""
        if self.null_first_end is not None:
            return self.data.n_intervals - self.null_first_end + 1
        return self.n_earlier_analyses + 1

    @property
    def temporal_secondary(self) -> bool:
        """Whether secondary clusters follow SaTScan's (>= 10.2) time-aware rule: retrospective
        analyses (space-time and purely temporal) unless ``secondary_time="ignore"``."""
        return self.analysis in ("retrospective", "temporal") and \
            self.secondary_time != "ignore"

    @property
    def direction_code(self) -> int:
        from ._codes import DIRECTION_CODES

        return DIRECTION_CODES[self.direction]

    def time_windows(self, null: bool = False):
        """The time windows (:class:`scan._st_kernels.TimeWindows`) of the observed data or, with
        ``null``, of the replicates."""
        from . import _st_kernels as SK

        T = self.data.n_intervals
        if null and self.null_first_end is not None:
            return SK.TimeWindows(T, self.min_len, self.max_len, self.null_first_end,
                                  self.max_len_end)
        return SK.TimeWindows(T, self.min_len, self.max_len, self.first_end)

    @functools.cached_property
    def full_expected(self) -> np.ndarray:
        """Expected counts by location x interval of the data (not aggregated)."""
        return np.asarray(self.model.cell_expected(self.data), dtype=np.float64)

    def observed(self, windows: Windows) -> Candidates:
        from . import _st_kernels as SK
        from .montecarlo import row_scale

        tw = self.time_windows()
        T = self.data.n_intervals
        n = windows.n_rows
        llr, size = np.zeros(n), np.zeros(n, dtype=np.int64)
        t1, t2 = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        extras = self.temporal_secondary
        cap = T // 2 + 1 if extras else 0
        n_extra = np.zeros(n, dtype=np.int64)
        ex_stat = np.zeros((n, cap))
        ex_size, ex_t1, ex_t2 = (np.zeros((n, cap), dtype=np.int64) for _ in range(3))
        top_hi = T if self.secondary_time == "corrected" else T - 1
        first_met = self.whole_area and self.secondary_time == "satscan"
        scale = row_scale(windows, self.scale)
        SK.observed_cylinders(windows.offsets, windows.neighbors,
                              np.ascontiguousarray(_prefix(self.cases)[:, tw.points]),
                              np.ascontiguousarray(_prefix(self.expected)[:, tw.points]),
                              self.total_cases, tw.lo, tw.hi, tw.t1, tw.t2, tw.group,
                              self.direction_code, self.min_cases, scale, extras, top_hi,
                              first_met, llr, size, t1, t2, n_extra, ex_stat, ex_size, ex_t1,
                              ex_t2)
        # each centre's best row across the circle and the ellipses (SaTScan's choice)
        chosen = best_row_per_centre(windows, llr, size, penalised=self.scale is not None,
                                     rule="spacetime" if self.analysis == "retrospective"
                                     else "spatial")
        rows = np.arange(n) if chosen is None else chosen
        if not extras or not n_extra[rows].any():
            if chosen is None:
                return Candidates(statistic=llr, size=size, t1=t1, t2=t2, scale=self.scale)
            return Candidates(statistic=llr[rows], size=size[rows], t1=t1[rows], t2=t2[rows],
                              scale=self.scale, row=rows)
        # each chosen row's best cylinder, then its extra ones (most likely first, then fewer
        # locations): candidates of one centre stay together, centres in row order.  (With
        # ellipses SaTScan takes the extras from its last shape's table; scan from the chosen
        # row: see the README's differences.)
        has = np.zeros((n, cap), dtype=bool)
        has[rows] = np.arange(cap)[None, :] < n_extra[rows][:, None]
        all_rows = np.concatenate([rows, np.nonzero(has)[0]])
        kind = np.concatenate([np.zeros(len(rows)), np.ones(int(has.sum()))])
        stat = np.concatenate([llr[rows], ex_stat[has]])
        sizes = np.concatenate([size[rows], ex_size[has]])
        order = np.lexsort((sizes, -stat, kind, all_rows))
        return Candidates(statistic=stat[order], size=sizes[order],
                          t1=np.concatenate([t1[rows], ex_t1[has]])[order],
                          t2=np.concatenate([t2[rows], ex_t2[has]])[order], scale=self.scale,
                          row=all_rows[order].astype(np.int64))

    def null_problem(self, windows: Windows, entropy: int):
        from . import _st_kernels as SK
        from ._random import alias_table
        from .montecarlo import SpaceTimeNullProblem, row_scale

        strata = None
        if self.model.null == "permutation":
            case_loc, case_time, strata = self.data.permutation_cases()
            prob, alias = np.ones(1), np.zeros(1, dtype=np.int64)
            null_kind = SK.PERMUTATION
        else:
            tw = self.time_windows(null=True)
            counted = tw.bin_of >= 0
            # the alias table over every cell only when every interval counts (otherwise the
            # problem builds one over the cells that count)
            prob, alias = (alias_table(self.expected.ravel()) if counted.all()
                           else (np.ones(1), np.zeros(1, dtype=np.int64)))
            case_loc = case_time = np.zeros(0, dtype=np.int64)
            null_kind = SK.MULTINOMIAL
        adjusted = self.null_first_end is not None
        return SpaceTimeNullProblem(
            offsets=windows.offsets, neighbors=windows.neighbors,
            cum_expected=_prefix(self.expected), total_cases=self.total_cases,
            min_len=self.min_len, max_len=self.max_len,
            first_end=self.null_first_end if adjusted else self.first_end,
            min_cases=self.min_cases, null_kind=null_kind, prob=prob, alias=alias,
            case_loc=np.ascontiguousarray(case_loc, dtype=np.int64),
            case_time=np.ascontiguousarray(case_time, dtype=np.int64), entropy=entropy,
            scale=row_scale(windows, self.scale), direction=self.direction_code,
            max_len_end=self.max_len_end if adjusted else None,
            strata=strata if strata is not None and len(strata) > 2 else None)

    def members(self, windows: Windows, row: int, size: int) -> np.ndarray:
        if self.whole_area:
            return np.arange(self.data.n_locations)
        return windows.members(row, size)

    def counts(self, members: np.ndarray, time_window) -> tuple[float, float]:
        t1, t2 = time_window
        return (float(self.data.cases[members, t1:t2].sum()),
                float(self.full_expected[members, t1:t2].sum()))

    def cluster_fields(self, time_window, p_value: float) -> dict:
        t1, t2 = time_window
        data = self.data
        ri = (recurrence_interval(p_value, data.time_unit, data.aggregation_length,
                                  self.n_analyses)
              if self.analysis == "prospective" else None)
        return {"start": str(data.interval_starts[t1]), "end": str(data.interval_ends[t2 - 1]),
                "recurrence_interval": ri}

    def n_time_windows(self) -> int:
        return len(self.time_windows())


# ============================================================================ up-front estimate
RATE_EVALUATIONS = 2.0e9
"""Cylinder x replicate evaluations per second per core of the replicate kernel
(``benchmarks/bench_spacetime.py``: 2.9e9 on a quiet 2-vCPU Xeon, 1.1e9 to 2e9 when other jobs
shared it).  Set below the quiet figure so that the estimate errs long, by up to about 2x."""
RATE_UPDATES = 2.0e9
"""Replicate counts added per second per core when a circle grows (points x block)."""
RATE_DRAWS = 5.0e7
"""Cases drawn (or permuted) per second per core by the null generators."""
RATE_OBSERVED = 5.0e7
"""Cylinder evaluations per second per core of the observed scan (every LLR computed)."""


@dataclass(frozen=True)
class WorkEstimate:
    """What a space-time scan will cost, estimated before it starts.

    cylinders : cylinders of the observed scan.  replicate_cylinders : cylinders per replicate
    (more when replicates cover earlier analyses).  seconds : estimated run time (observed scan
    and replications on ``threads`` cores).  memory_bytes : memory the scan will allocate beyond
    its inputs and windows.  available_bytes : memory available now (None if unknown).
    """

    cylinders: int
    replicate_cylinders: int
    n_replications: int
    threads: int
    seconds: float
    memory_bytes: int
    available_bytes: int | None

    def text(self) -> str:
        avail = (f" of {_gib(self.available_bytes)} available" if self.available_bytes
                 is not None else "")
        return (f"space-time scan: {self.cylinders:,} cylinders observed, "
                f"{self.replicate_cylinders:,} per replicate x {self.n_replications:,} "
                f"replicates; {_duration(self.seconds)} on {self.threads} thread(s), "
                f"{_gib(self.memory_bytes)} of memory{avail}")


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 7200:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def available_memory() -> int | None:
    """Bytes of memory available to this process now: the kernel's MemAvailable, lowered by a
    cgroup limit when there is one; None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        return None
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            room = int(limit) - used
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    return avail


def estimate_work(st: SpaceTimeAnalysis, windows: Windows, n_replications: int,
                  threads: int | None = None) -> WorkEstimate:
    """Cylinders, time and memory of a scan before it runs (:class:`WorkEstimate`)."""
    import numba

    from . import _st_kernels as SK

    threads = int(threads or numba.get_num_threads())
    n, T = st.cases.shape
    circles = int(windows.n_windows)
    tw_obs, tw_null = st.time_windows(), st.time_windows(null=True)
    cyl_obs = circles * len(tw_obs)
    cyl_rep = circles * len(tw_null)
    P = tw_null.n_points
    block = SK.block_size_points(n, P)
    counted = tw_null.bin_of >= 0
    if st.model.null == "permutation":
        share = float(st.cases[:, counted].sum() / max(st.total_cases, 1.0))
    else:
        share = float(st.expected[:, counted].sum() / max(st.expected.sum(), 1e-300))
    drawn = st.total_cases * (share if share < 1.0 else 1.0)
    R = int(n_replications)
    par = min(threads, max(1, -(-R // block))) if R else 1
    seconds = (cyl_obs / RATE_OBSERVED / threads
               + R * (cyl_rep / RATE_EVALUATIONS + circles * P / RATE_UPDATES
                      + drawn / RATE_DRAWS) / par)
    extras = st.temporal_secondary
    cap = T // 2 + 1 if extras else 0
    memory = (
        3 * n * (T + 1) * 8                                       # prefix tables
        + threads * len(tw_obs) * 16 * extras                    # per-thread table of extras
        + windows.n_rows * (32 + 32 * cap)                        # per-row results
        + n * P * 8                                               # expected at the points
        + (n * T * 16 if st.model.null != "permutation" and counted.all() else 0)
        + (int(st.total_cases) * 24 if st.model.null == "permutation" else 0)
        + par * (n * P * block * 4 + n * P * 4 + int(drawn) * 17)  # blocks in flight
    )
    return WorkEstimate(cylinders=cyl_obs, replicate_cylinders=cyl_rep, n_replications=R,
                        threads=threads, seconds=float(seconds), memory_bytes=int(memory),
                        available_bytes=available_memory())


def _check_memory(est: WorkEstimate, windows: Windows, st: SpaceTimeAnalysis) -> None:
    if est.available_bytes is None or est.memory_bytes <= 0.9 * est.available_bytes:
        return
    raise ScanParameterError(
        "max_temporal_fraction/max_population_fraction",
        f"a window set that fits in memory: this scan needs about {_gib(est.memory_bytes)} "
        f"and {_gib(est.available_bytes)} is available ({windows.n_windows:,} circles x "
        f"{est.cylinders // max(windows.n_windows, 1):,} time windows, "
        f"{st.data.n_locations:,} locations x {st.data.n_intervals:,} intervals)",
        f"{est.cylinders:,} cylinders",
        "use smaller windows (--max-population-fraction, --max-radius, "
        "--max-temporal-length), fewer threads (--threads), or the Dask backend on machines "
        "with more memory")


# ============================================================================ prospective start
def _prospective_windows(data: SpaceTimeData, start, min_len: int, fraction: float,
                         max_length: float | None) -> tuple[int, np.ndarray]:
    """SaTScan's analyses since the prospective start: the end index P of the first analysis
    (1 + the interval holding the start date) and, per window end e (P to T), the longest
    window of the analysis ending there (a percentage of the study period up to its end, or the
    fixed length)."""
    from .timeline import _as_period_bound

    day = _as_period_bound(start, end=False)
    if not (data.study_start <= day <= data.study_end):
        raise ScanParameterError("prospective_start", f"a date in the study period "
                                 f"{data.study_start} to {data.study_end}", str(start),
                                 flag="--prospective-start")
    T = data.n_intervals
    P = int(np.searchsorted(data.interval_starts, day, side="right"))
    if P < min_len:
        raise ScanParameterError("prospective_start", f"a date that leaves the first analysis "
                                 f"at least the shortest time window ({min_len} intervals)",
                                 str(start), flag="--prospective-start")
    lengths = np.zeros(T + 1, dtype=np.int64)
    for e in range(P, T + 1):
        try:
            lengths[e] = max_temporal_intervals(data.study_start, data.interval_ends[e - 1],
                                                data.time_unit, data.aggregation_length, e,
                                                fraction=fraction, max_length=max_length)
        except ScanParameterError:      # an early analysis too short for a whole interval
            lengths[e] = 0
    return P, lengths


@with_progress_bar
def spacetime_scan(data: SpaceTimeData, *, model: Model = "poisson",
                   analysis: Analysis = "retrospective", direction: Direction = "high",
                   max_temporal_fraction: float = 0.5,
                   max_temporal_length: float | None = None, min_temporal_length: int = 1,
                   max_population_fraction: float = 0.5, max_radius: float | None = None,
                   min_cases: int = 2, n_earlier_analyses: int = 0,
                   prospective_start: str | None = None, adjust_earlier_analyses: bool = False,
                   n_replications: int = 999, rng=None, backend: Backend = "threads",
                   threads: int | None = None, scheduler: str | None = None, n_workers: int = 2,
                   block_size: int | None = None, client=None,
                   progress: Progress | bool | None = None, secondary: str = "no-overlap",
                   secondary_time: SecondaryTime = "satscan", drop_p_one: bool = False,
                   iterative: bool = False, iterative_max: int = 10,
                   iterative_cutoff: float = 0.05, early_termination: bool = False,
                   early_termination_threshold: int | None = None,
                   shape: str = "circle", ellipse_shapes=ELLIPSE_SHAPES,
                   ellipse_angles=ELLIPSE_ANGLES, non_compactness_penalty: str = "medium"):
    """Space-time (or purely temporal) scan with Monte Carlo inference.

    Parameters
    ----------
    data : SpaceTimeData
        Cases and expected counts by location x time interval (:func:`read_spacetime_csv`,
        :func:`read_satscan_spacetime`, :func:`borough_spacetime`).
    model : {"poisson", "permutation"}
        "poisson" (expected counts from the population) or "permutation" (space-time
        permutation, case-only; expected ``C_z C_t / C``, summed over covariate strata when the
        data have them).
    analysis : {"retrospective", "prospective", "temporal"}
        "retrospective" (every time window), "prospective" (windows ending at the last
        interval: "alive" clusters) or "temporal" (purely temporal: the whole area, Poisson).
    direction : {"high", "low", "both"}
        Scan for high rates (SaTScan's ScanAreas=1), low rates (2) or both (3).
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
    prospective_start, adjust_earlier_analyses : str, bool
        Prospective analyses adjusted for the earlier analyses (SaTScan's
        AdjustForEarlierAnalyses with ProspectiveStartDate): each replicate's statistic is its
        largest over the analyses from the interval holding ``prospective_start`` (a date such
        as "2001/11/20") to the last, so the p-value accounts for every analysis since then and
        the recurrence interval counts them.  Needs ``max_radius`` (the population cap is not
        used, as in SaTScan).
    n_replications, rng, backend, threads, scheduler, n_workers, block_size, client, progress,
    secondary, drop_p_one, early_termination, early_termination_threshold
        As for :func:`scan.circular_scan`.  ``progress`` may also have a ``describe(text)``
        method: it receives the up-front estimate of cylinders, time and memory.
    secondary_time : {"satscan", "corrected", "ignore"}
        Secondary clusters of retrospective analyses: "satscan" (SaTScan >= 10.2: extra
        candidates before and after each centre's best cylinder, and a cluster that shares
        locations with a more likely one is kept when they do not overlap in time),
        "corrected" (the same without SaTScan's two quirks: extras may contain the last
        interval, purely temporal extras are the best in their range) or "ignore" (SaTScan
        before 10.2).  See the module docstring.
    iterative, iterative_max, iterative_cutoff
        As for :func:`scan.circular_scan`; SaTScan offers it for the space-time permutation
        model and the purely temporal scan (the permutation model removes the cluster's
        locations over the whole study period).
    shape, ellipse_shapes, ellipse_angles, non_compactness_penalty
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
    from .pipeline import Inference, check_inference, run
    from .spatial import window_parameters
    from .windows import build_windows, check_ellipse_settings

    if not isinstance(data, SpaceTimeData):
        raise ScanParameterError("data", "a SpaceTimeData", type(data).__name__,
                                 "build it with read_spacetime_csv, read_satscan_spacetime or "
                                 "borough_spacetime")
    if isinstance(prospective_start, (np.datetime64, datetime.date)):
        prospective_start = str(np.datetime64(prospective_start, "D"))
    p = check_all(dict(model=model, analysis=analysis, direction=direction,
                       max_temporal_fraction=max_temporal_fraction,
                       max_temporal_length=max_temporal_length,
                       min_temporal_length=min_temporal_length,
                       max_population_fraction=max_population_fraction, max_radius=max_radius,
                       min_cases=min_cases, n_earlier_analyses=n_earlier_analyses,
                       prospective_start=prospective_start,
                       adjust_earlier_analyses=adjust_earlier_analyses,
                       n_replications=n_replications, backend=backend, threads=threads,
                       scheduler=scheduler, n_workers=n_workers, block_size=block_size,
                       secondary_time=secondary_time, secondary=secondary,
                       drop_p_one=drop_p_one, iterative=iterative,
                       iterative_max=iterative_max, iterative_cutoff=iterative_cutoff,
                       early_termination=early_termination,
                       early_termination_threshold=early_termination_threshold, shape=shape,
                       ellipse_shapes=ellipse_shapes, ellipse_angles=ellipse_angles,
                       non_compactness_penalty=non_compactness_penalty),
                  choices={"model": models.models_for("spacetime")})
    if analysis != "temporal":
        check_ellipse_settings(shape, ellipse_shapes, ellipse_angles, data.coordinates)
    inference = Inference(**{k: p[k] for k in Inference.KEYWORDS if k in p})
    check_inference(inference, analysis=analysis, model=model,
                    n_replications=p["n_replications"])
    if analysis == "temporal" and model != "poisson":
        raise ScanParameterError("model", "'poisson' for a purely temporal analysis", model,
                                 "the space-time permutation model needs a spatial dimension")
    adjust = p["adjust_earlier_analyses"]
    if adjust:
        if analysis != "prospective":
            raise ScanParameterError("adjust_earlier_analyses", "False unless analysis is "
                                     "'prospective'", True, flag="--adjust-earlier-analyses")
        if p["prospective_start"] is None:
            raise ScanParameterError("prospective_start", "a date (the first analysis) when "
                                     "adjusting for earlier analyses", None,
                                     "give the date surveillance started, e.g. '2001/11/20'",
                                     flag="--prospective-start")
        if p["n_earlier_analyses"]:
            raise ScanParameterError("n_earlier_analyses", "0 when adjusting for earlier "
                                     "analyses (they are counted from prospective_start)",
                                     p["n_earlier_analyses"], flag="--earlier-analyses")
        if p["max_radius"] is None:
            raise ScanParameterError("max_radius", "a distance when adjusting for earlier "
                                     "analyses", None, "SaTScan does not cap the circles by "
                                     "population then (the population changes between "
                                     "analyses): give --max-radius", flag="--max-radius")
    elif p["prospective_start"] is not None:
        raise ScanParameterError("prospective_start", "None unless adjust_earlier_analyses is "
                                 "True", p["prospective_start"],
                                 "add --adjust-earlier-analyses, or drop the start date",
                                 flag="--prospective-start")
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
    null_first_end = max_len_end = None
    if adjust:
        null_first_end, max_len_end = _prospective_windows(
            data, p["prospective_start"], p["min_temporal_length"],
            p["max_temporal_fraction"], p["max_temporal_length"])
    expected = np.ascontiguousarray(m.cell_expected(data), dtype=np.float64)
    cases = np.ascontiguousarray(data.cases, dtype=np.float64)

    def spatial_windows(d, e) -> Windows:
        """The circles (and ellipses) of the cylinders.  SaTScan: when adjusting for earlier
        analyses they are capped by distance only (zero weights never reach the population
        cap)."""
        weights = np.zeros(d.n_locations) if adjust else e.sum(axis=1)
        return build_windows(d.coords, weights, coordinates=d.coordinates,
                             max_population_fraction=p["max_population_fraction"],
                             max_radius=p["max_radius"], shape=p["shape"],
                             ellipse_shapes=p["ellipse_shapes"],
                             ellipse_angles=p["ellipse_angles"])

    if analysis == "temporal":     # the whole area is one location, scanned in one window
        expected = expected.sum(axis=0, keepdims=True)
        cases = cases.sum(axis=0, keepdims=True)
        windows = Windows.single([0])
    else:
        windows = spatial_windows(data, expected)
    st = SpaceTimeAnalysis(data=data, model=m, analysis=analysis, cases=cases,
                           expected=expected, min_len=p["min_temporal_length"],
                           max_len=int(max_len), min_cases=p["min_cases"],
                           n_earlier_analyses=p["n_earlier_analyses"], direction=direction,
                           secondary_time=secondary_time, null_first_end=null_first_end,
                           max_len_end=max_len_end,
                           scale=windows.penalty(p["non_compactness_penalty"]))
    estimate = estimate_work(st, windows, p["n_replications"],
                             p["threads"] if backend == "threads" else None)
    log.info(estimate.text())
    _check_memory(estimate, windows, st)
    if progress is not None and callable(getattr(progress, "describe", None)):
        progress.describe(estimate.text())
    timings = {"windows_s": time.perf_counter() - t0}
    parameters = {
        "analysis": st.name, "model": model, "direction": direction,
        "max_population_fraction": (p["max_population_fraction"]
                                    if analysis != "temporal" and not adjust else 1.0),
        "max_radius": p["max_radius"], "max_temporal_fraction": p["max_temporal_fraction"],
        "max_temporal_length": p["max_temporal_length"], "max_temporal_intervals": int(max_len),
        "min_temporal_length": p["min_temporal_length"],
        "time_aggregation": data.time_unit, "aggregation_length": data.aggregation_length,
        "study_start": str(data.study_start), "study_end": str(data.study_end),
        "n_intervals": int(T), "n_replications": p["n_replications"],
        "min_cases": p["min_cases"], "n_earlier_analyses": p["n_earlier_analyses"],
        "n_windows": int(windows.n_windows) * st.n_time_windows(),
        "secondary_time": secondary_time if st.temporal_secondary else "ignore",
        "estimated_seconds": round(estimate.seconds, 3),
        "estimated_memory_bytes": estimate.memory_bytes,
        **window_parameters(windows, p["non_compactness_penalty"]),
    }
    if adjust:
        parameters.update(adjust_earlier_analyses=True,
                          prospective_start=p["prospective_start"],
                          first_analysis_interval=str(data.interval_starts[null_first_end - 1]),
                          n_analyses=st.n_analyses,
                          n_replicate_windows=int(windows.n_windows)
                          * len(st.time_windows(null=True)))
    if data.n_strata > 1 and model == "permutation":
        parameters["covariate_strata"] = list(data.extra.get("strata_names", ()))

    def make_windows(a: SpaceTimeAnalysis) -> Windows:
        """The windows of the data left by an iterative scan (as built above)."""
        return windows if a.whole_area else spatial_windows(a.data, a.expected)

    return run(st, windows, n_replications=p["n_replications"], seed=seed,
               parameters=parameters, backend=backend, threads=threads,
               progress=progress, timings=timings, inference=inference, rebuild=make_windows,
               dask_options=dict(scheduler=scheduler, n_workers=p["n_workers"],
                                 block_size=block_size, client=client))
