"""One pipeline for every analysis.

    validate (scan.params) -> data -> windows (scan.windows) -> observed kernel -> Monte Carlo
    (scan.montecarlo) -> secondary clusters (scan.secondary) -> clusters -> ScanResult

Analyses differ only in their data and kernel, which an :class:`Analysis` object supplies
(:class:`scan.spatial.SpatialAnalysis`, :class:`scan.spacetime.SpaceTimeAnalysis`); everything
else, cluster building and provenance included, is here once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .result import Cluster, ScanResult, gumbel_p_value, monte_carlo_p_value, relative_risk
from .windows import Windows, window_geometry


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
                  candidates: Candidates, null: np.ndarray) -> Cluster:
    """One reported cluster: candidate ``k``, its counts, p-values and geometry."""
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
    p = monte_carlo_p_value(statistic, null)
    return Cluster(
        rank=rank, center=centre_id, center_index=centre, **geometry,
        members=tuple(str(v) for v in data.ids[members]), member_indices=members,
        population=float(data.population[members].sum()), observed=c, expected=e,
        relative_risk=relative_risk(c, e, analysis.total_cases), llr=candidates.llr(k),
        test_statistic=statistic, p_value=p, gumbel_p_value=gumbel_p_value(statistic, null),
        center_x=cx, center_y=cy,
        shape=float(windows.shape[row]), angle=float(windows.angle[row]),
        **analysis.cluster_fields(when, p))


def run(analysis: Analysis, windows: Windows, *, n_replications: int, seed: int,
        parameters: dict, secondary: str = "no-overlap", backend: str = "threads",
        threads: int | None = None, progress=None, dask_options: dict | None = None,
        timings: dict | None = None) -> ScanResult:
    """The observed scan, the replications and the clusters of one analysis."""
    from .montecarlo import numba_threads, replicate_maxima
    from .secondary import select

    timings = dict(timings or {})
    with numba_threads(threads if backend == "threads" else None):
        t0 = time.perf_counter()
        candidates = analysis.observed(windows)
        kept = select(secondary, candidates, windows, analysis)
        timings["observed_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        problem = analysis.null_problem(windows, seed)
        null = replicate_maxima(problem, n_replications, backend=backend, progress=progress,
                                threads=threads, **(dask_options or {}))
        timings["monte_carlo_s"] = time.perf_counter() - t0

    clusters = tuple(build_cluster(analysis, windows, rank, k, candidates, null)
                     for rank, k in enumerate(kept, start=1))
    statistic = clusters[0].test_statistic if clusters else 0.0
    parameters = {**parameters, "secondary_criterion": secondary, "backend": backend,
                  "n_windows": parameters.get("n_windows", windows.n_windows)}
    return ScanResult(statistic=statistic, p_value=monte_carlo_p_value(statistic, null),
                      null_distribution=null, clusters=clusters, area=analysis.data,
                      parameters=parameters, seed=seed, versions=versions(),
                      analysis=analysis.name, timings=timings)
