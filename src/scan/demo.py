"""``scan demo``: the whole Stage 2a check on the embedded synthetic borough, no downloads.

1. Ten years of synthetic cancer registrations in ~110 LSOA-like areas of a borough shaped like
   Barking and Dagenham, with expected counts standardised for age band x sex.
2. Purely spatial Poisson scan for high rates, 999 replications.
3. Exposure context: NO2, PM10 and PM2.5 from LAEI-like 20 m grids, averaged over each area's
   polygon, summarised per cluster against UK limit values and WHO guidelines.
4. The scan again with expected counts adjusted for NO2: is the cluster explained by the air?
5. Two short Stage 2a inquiries (:func:`scan.inquiry.run_inquiry`): "is there an excess of
   cancer in area :data:`INQUIRY_AREA`?" (inside the planted excess: it should be significant)
   and the same question for :data:`QUIET_AREA` (an ordinary area: it should not be).
6. Outputs written atomically to the output folder: the scan's (JSON, CSV, GeoJSON, summary,
   map), ``inquiry-SYN038/`` and ``inquiry-SYN100/`` (inquiry.json, report.html), and ``data/``:
   the borough as long-form files to try the commands of the README on
   (``cancer-by-stratum.csv``, ``locations.csv``, ``reference-rates.csv``).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

DEMO_SEED = 20261129

INQUIRY_AREA = "SYN038"
"""An area inside the planted cancer excess (relative risk 1.9)."""
QUIET_AREA = "SYN100"
"""An ordinary area in the south of the borough, far from the planted excess."""
CONDITION = "cancer registrations"


def borough_long_form(folder) -> dict[str, Path]:
    """Write the embedded borough's cancer registrations as the long form ``scan spatial``,
    ``scan spacetime`` and ``scan inquiry`` read with ``--locations``: ``cancer-by-stratum.csv``
    (``id,sex,age,cases,population``: ten years of registrations, mid-period residents),
    ``locations.csv`` (``id,x,y`` in British National Grid) and ``reference-rates.csv``
    (``sex,age,rate``: the synthetic rates per person-year the cases were drawn from, as a
    stand-in for England's).  Returns the paths by name."""
    import pandas as pd

    from .datasets import AGE_BANDS, CANCER, SEXES, load_borough

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    areas = load_borough().areas
    rows = []
    for s in SEXES:
        for b in AGE_BANDS:
            rows.append(pd.DataFrame({"id": areas["id"], "sex": s, "age": b.replace("_", "-")
                                      .replace("-plus", "+"),
                                      "cases": areas[f"cancer_{s}_{b}"],
                                      "population": areas[f"pop_{s}_{b}"]}))
    long = pd.concat(rows).sort_values(["id", "sex", "age"], kind="stable")
    paths = {"cases": folder / "cancer-by-stratum.csv", "locations": folder / "locations.csv",
             "reference_rates": folder / "reference-rates.csv"}
    long.to_csv(paths["cases"], index=False)
    areas[["id", "x", "y"]].to_csv(paths["locations"], index=False, float_format="%.0f")
    rates = CANCER.rates()
    pd.DataFrame({"sex": [s for s in SEXES for _ in AGE_BANDS],
                  "age": [b.replace("_", "-").replace("-plus", "+") for _ in SEXES
                          for b in AGE_BANDS],
                  "rate": rates}).to_csv(paths["reference_rates"], index=False,
                                         float_format="%.6g")
    return paths


def run_demo(out, *, n_replications: int = 999, rng=DEMO_SEED, threads: int | None = None,
             progress=None):
    """Run the demo into the folder ``out``; returns the ScanResult (with exposure sections).
    The inquiries are in ``out/inquiry-<id>/inquiry.json``."""
    from .datasets import CRS, borough_study_area, load_borough
    from .exposure.adjust import adjusted_scan, adjustment_report
    from .exposure.join import with_exposure
    from .exposure.summary import polygon_means
    from .exposure.synthetic import synthetic_laei
    from .exposure.text import adjustment_section, exposure_section
    from .inquiry.run import run_inquiry, write_inquiry_into
    from .io.atomic import atomic_folder, check_out
    from .io.boundaries import Boundaries
    from .io.writers import write_result_into
    from .spatial import circular_scan

    check_out(out)
    borough = load_borough()
    area = borough_study_area("cancer", adjust_for_age_sex=True)
    area = replace(area, source="embedded synthetic borough (cancer registrations, 10 years)")
    result = circular_scan(area, n_replications=n_replications, rng=rng, threads=threads,
                           progress=progress)
    grids = synthetic_laei()
    grids.attrs["source"] = "synthetic LAEI-like grids (20 m)"
    values = {name: polygon_means(grids[name], borough.polygons) for name in grids.data_vars}
    result = with_exposure(result, values)
    result = result.with_section(exposure_section(
        result, "synthetic LAEI-like grids, 20 m, mean over each area's polygon"))
    fit, adjusted = adjusted_scan(result, values["NO2"], "NO2", threads=threads)
    result = result.with_section(adjustment_section(
        {"NO2": adjustment_report(result, fit, adjusted)}))

    boundaries = Boundaries(ids=tuple(area.ids), polygons=tuple(borough.polygons), names=None,
                            crs=CRS, source="embedded synthetic borough (Voronoi cells)")
    inquiries = [run_inquiry(area, areas=(ident,), condition=CONDITION,
                             n_replications=n_replications, rng=rng, exposure=(grids,),
                             boundaries=boundaries, threads=threads,
                             sources=("Synthetic data: no real person is counted here.",))
                 for ident in (INQUIRY_AREA, QUIET_AREA)]
    with atomic_folder(out, command="scan demo") as tmp:
        write_result_into(result, tmp, map_grid=grids["NO2"], outline=borough.outline)
        for inq in inquiries:
            # the borough-wide scan of each inquiry is the demo's own scan, written above
            write_inquiry_into(inq, tmp / f"inquiry-{inq.selection.focus}", borough_scan=False)
        borough_long_form(tmp / "data")
    return result
