"""``scan spatial``: the purely spatial scan, a thin shell over :func:`scan.circular_scan`."""
from __future__ import annotations

import argparse

from ..models import models_for
from .common import (add_exposure_options, add_inference_options, add_long_form_options,
                     add_options, add_output_options, add_window_options, crs_option,
                     run_job_command)


DESCRIPTION = """\
Purely spatial circular scan (Kulldorff; SaTScan's statistics) on
  - a CSV with one row per area: id,x,y,cases,population[,expected];
  - long-form cases, one row per area and stratum, with --locations: expected counts
    standardised for the strata (--strata sex,age) or from reference rates;
  - SaTScan files (--cas, --geo, --pop or --ctl), or every setting from a SaTScan
    parameter file (--prm)."""

EPILOG = """\
examples:
  scan spatial by-stratum.csv --locations lsoa.csv --strata sex,age --out results/
  scan spatial cases.csv --out results/ --boundaries lsoa.gpkg --exposure laei_no2.csv
  scan spatial --cas nm.cas --pop nm.pop --geo nm.geo --coordinates latlong --out nm/
  scan demo        (writes demo-output/data/ to try these on)
For one reported area (observed against expected, exact test, a report): scan inquiry."""


def add_parser(sub):
    p = sub.add_parser("spatial", help="purely spatial circular scan (Poisson or Bernoulli)",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", metavar="DATA.csv",
                   help="CSV with columns id,x,y,cases,population (optional expected; for "
                        "Bernoulli population counts cases plus controls); with --locations, "
                        "one row per area and stratum: id,<strata>,cases,population")
    add_options(p, ("model", "direction"), model=models_for("spatial"))
    add_long_form_options(p)
    g = p.add_argument_group("coordinates")
    add_options(g, ("coordinates",))
    g.add_argument("--crs", type=crs_option, default=None, metavar="EPSG:XXXX",
                   help="projected CRS of cartesian coordinates, 'none' for plain numbers "
                        "(default: EPSG:27700, British National Grid, for a CSV; none for "
                        "SaTScan files)")
    g.add_argument("--project-to", default=None, metavar="EPSG:XXXX",
                   help="with --coordinates latlong: reproject the points into this projected "
                        "CRS (pyproj) and use Euclidean distances there (default: none, "
                        "great-circle distances as SaTScan)")
    s = p.add_argument_group("SaTScan files")
    s.add_argument("--cas", metavar="FILE", help="SaTScan case file")
    s.add_argument("--geo", metavar="FILE",
                   help="SaTScan coordinates file (latlong: latitude first)")
    s.add_argument("--pop", metavar="FILE", help="SaTScan population file (Poisson)")
    s.add_argument("--ctl", metavar="FILE", help="SaTScan control file (Bernoulli)")
    s.add_argument("--start", default=None, help="study period start (YYYY, YYYY/MM/DD)")
    s.add_argument("--end", default=None, help="study period end (YYYY, YYYY/MM/DD)")
    s.add_argument("--prm", metavar="FILE",
                   help="SaTScan parameter file of a purely spatial analysis: files and every "
                        "analysis setting come from it (the inference and output options "
                        "still apply)")
    add_window_options(p)
    e = p.add_argument_group("elliptic windows (SaTScan's; Cartesian coordinates only)")
    add_options(e, ("shape", "ellipse_shapes", "ellipse_angles", "non_compactness_penalty"))
    add_inference_options(p)
    r = p.add_argument_group("secondary clusters, iterative scan and early termination")
    add_options(r, ("secondary", "drop_p_one", "gini", "gini_collections", "gini_cutoff",
                    "iterative", "iterative_max", "iterative_cutoff", "early_termination",
                    "early_termination_threshold"))
    add_options(p.add_argument_group("national data"), ("dask_mode",))
    add_exposure_options(p)
    add_output_options(p)
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    return run_job_command("spatial", args)
