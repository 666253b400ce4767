"""Exposure's own part of a result: the sections it adds to a scan result's summary and JSON."""
from __future__ import annotations

from ..result import Section


def exposure_section(result, source: str) -> Section:
    """Per-cluster exposure (population-weighted inside vs outside, shares above the UK limit
    and the WHO 2021 guideline) as summary lines, and where the values came from."""
    lines = [f"source: {source}"]
    for c in result.clusters:
        for pollutant, ex in (c.exposure or {}).items():
            missing = ex.get("n_missing_inside", 0)
            if missing and missing == ex["n_inside"]:
                lines.append(f"cluster {c.rank} {pollutant}: no value at any of its {missing} "
                             "location(s)")
                continue
            lines.append(
                f"cluster {c.rank} {pollutant}: {ex['mean_inside']:.1f} µg/m³ inside vs "
                f"{ex['mean_outside']:.1f} outside; "
                f"{100 * ex['share_above_who_guideline']:.0f}% of its population above the WHO "
                f"guideline, {100 * ex['share_above_uk_limit']:.0f}% above the UK limit"
                + (f" ({missing} of its {ex['n_inside']} locations have no value and are left "
                   "out)" if missing else ""))
    n_missing = {p: ex.get("n_missing_inside", 0) + ex.get("n_missing_outside", 0)
                 for c in result.clusters[:1] for p, ex in (c.exposure or {}).items()}
    for pollutant, n in n_missing.items():
        if n:
            lines.append(f"{pollutant}: {n} location(s) have no value (outside the grid, on cells "
                         "without a value, or empty, NaN, -9999 or negative); they are left out "
                         "of every figure")
    return Section(key="exposure", title="Exposure (annual means, population-weighted):",
                   lines=tuple(lines), data={"source": source})


def adjustment_section(reports: dict) -> Section:
    """The exposure-adjusted rescans: fitted rate ratio, the new most likely cluster, and
    whether the original cluster survives."""
    lines = []
    for pollutant, rep in reports.items():
        fit = rep["fit"]
        lines.append(
            f"{pollutant}: rate ratio {fit['rate_ratio_per_10_ugm3']:.2f} per 10 µg/m³ "
            f"(z = {fit['z']:.1f}); most likely cluster now LLR {rep['statistic']:.3f}, "
            f"p = {rep['p_value']:.4g}; the original cluster "
            + ("survives" if rep["most_likely_cluster_survives"] else "does not survive")
            + " adjustment")
    return Section(key="adjusted", title="Adjusted for exposure (log-linear Poisson regression):",
                   lines=tuple(lines), data=reports)
