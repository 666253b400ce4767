"""Exposure-adjusted scan: does a cluster survive once a pollutant is accounted for?

Cases are regressed on the pollutant across locations with a log-linear Poisson model whose
offset is the log of the (age/sex-standardised, when strata were given) expected counts:

    E[c_i] = e_i exp(a + b x_i)

fitted by iteratively reweighted least squares.  The adjusted expected counts
``e_i exp(a + b x_i)`` sum to the total cases (the intercept sees to that), and the scan is run
again on them with the same settings and seed.  A cluster explained by exposure disappears; one
unrelated to it survives.

Every location needs an exposure value.  A location without one (NaN: outside the grid, on a
cell without a value, or -9999 / a negative number in a table) is not left out silently: the
adjusted scan is refused with a :class:`ScanInputError` naming how many locations and which
ids, because dropping them would change the study area the adjusted scan is compared with, and
keeping them unadjusted would mix two models.  The fix is a grid that covers the study area, a
complete table, or a study area without those locations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ScanInputError, ScanParameterError

MAX_ITERATIONS = 100
TOLERANCE = 1e-12
IDS_SHOWN = 5  # location ids named in a message about missing values


@dataclass(frozen=True)
class ExposureFit:
    pollutant: str
    intercept: float
    slope: float            # log rate ratio per µg/m³
    slope_se: float
    iterations: int

    @property
    def rate_ratio_per_10(self) -> float:
        """Rate ratio for a 10 µg/m³ increase."""
        return math.exp(10.0 * self.slope)

    def to_dict(self) -> dict:
        return {"pollutant": self.pollutant, "intercept": self.intercept,
                "log_rate_ratio_per_ugm3": self.slope, "standard_error": self.slope_se,
                "rate_ratio_per_10_ugm3": self.rate_ratio_per_10,
                "z": self.slope / self.slope_se if self.slope_se > 0 else math.nan,
                "iterations": self.iterations}


def _missing_message(pollutant: str, missing: np.ndarray, ids) -> str:
    where = np.flatnonzero(missing)
    if ids is not None:
        names = [repr(str(ids[k])) for k in where[:IDS_SHOWN]]
        label = "ids"
    else:
        names = [str(k) for k in where[:IDS_SHOWN]]
        label = "location indices"
    more = f" and {where.size - IDS_SHOWN} more" if where.size > IDS_SHOWN else ""
    return (f"{pollutant} has no value at {where.size} of {missing.size} locations ({label} "
            f"{', '.join(names)}{more}): they are outside the grid, on cells without a value, or "
            "empty, NaN, -9999 or negative in the table; the exposure-adjusted scan needs a value "
            "at every location: use a grid that covers the whole study area, complete the table, "
            "or leave those locations out of the study")


def fit_exposure(cases, expected, exposure, pollutant: str = "exposure", *,
                 ids=None) -> ExposureFit:
    """Poisson regression of ``cases`` on ``exposure`` with offset log(``expected``) (IRLS).

    Every location needs an exposure value: NaN, ±inf, -9999 or a negative value anywhere raises
    :class:`ScanInputError` naming how many locations and which (``ids``, else their indices).
    A regression that does not converge raises :class:`ScanInputError` too.
    """
    from .grids import concentrations

    y = np.asarray(cases, dtype=float)
    e = np.asarray(expected, dtype=float)
    x = concentrations(np.asarray(exposure, dtype=float))[0]
    missing = np.isnan(x)
    if missing.any():
        raise ScanInputError(_missing_message(pollutant, missing, ids), field=pollutant)
    keep = e > 0
    y, e, x = y[keep], e[keep], x[keep]
    centre, scale = x.mean(), x.std()
    if scale == 0:
        raise ScanInputError(f"{pollutant} is the same everywhere; there is nothing to adjust for",
                             field=pollutant)
    X = np.column_stack([np.ones_like(x), (x - centre) / scale])
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            beta = np.array([math.log(y.sum() / e.sum()), 0.0])
            for it in range(1, MAX_ITERATIONS + 1):
                mu = e * np.exp(X @ beta)
                grad = X.T @ (y - mu)
                info = (X * mu[:, None]).T @ X
                step = np.linalg.solve(info, grad)
                beta = beta + step
                if np.abs(step).max() < TOLERANCE:
                    break
            mu = e * np.exp(X @ beta)
            cov = np.linalg.inv((X * mu[:, None]).T @ X)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError, OverflowError) as err:
        raise ScanInputError(f"the Poisson regression of cases on {pollutant} failed ({err}); "
                             f"check the {pollutant} values and the case counts",
                             field=pollutant) from None
    if not (np.isfinite(beta).all() and np.isfinite(cov).all()):
        raise ScanInputError(f"the Poisson regression of cases on {pollutant} did not converge; "
                             f"check the {pollutant} values and the case counts", field=pollutant)
    slope = beta[1] / scale
    intercept = beta[0] - beta[1] * centre / scale
    return ExposureFit(pollutant=pollutant, intercept=float(intercept), slope=float(slope),
                       slope_se=float(math.sqrt(cov[1, 1]) / scale), iterations=it)


def adjusted_expected(area, values, fit: ExposureFit) -> np.ndarray:
    e = area.expected * np.exp(fit.intercept + fit.slope * np.asarray(values, float))
    return e * (area.total_cases / e.sum())


def adjusted_scan(result, values, pollutant: str, **overrides):
    """The scan of ``result`` run again on exposure-adjusted expected counts (same seed)."""
    from ..spatial import circular_scan

    p = result.parameters
    if p.get("model") != "poisson":
        raise ScanParameterError("adjust_for", "used with the Poisson model", p.get("model"))
    area = result.area
    fit = fit_exposure(area.cases, area.expected, values, pollutant, ids=area.ids)
    new_area = replace(area, expected=adjusted_expected(area, values, fit))
    kwargs = dict(model="poisson", direction=p["direction"],
                  max_population_fraction=p["max_population_fraction"],
                  max_radius=p["max_radius"], n_replications=p["n_replications"],
                  rng=result.seed, min_cases=p.get("min_cases", 2))
    kwargs.update(overrides)
    return fit, circular_scan(new_area, **kwargs)


def survives(original, adjusted, alpha: float = 0.05) -> bool:
    """Whether a significant adjusted cluster shares a location with the original most likely one."""
    mlc = original.most_likely
    if mlc is None:
        return False
    inside = set(mlc.member_indices.tolist())
    return any(inside.intersection(c.member_indices.tolist()) for c in adjusted.significant(alpha))


def adjustment_report(original, fit: ExposureFit, adjusted, alpha: float = 0.05) -> dict:
    return {
        "fit": fit.to_dict(),
        "statistic": adjusted.statistic,
        "p_value": adjusted.p_value,
        "most_likely_cluster_survives": survives(original, adjusted, alpha),
        "clusters": [c.to_dict() for c in adjusted.clusters[:10]],
    }


def exposure_context(result, exposure=(), *, adjust_for=(), boundaries=None,
                     exposure_year: int | None = None):
    """Join every exposure file to ``result`` and run the adjusted scans asked for.

    Parameters
    ----------
    result : ScanResult
    exposure : files, each ``FILE`` or ``POLLUTANT=FILE`` (LAEI CSV, ESRI .asc, NetCDF written
        by scan, or a per-location table).
    adjust_for : pollutants to adjust for (each given in ``exposure``).
    boundaries : polygons of the locations (a file, :func:`scan.exposure.join.read_boundaries`):
        grid values become means over each polygon.
    exposure_year : the LAEI year to take from a per-area summary holding several.

    Returns
    -------
    (result with exposure and adjustment sections, grid for the map or None, pollutant drawn
    on the map).
    """
    from .grids import canonical_pollutant
    from .join import load_exposure, read_boundaries, with_exposure
    from .text import adjustment_section, exposure_section

    values: dict[str, np.ndarray] = {}
    grid = None
    polygons = read_boundaries(result.area, boundaries) if boundaries else None
    sources = []
    for spec in exposure:
        got, ds = load_exposure(result.area, spec, year=exposure_year, polygons=polygons)
        values.update(got)
        sources.append(str(spec))
        if ds is not None and grid is None:
            grid = ds
    if values:
        how = "mean over each location's polygon" if polygons is not None else "at each location"
        result = with_exposure(result, values)
        result = result.with_section(exposure_section(
            result, f"{', '.join(sources)} ({how}"
                    + (f", LAEI {exposure_year}" if exposure_year else "") + ")"))
    reports = {}
    for name in adjust_for:
        pollutant = canonical_pollutant(name)
        if pollutant not in values:
            raise ScanParameterError("adjust_for", f"a pollutant given with --exposure "
                                     f"({', '.join(sorted(values)) or 'none given'})", name,
                                     flag="--adjust-for")
        fit, adj = adjusted_scan(result, values[pollutant], pollutant)
        reports[pollutant] = adjustment_report(result, fit, adj)
    if reports:
        result = result.with_section(adjustment_section(reports))
    map_pollutant = "NO2" if grid is not None and "NO2" in grid else (
        next(iter(grid.data_vars)) if grid is not None else "NO2")
    map_grid = grid[map_pollutant] if grid is not None else None
    return result, map_grid, map_pollutant
