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
    if p.get("study_start"):
        lines.append(f"  study period {p['study_start']} to {p['study_end']} in "
                     f"{p['n_intervals']} intervals of {p.get('aggregation_length', 1)} "
                     f"{p.get('time_aggregation')}(s); time windows up to "
                     f"{p.get('max_temporal_intervals')} intervals")
    lines.append(f"  {len(result.null_distribution)} Monte Carlo replications, seed "
                 f"{result.seed}")
    return lines


def _cluster_lines(result, c) -> list[str]:
    area = result.area
    units = distance_units(area.coordinates, area.crs)
    label = "Most likely cluster" if c.rank == 1 else f"Secondary cluster {c.rank - 1}"
    when = f", {c.start} to {c.end}" if c.start is not None else ""
    size = f"radius {c.radius:,.4g} {units}"
    if c.semi_minor is not None:   # an elliptic analysis: SaTScan's axes, angle and shape
        size = (f"semi-minor axis {c.semi_minor:,.4g} {units}, semi-major axis "
                f"{c.semi_major:,.4g} {units}, angle {c.angle:g} degrees, shape {c.shape:g}")
    statistic = (f", test statistic {c.test_statistic:.6f}"
                 if c.semi_minor is not None else "")
    lines = [f"{label}: centre {c.center}, {c.n_locations} locations, {size}{when}",
             f"    observed {c.observed:g}, expected {c.expected:.2f}, O/E "
             f"{c.observed_over_expected:.2f}, relative risk {c.relative_risk:.2f}, "
             f"LLR {c.llr:.6f}{statistic}, p = {c.p_value:.4g} (Gumbel approximation "
             f"{c.gumbel_p_value:.2g})"]
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
