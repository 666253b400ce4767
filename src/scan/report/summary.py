"""The text summary of a scan result (``summary.txt`` and ``ScanResult.summary()``).

Generic: settings, the most likely cluster and the significant secondary clusters, then the
lines each :class:`~scan.result.Section` brings (exposure, adjusted rescans...).  Nothing here
knows what a section holds.
"""
from __future__ import annotations

from ..windows import distance_units


def _settings(result) -> list[str]:
    p = result.parameters
    area = result.area
    units = distance_units(area.coordinates, area.crs)
    window = f"{100 * p.get('max_population_fraction', 0):g}% of the population at risk"
    if p.get("max_radius"):
        window += f" and a radius of {p['max_radius']:g} {units}"
    if p.get("shape") == "ellipse":
        window += (f"; circles and ellipses of shapes "
                   f"{', '.join(f'{v:g}' for v in p['ellipse_shapes'])} with "
                   f"{', '.join(map(str, p['ellipse_angles']))} angles, "
                   f"{p['non_compactness_penalty']} non-compactness penalty")
    lines = [
        f"scan: {result.analysis} scan, {p.get('model')} model, scanning for "
        f"{p.get('direction')} rates",
        f"  {area.n_locations} locations, {area.total_cases} cases, population "
        f"{area.total_population:,.0f}; windows up to {window}",
    ]
    if p.get("model") == "poisson":
        lines += _expected_lines(area)
    if p.get("study_start"):
        lines.append(f"  study period {p['study_start']} to {p['study_end']} in "
                     f"{p['n_intervals']} intervals of {p.get('aggregation_length', 1)} "
                     f"{p.get('time_aggregation')}(s); time windows up to "
                     f"{p.get('max_temporal_intervals')} intervals")
    lines.append(f"  {len(result.null_distribution)} Monte Carlo replications, seed "
                 f"{result.seed}")
    return lines


def _expected_lines(area) -> list[str]:
    """How the expected counts were made (crude, standardised, supplied, reference rates), and
    a warning when counts the user supplied were rescaled to the observed total."""
    kind = getattr(area, "expected_kind", None)
    strata = tuple(getattr(area, "strata_names", ()) or ())
    scale = getattr(area, "expected_scale", None)
    external = getattr(area, "expected_external", None)
    if kind is None:                      # space-time data: population-based or permutation
        strata = tuple((getattr(area, "extra", {}) or {}).get("strata_names", ()) or ())
        if len(strata) > 1:
            return [f"  expected counts: standardised (indirect) for {len(strata)} strata"]
        return []
    if kind == "population":
        return ["  expected counts: crude, proportional to the population (not standardised "
                "for age or sex)"]
    if kind == "internal-standardised":
        shown = ", ".join(strata[:6]) + (", ..." if len(strata) > 6 else "")
        return [f"  expected counts: standardised (indirect) on the study area's own rates for "
                f"{len(strata)} strata ({shown})"]
    total = float(external.sum()) if external is not None else float("nan")
    if kind == "reference-rates":
        return [f"  expected counts: population x reference rates ({total:,.1f} in all), "
                f"multiplied by {scale:.6g} to the {area.total_cases} observed cases for the "
                "scan (it compares areas with each other); SIRs against the reference rates "
                "themselves: scan inquiry"]
    lines = [f"  expected counts: supplied with the data ({total:,.1f} in all)"]
    if scale is not None and abs(scale - 1.0) > 1e-9:
        lines.append(f"  WARNING: the supplied expected counts were rescaled by {scale:.6g} to "
                     f"sum to the {area.total_cases} observed cases (the scan conditions on "
                     "the total), so clusters are relative to the study area, not to the "
                     "supplied standard; for observed against the supplied expected counts use "
                     "scan inquiry")
    return lines


def _cluster_lines(result, c) -> list[str]:
    area = result.area
    units = distance_units(area.coordinates, area.crs)
    if result.parameters.get("iterative"):
        label = ("Most likely cluster" if c.iteration == 1
                 else f"Most likely cluster of iteration {c.iteration}")
    else:
        label = "Most likely cluster" if c.rank == 1 else f"Secondary cluster {c.rank - 1}"
    when = f", {c.start} to {c.end}" if c.start is not None else ""
    names = getattr(area, "names", None)
    centre = c.center
    if names is not None and 0 <= c.center_index < len(names) and names[c.center_index]:
        centre += f" ({names[c.center_index]})"
    size = f"radius {c.radius:,.4g} {units}"
    if c.semi_minor is not None:   # an elliptic analysis: SaTScan's axes, angle and shape
        size = (f"semi-minor axis {c.semi_minor:,.4g} {units}, semi-major axis "
                f"{c.semi_major:,.4g} {units}, angle {c.angle:g} degrees, shape {c.shape:g}")
    statistic = (f", test statistic {c.test_statistic:.6f}"
                 if c.semi_minor is not None else "")
    lines = [f"{label}: centre {centre}, {c.n_locations} locations, {size}{when}",
             f"    observed {c.observed:g}, expected {c.expected:.2f}, O/E "
             f"{c.observed_over_expected:.2f}, relative risk {c.relative_risk:.2f}, "
             f"LLR {c.llr:.6f}{statistic}, p = {c.p_value:.4g} (Gumbel approximation "
             f"{c.gumbel_p_value:.2g})"]
    if names is not None and c.n_locations > 1:
        shown = [str(names[i]) for i in c.member_indices[:8] if names[i]]
        if shown:
            lines.append("    areas: " + "; ".join(shown)
                         + (f"; and {c.n_locations - 8} more" if c.n_locations > 8 else ""))
    if c.recurrence_interval is not None:
        lines.append(f"    recurrence interval {c.recurrence_interval:,.0f} days")
    return lines


def summary_text(result, *, max_clusters: int = 5, alpha: float = 0.05) -> str:
    lines = _settings(result)
    if not result.clusters:
        lines.append("  no cluster found (no window deviating in the scanned direction)")
    shown = [c for c in result.clusters if c.rank == 1 or c.p_value <= alpha][:max_clusters]
    for c in shown:
        lines += _cluster_lines(result, c)
    rest = len(result.clusters) - len(shown)
    if rest:
        lines.append(f"  {rest} more cluster(s) with p > {alpha:g} are in clusters.csv")
    for section in result.sections:
        lines.append(section.title)
        lines += [f"    {line}" for line in section.lines]
    return "\n".join(lines)
