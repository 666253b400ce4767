"""The purely spatial circular scan (Kulldorff 1997): the public entry point."""
from __future__ import annotations

import math
import time
from typing import Callable, Literal

import numpy as np

from . import _kernels as K
from .data import StudyArea
from .errors import ScanParameterError, check_choice
from .montecarlo import normalise_seed, null_problem, replicate_maxima
from .result import Cluster, ScanResult, gumbel_p_value, monte_carlo_p_value, relative_risk
from .windows import Windows, build_windows, window_radius

Model = Literal["poisson", "bernoulli"]
Direction = Literal["high", "low", "both"]


def versions() -> dict:
    import numba
    import numpy

    from . import __version__

    return {"scan": __version__, "numba": numba.__version__, "numpy": numpy.__version__}


def model_arrays(area: StudyArea, model: str) -> tuple[np.ndarray, float, float]:
    """Per-location window weights and the totals (C, W) the kernels use.

    Poisson: weights are the expected counts (summing to C).  Bernoulli: weights are the
    populations (cases + controls), W = N.
    """
    C = float(area.total_cases)
    if model == "poisson":
        weights = np.ascontiguousarray(area.expected, dtype=np.float64)
    else:
        weights = np.ascontiguousarray(area.population, dtype=np.float64)
    return weights, C, float(weights.sum())


def check_common(model, direction, n_replications) -> None:
    check_choice("model", model, ("poisson", "bernoulli"))
    check_choice("direction", direction, ("high", "low", "both"))
    if not isinstance(n_replications, (int, np.integer)) or isinstance(n_replications, bool) \
            or n_replications < 0:
        raise ScanParameterError("n_replications", "a whole number >= 0", n_replications,
                                 "SaTScan's default is 999; use 9999 for p-values below 0.001")


def best_windows(windows: Windows, weights, cases, C, W, model: str, direction: str,
                 min_cases: int = 2):
    """Best LLR and its window size for every centre of the observed data."""
    n_c = len(windows.offsets) - 1
    best_llr = np.zeros(n_c)
    best_size = np.zeros(n_c, dtype=np.int64)
    K.best_window_per_centre(windows.offsets, windows.neighbors, weights,
                             np.asarray(cases, dtype=np.float64), C, W, K.MODEL_CODES[model],
                             K.DIRECTION_CODES[direction], min_cases, best_llr, best_size)
    return best_llr, best_size


def non_overlapping(best_llr: np.ndarray, best_size: np.ndarray, windows: Windows,
                    n_locations: int) -> list[tuple[int, int, float]]:
    """SaTScan's default secondary clusters: the best circle of each centre, most likely first
    (equal LLRs: fewer locations first, then the lower centre index, as SaTScan ranks them),
    kept when it shares no location with a kept one."""
    order = np.lexsort((np.arange(len(best_llr)), best_size, -best_llr))
    taken = np.zeros(n_locations, dtype=bool)
    kept = []
    for i in order:
        if best_llr[i] <= 0:
            break
        members = windows.members(i, best_size[i])
        if taken[members].any():
            continue
        taken[members] = True
        kept.append((int(i), int(best_size[i]), float(best_llr[i])))
    return kept


def make_cluster(area: StudyArea, windows: Windows, rank: int, centre: int, size: int, llr: float,
                 null: np.ndarray, model: str, **time_fields) -> Cluster:
    members = windows.members(centre, size).astype(np.int64)
    c = float(area.cases[members].sum())
    C = float(area.total_cases)
    if model == "poisson":
        e = float(area.expected[members].sum())
    else:
        e = float(area.population[members].sum() * C / area.population.sum())
    return Cluster(
        rank=rank, center=str(area.ids[centre]), center_index=int(centre),
        radius=window_radius(area.coords, area.coordinates, centre, members),
        members=tuple(str(v) for v in area.ids[members]), member_indices=members,
        population=float(area.population[members].sum()), observed=c, expected=e,
        relative_risk=relative_risk(c, e, C), llr=llr,
        p_value=monte_carlo_p_value(llr, null), gumbel_p_value=gumbel_p_value(llr, null),
        center_x=float(area.coords[centre, 0]), center_y=float(area.coords[centre, 1]),
        **time_fields)


def circular_scan(area: StudyArea, *, model: Model = "poisson", direction: Direction = "high",
                  max_population_fraction: float = 0.5, max_radius: float | None = None,
                  n_replications: int = 999, rng=None, backend: str = "threads",
                  progress: Callable[[int, int], None] | None = None,
                  min_cases: int = 2, windows: Windows | None = None,
                  **backend_options) -> ScanResult:
    """Purely spatial circular scan with Monte Carlo inference.

    Parameters
    ----------
    area : the study data (:func:`scan.study_area`, :func:`scan.read_csv`, ...).
    model : "poisson" (cases against expected counts) or "bernoulli" (cases and controls).
    direction : scan for "high" rates (default), "low", or "both".
    max_population_fraction : largest share of the population at risk in a circle, in (0, 0.5]
        (default 0.5, SaTScan's default).  As in SaTScan the population at risk is the model's
        measure: expected counts for Poisson (covariate-adjusted), cases + controls for Bernoulli.
    max_radius : optional largest circle radius (coordinate units; km for latlong data).
    n_replications : Monte Carlo replications (default 999).
    rng : int, SeedSequence, Generator or None; the root entropy is recorded as ``result.seed``.
    backend : "threads" (Numba, all cores) or "dask" (``scheduler=``, ``n_workers=`` options).
    progress : optional callback ``progress(done, total)`` called as replications finish.
    min_cases : fewest cases a high-rate cluster may hold (SaTScan's default 2).

    Returns
    -------
    ScanResult.  The p-value of a cluster is ``(1 + number of replicate maxima >= its LLR) /
    (R + 1)``, counting a replicate maximum as reaching the LLR within a relative 1e-9.
    """
    check_common(model, direction, n_replications)
    seed = normalise_seed(rng)
    timings = {}
    t0 = time.perf_counter()
    weights, C, W = model_arrays(area, model)
    if windows is None:
        windows = build_windows(area.coords, weights, coordinates=area.coordinates,
                                max_population_fraction=max_population_fraction,
                                max_radius=max_radius)
    timings["windows_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    best_llr, best_size = best_windows(windows, weights, area.cases, C, W, model, direction,
                                       min_cases)
    kept = non_overlapping(best_llr, best_size, windows, area.n_locations)
    timings["observed_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    problem = null_problem(windows, weights, C, area.population, K.MODEL_CODES[model],
                           K.DIRECTION_CODES[direction], seed, min_cases)
    null = replicate_maxima(problem, n_replications, backend=backend, progress=progress,
                            **backend_options)
    timings["monte_carlo_s"] = time.perf_counter() - t0

    clusters = tuple(make_cluster(area, windows, rank, i, size, llr, null, model)
                     for rank, (i, size, llr) in enumerate(kept, start=1))
    statistic = clusters[0].llr if clusters else 0.0
    parameters = {
        "analysis": "purely spatial", "model": model, "direction": direction,
        "max_population_fraction": max_population_fraction, "max_radius": max_radius,
        "n_replications": n_replications, "min_cases": min_cases, "backend": backend,
        "n_windows": windows.n_windows,
    }
    return ScanResult(statistic=statistic, p_value=monte_carlo_p_value(statistic, null),
                      null_distribution=null, clusters=clusters, area=area,
                      parameters=parameters, seed=seed, versions=versions(), timings=timings)


