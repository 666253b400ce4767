"""The purely spatial circular scan (Kulldorff 1997): its data and kernel, and the public entry
point :func:`circular_scan`."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import models
from .data import StudyArea
from .errors import ScanParameterError
from .montecarlo import Backend, Progress, normalise_seed, null_problem
from .params import check_all
from .pipeline import Candidates, run
from .result import ScanResult
from .windows import Windows, build_windows

Model = Literal["poisson", "bernoulli"]
Direction = Literal["high", "low", "both"]
Criterion = Literal["no-overlap"]
DaskMode = Literal["replications", "centres"]


def model_arrays(area: StudyArea, model: str) -> tuple[np.ndarray, float, float]:
    """Per-location window weights and the totals (C, W) the kernels use
    (:meth:`scan.models.Model.spatial_weights`)."""
    return models.get(model, "spatial").spatial_weights(area)


def best_windows(windows: Windows, weights, cases, C, W, model: str, direction: str,
                 min_cases: int = 2, scale=None):
    """Best test statistic (LLR x the row's scale, default 1) and its window size for every row
    of the observed data."""
    from . import _kernels as K
    from .montecarlo import row_scale

    best_llr = np.zeros(windows.n_rows)
    best_size = np.zeros(windows.n_rows, dtype=np.int64)
    K.best_window_per_centre(windows.offsets, windows.neighbors, weights,
                             np.asarray(cases, dtype=np.float64), C, W, K.MODEL_CODES[model],
                             K.DIRECTION_CODES[direction], min_cases, row_scale(windows, scale),
                             best_llr, best_size)
    return best_llr, best_size


@dataclass(frozen=True, eq=False)
class SpatialAnalysis:
    """A purely spatial scan's data and kernels, for :func:`scan.pipeline.run`."""

    data: StudyArea
    model: models.Model
    direction: str
    min_cases: int
    name: str = "purely spatial"
    whole_area: bool = False

    @property
    def total_cases(self) -> float:
        return float(self.data.total_cases)

    def weights(self):
        return self.model.spatial_weights(self.data)

    def observed(self, windows: Windows) -> Candidates:
        weights, C, W = self.weights()
        llr, size = best_windows(windows, weights, self.data.cases, C, W, self.model.name,
                                 self.direction, self.min_cases)
        return Candidates(statistic=llr, size=size)

    def null_problem(self, windows: Windows, entropy: int):
        from . import _kernels as K

        weights, C, _ = self.weights()
        return null_problem(windows, weights, C, self.data.population, self.model.llr,
                            K.DIRECTION_CODES[self.direction], entropy, self.min_cases)

    def members(self, windows: Windows, row: int, size: int) -> np.ndarray:
        return windows.members(row, size)

    def counts(self, members: np.ndarray, time_window) -> tuple[float, float]:
        return (float(self.data.cases[members].sum()),
                self.model.spatial_expected(self.data, members))

    def cluster_fields(self, time_window, p_value: float) -> dict:
        return {}


def circular_scan(area: StudyArea, *, model: Model = "poisson", direction: Direction = "high",
                  max_population_fraction: float = 0.5, max_radius: float | None = None,
                  min_cases: int = 2, n_replications: int = 999, rng=None,
                  backend: Backend = "threads", threads: int | None = None,
                  scheduler: str | None = None, n_workers: int = 2,
                  block_size: int | None = None, client=None, progress: Progress | None = None,
                  secondary: Criterion = "no-overlap",
                  windows: Windows | None = None,
                  dask_mode: DaskMode = "replications") -> ScanResult:
    """Purely spatial circular scan with Monte Carlo inference.

    Parameters
    ----------
    area : StudyArea
        The study data (:func:`scan.study_area`, :func:`scan.read_csv`, ...).
    model : {"poisson", "bernoulli"}
        "poisson" (cases against expected counts) or "bernoulli" (cases and controls).
    direction : {"high", "low", "both"}
        Scan for high rates (default), low rates, or both.
    max_population_fraction : float
        Largest share of the population at risk in a circle, in (0, 0.5] (default 0.5,
        SaTScan's).  As in SaTScan the population at risk is the model's measure: expected
        counts for Poisson (covariate-adjusted), cases + controls for Bernoulli.
    max_radius : float, optional
        Largest circle radius (coordinate units; km for latitude/longitude).
    min_cases : int
        Fewest cases a high-rate cluster may hold (SaTScan's default 2).
    n_replications : int
        Monte Carlo replications (default 999, at most :data:`scan.params.MAX_REPLICATIONS`).
    rng : int, SeedSequence, Generator or None
        Root of the random streams; the root entropy is recorded as ``result.seed``.
    backend : {"threads", "dask"}
        "threads" (Numba, every core) or "dask" (a ``dask.distributed`` cluster: ``client``,
        ``scheduler`` or an embedded LocalCluster of ``n_workers`` processes).
    threads : int, optional
        Numba threads per process (default: every core).
    scheduler, n_workers, block_size, client
        Dask options (see :func:`scan.distributed.run_dask`).
    progress : callable, optional
        ``progress(done, total)``, called as replications finish.
    secondary : {"no-overlap"}
        Which secondary clusters to report (SaTScan's default: no geographical overlap).
    windows : Windows, optional
        Pre-built windows (:func:`scan.windows.build_windows`) to reuse across scans.
    dask_mode : {"replications", "centres"}
        With ``backend="dask"``: "replications" (default) sends every worker all the windows
        and splits the replications; "centres" has each worker build and keep only the windows
        of its share of the centres (memory per worker about 1/workers, for national data),
        with bit-identical results (:func:`scan.distributed.centre_partitioned_scan`).

    Returns
    -------
    ScanResult
        The p-value of a cluster is ``(1 + number of replicate maxima >= its LLR) / (R + 1)``,
        counting a replicate maximum as reaching the LLR within a relative 1e-9.

    Examples
    --------
    >>> import scan
    >>> area = scan.load_borough_area("cancer")                      # doctest: +SKIP
    >>> result = scan.circular_scan(area, n_replications=999, rng=1)  # doctest: +SKIP
    >>> result.most_likely.members, result.most_likely.p_value       # doctest: +SKIP
    """
    if not isinstance(area, StudyArea):
        raise ScanParameterError("area", "a StudyArea", type(area).__name__,
                                 "build it with scan.study_area, scan.read_csv or "
                                 "scan.read_satscan")
    p = check_all(dict(model=model, direction=direction,
                       max_population_fraction=max_population_fraction, max_radius=max_radius,
                       min_cases=min_cases, n_replications=n_replications, backend=backend,
                       threads=threads, scheduler=scheduler, n_workers=n_workers,
                       block_size=block_size, dask_mode=dask_mode),
                  choices={"model": models.models_for("spatial")})
    if dask_mode == "centres" and (backend != "dask" or windows is not None):
        raise ScanParameterError("dask_mode", "'replications' unless backend='dask' and the "
                                 "windows are left to the workers", dask_mode,
                                 "pass backend='dask' (CLI --backend dask) and no windows",
                                 flag="--dask-mode")
    analysis = SpatialAnalysis(data=area, model=models.get(model, "spatial"),
                               direction=direction, min_cases=p["min_cases"])
    seed = normalise_seed(rng)
    if dask_mode == "centres":
        from .distributed import centre_partitioned_scan

        return centre_partitioned_scan(
            analysis, n_replications=p["n_replications"], seed=seed, secondary=secondary,
            parameters={"analysis": analysis.name, "model": model, "direction": direction,
                        "max_population_fraction": p["max_population_fraction"],
                        "max_radius": p["max_radius"], "n_replications": p["n_replications"],
                        "min_cases": p["min_cases"]},
            max_population_fraction=p["max_population_fraction"], max_radius=p["max_radius"],
            threads=threads, progress=progress, client=client, scheduler=scheduler,
            n_workers=p["n_workers"], block_size=block_size)
    t0 = time.perf_counter()
    if windows is None:
        weights, _, _ = analysis.weights()
        windows = build_windows(area.coords, weights, coordinates=area.coordinates,
                                max_population_fraction=p["max_population_fraction"],
                                max_radius=p["max_radius"])
    timings = {"windows_s": time.perf_counter() - t0}
    parameters = {
        "analysis": analysis.name, "model": model, "direction": direction,
        "max_population_fraction": p["max_population_fraction"], "max_radius": p["max_radius"],
        "n_replications": p["n_replications"], "min_cases": p["min_cases"],
    }
    return run(analysis, windows, n_replications=p["n_replications"], seed=seed,
               parameters=parameters, secondary=secondary, backend=backend, threads=threads,
               progress=progress, timings=timings,
               dask_options=dict(scheduler=scheduler, n_workers=p["n_workers"],
                                 block_size=block_size, client=client))
