"""The purely spatial circular scan (Kulldorff 1997): its data and kernel, and the public entry
point :func:`circular_scan`."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import models
from .data import StudyArea
from .errors import ScanParameterError
from .montecarlo import Backend, Progress, normalise_seed, null_problem, with_progress_bar
from .params import check_all
from .pipeline import Candidates, Inference, check_inference, run
from .result import ScanResult
from .windows import (ELLIPSE_ANGLES, ELLIPSE_SHAPES, Windows, best_row_per_centre,
                      build_windows, check_ellipse_settings)

Model = Literal["poisson", "bernoulli"]
Direction = Literal["high", "low", "both"]
Criterion = Literal["no-overlap", "no-centres-in-others", "no-centres-in-more-likely",
                    "no-centres-in-less-likely", "no-pairs-of-centres", "none"]
Shape = Literal["circle", "ellipse"]
DaskMode = Literal["replications", "centres"]
Penalty = Literal["none", "medium", "strong"]


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
    scale: np.ndarray | None = None   # per window row: the non-compactness penalty (ellipses)

    @property
    def total_cases(self) -> float:
        return float(self.data.total_cases)

    def weights(self):
        return self.model.spatial_weights(self.data)

    def observed(self, windows: Windows) -> Candidates:
        weights, C, W = self.weights()
        stat, size = best_windows(windows, weights, self.data.cases, C, W, self.model.name,
                                  self.direction, self.min_cases, self.scale)
        rows = best_row_per_centre(windows, stat, size, penalised=self.scale is not None)
        if rows is None:
            return Candidates(statistic=stat, size=size, scale=self.scale)
        return Candidates(statistic=stat[rows], size=size[rows], scale=self.scale, row=rows)

    def null_problem(self, windows: Windows, entropy: int):
        from . import _kernels as K

        weights, C, _ = self.weights()
        return null_problem(windows, weights, C, self.data.population, self.model.llr,
                            K.DIRECTION_CODES[self.direction], entropy, self.min_cases,
                            self.scale)

    def members(self, windows: Windows, row: int, size: int) -> np.ndarray:
        return windows.members(row, size)

    def counts(self, members: np.ndarray, time_window) -> tuple[float, float]:
        return (float(self.data.cases[members].sum()),
                self.model.spatial_expected(self.data, members))

    def cluster_fields(self, time_window, p_value: float) -> dict:
        return {}


def window_parameters(windows: Windows, penalty: str) -> dict:
    """The elliptic settings for result.json (nothing for circles, whose parameters are
    unchanged)."""
    if not windows.elliptic:
        return {}
    return {"shape": "ellipse", "ellipse_shapes": list(windows.ellipse_shapes),
            "ellipse_angles": list(windows.ellipse_angles), "non_compactness_penalty": penalty}


@with_progress_bar
def circular_scan(area: StudyArea, *, model: Model = "poisson", direction: Direction = "high",
                  max_population_fraction: float = 0.5, max_radius: float | None = None,
                  min_cases: int = 2, n_replications: int = 999, rng=None,
                  backend: Backend = "threads", threads: int | None = None,
                  scheduler: str | None = None, n_workers: int = 2,
                  block_size: int | None = None, client=None, progress: Progress | bool | None = None,
                  secondary: Criterion = "no-overlap", drop_p_one: bool = False,
                  gini: bool = False, gini_collections: Literal["optimal", "all"] = "optimal",
                  gini_cutoff: float = 0.05, iterative: bool = False, iterative_max: int = 10,
                  iterative_cutoff: float = 0.05, early_termination: bool = False,
                  early_termination_threshold: int | None = None,
                  shape: Shape = "circle", ellipse_shapes=ELLIPSE_SHAPES,
                  ellipse_angles=ELLIPSE_ANGLES, non_compactness_penalty: Penalty = "medium",
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
    progress : callable or True, optional
        ``progress(done, total)``, called as replications finish; True draws a ``tqdm.auto``
        bar (a widget in Jupyter notebooks, text on stderr elsewhere).
    secondary : str
        Which secondary clusters to report, SaTScan's criteria: "no-overlap" (default: no
        location shared with a more likely cluster), "no-centres-in-others",
        "no-centres-in-more-likely", "no-centres-in-less-likely", "no-pairs-of-centres",
        "none" (:mod:`scan.secondary`).
    drop_p_one : bool
        SaTScan's reporting rule: leave out secondary clusters with p = 1 or a test statistic
        below 0.001 (default False: every cluster the criterion keeps is reported).
    gini, gini_collections, gini_cutoff
        Also report SaTScan's Gini-optimised collection ("optimal", or "all" of them) of
        non-overlapping clusters, counting clusters with p < ``gini_cutoff`` (``result.gini``).
    iterative, iterative_max, iterative_cutoff
        Iterative scan: report the most likely cluster, remove its data and scan again, up to
        ``iterative_max`` iterations or until a cluster's p exceeds ``iterative_cutoff``.
    early_termination, early_termination_threshold
        SaTScan's sequential Monte Carlo: stop when the threshold (default (R + 1) // 20)
        number of replicate statistics exceed the most likely cluster's; its p-value is then
        threshold / replications run.
    shape : {"circle", "ellipse"}
        "circle" (default) or "ellipse": SaTScan's elliptic window, the circle and every
        ellipse of ``ellipse_shapes`` x ``ellipse_angles`` around each centre (Cartesian
        coordinates only; see :mod:`scan.windows`).  Each centre's candidate cluster is its
        best window across the shapes, chosen as SaTScan does.  Clusters report ``shape``
        (1 for circles), ``angle`` (degrees, in (-90, 90]) and the axes ``semi_minor`` /
        ``semi_major``; their ``radius`` is then the semi-minor axis, which ``max_radius``
        caps.
    ellipse_shapes : tuple of float
        Ratios major / minor axis, each >= 1 (SaTScan's default 1.5, 2, 3, 4, 5).
    ellipse_angles : tuple of int
        Number of angles of each shape: angles ``pi k / n``, k = 0..n-1 (default 4, 6, 9, 12,
        15; 46 ellipses, so 47 windows per centre and size).
    non_compactness_penalty : {"none", "medium", "strong"}
        SaTScan's penalty on elongated windows (default "medium", SaTScan's): the test statistic
        of a window of shape s is its LLR x ``(4 s / (1 + s)^2) ^ a`` with a = 0, 1/2 or 1.  It
        ranks windows and is what the replicate maxima are compared with; clusters report both
        ``llr`` (unpenalised) and ``test_statistic``.
    windows : Windows, optional
        Pre-built windows (:func:`scan.windows.build_windows`) to reuse across scans.
    dask_mode : {"replications", "centres"}
        With ``backend="dask"``: "replications" (default) sends every worker all the windows
        and splits the replications; "centres" has each worker build and keep only the windows
        of its share of the centres (memory per worker about 1/workers, for national data),
        with bit-identical results (:func:`scan.distributed.centre_partitioned_scan`; circles
        only, and not with ``gini`` or ``iterative``, which rebuild windows on the driver).

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
                       block_size=block_size, secondary=secondary, drop_p_one=drop_p_one,
                       gini=gini, gini_collections=gini_collections, gini_cutoff=gini_cutoff,
                       iterative=iterative, iterative_max=iterative_max,
                       iterative_cutoff=iterative_cutoff, early_termination=early_termination,
                       early_termination_threshold=early_termination_threshold, shape=shape,
                       ellipse_shapes=ellipse_shapes, ellipse_angles=ellipse_angles,
                       non_compactness_penalty=non_compactness_penalty, dask_mode=dask_mode),
                  choices={"model": models.models_for("spatial")})
    if dask_mode == "centres" and (backend != "dask" or windows is not None or gini
                                   or iterative or shape != "circle"):
        raise ScanParameterError("dask_mode", "'replications' unless backend='dask', the "
                                 "windows are circles left to the workers and neither gini nor "
                                 "iterative is asked for", dask_mode,
                                 "pass backend='dask' (CLI --backend dask) and no windows; "
                                 "ellipses, the Gini collections and the iterative scan need "
                                 "every window in one process", flag="--dask-mode")
    check_ellipse_settings(shape, ellipse_shapes, ellipse_angles, area.coordinates)
    inference = Inference(**{k: p[k] for k in Inference.KEYWORDS})
    check_inference(inference, analysis="spatial", model=model,
                    n_replications=p["n_replications"],
                    max_population_fraction=p["max_population_fraction"])
    if windows is not None and iterative:
        raise ScanParameterError("windows", "None with iterative=True", "a Windows",
                                 "the iterative scan builds the windows again on the data "
                                 "left at each iteration")
    analysis = SpatialAnalysis(data=area, model=models.get(model, "spatial"),
                               direction=direction, min_cases=p["min_cases"])
    seed = normalise_seed(rng)
    if dask_mode == "centres":
        from .distributed import centre_partitioned_scan

        return centre_partitioned_scan(
            analysis, n_replications=p["n_replications"], seed=seed, inference=inference,
            parameters={"analysis": analysis.name, "model": model, "direction": direction,
                        "max_population_fraction": p["max_population_fraction"],
                        "max_radius": p["max_radius"], "n_replications": p["n_replications"],
                        "min_cases": p["min_cases"]},
            max_population_fraction=p["max_population_fraction"], max_radius=p["max_radius"],
            threads=threads, progress=progress, client=client, scheduler=scheduler,
            n_workers=p["n_workers"], block_size=block_size)
    t0 = time.perf_counter()

    def make_windows(a: SpatialAnalysis) -> Windows:
        """The windows of ``a``'s data (again at each iteration of an iterative scan: the rows,
        and so the penalty of each, stay the same)."""
        return build_windows(a.data.coords, a.weights()[0], coordinates=a.data.coordinates,
                             max_population_fraction=p["max_population_fraction"],
                             max_radius=p["max_radius"], shape=p["shape"],
                             ellipse_shapes=p["ellipse_shapes"],
                             ellipse_angles=p["ellipse_angles"])

    if windows is None:
        windows = make_windows(analysis)
    timings = {"windows_s": time.perf_counter() - t0}
    analysis = dataclasses.replace(analysis,
                                   scale=windows.penalty(p["non_compactness_penalty"]))
    parameters = {
        "analysis": analysis.name, "model": model, "direction": direction,
        "max_population_fraction": p["max_population_fraction"], "max_radius": p["max_radius"],
        "n_replications": p["n_replications"], "min_cases": p["min_cases"],
        **window_parameters(windows, p["non_compactness_penalty"]),
    }
    return run(analysis, windows, n_replications=p["n_replications"], seed=seed,
               parameters=parameters, backend=backend, threads=threads,
               progress=progress, timings=timings, inference=inference, rebuild=make_windows,
               dask_options=dict(scheduler=scheduler, n_workers=p["n_workers"],
                                 block_size=block_size, client=client))
