"""``scan demo``: the whole Stage 2a check on the embedded synthetic borough, no downloads.

1. Ten years of synthetic cancer registrations in ~110 LSOA-like areas of a borough shaped like
   Barking and Dagenham, with expected counts standardised for age band x sex.
2. Purely spatial Poisson scan for high rates, 999 replications.
3. Exposure context: NO2, PM10 and PM2.5 from LAEI-like 20 m grids, averaged over each area's
   polygon, summarised per cluster against UK limit values and WHO guidelines.
4. The scan again with expected counts adjusted for NO2: is the cluster explained by the air?
5. Outputs (JSON, CSV, GeoJSON, summary, map) written atomically to the output folder.
"""
from __future__ import annotations

from dataclasses import replace

DEMO_SEED = 20261129


def run_demo(out, *, n_replications: int = 999, rng=DEMO_SEED, threads: int | None = None,
             progress=None):
    """Run the demo into the folder ``out``; returns the ScanResult (with exposure sections)."""
    from .datasets import borough_study_area, load_borough
    from .exposure.adjust import adjusted_scan, adjustment_report
    from .exposure.join import with_exposure
    from .exposure.summary import polygon_means
    from .exposure.synthetic import synthetic_laei
    from .exposure.text import adjustment_section, exposure_section
    from .io.atomic import check_out
    from .io.writers import write_result
    from .spatial import circular_scan

    check_out(out)
    borough = load_borough()
    area = borough_study_area("cancer", adjust_for_age_sex=True)
    area = replace(area, source="embedded synthetic borough (cancer registrations, 10 years)")
    result = circular_scan(area, n_replications=n_replications, rng=rng, threads=threads,
                           progress=progress)
    grids = synthetic_laei()
    values = {name: polygon_means(grids[name], borough.polygons) for name in grids.data_vars}
    result = with_exposure(result, values)
    result = result.with_section(exposure_section(
        result, "synthetic LAEI-like grids, 20 m, mean over each area's polygon"))
    fit, adjusted = adjusted_scan(result, values["NO2"], "NO2", threads=threads)
    result = result.with_section(adjustment_section(
        {"NO2": adjustment_report(result, fit, adjusted)}))
    write_result(result, out, map_grid=grids["NO2"], outline=borough.outline)
    return result
