"""``scan spatial``: the purely spatial scan, a thin shell over :func:`scan.circular_scan`."""
from __future__ import annotations

from .common import (add_exposure_options, add_inference_options, add_options,
                     add_output_options, add_window_options, crs_option, finish, job_options,
                     progress_bar)


def add_parser(sub):
    p = sub.add_parser("spatial", help="purely spatial circular scan (Poisson or Bernoulli)",
                       description="Purely spatial circular scan on a CSV (id,x,y,cases,"
                       "population[,expected]) or SaTScan files (--cas, --geo, --pop or --ctl).")
    p.add_argument("data", nargs="?", metavar="DATA.csv",
                   help="CSV with columns id,x,y,cases,population (optional expected; for "
                        "Bernoulli population counts cases plus controls)")
    add_options(p, ("model", "direction"), model=("poisson", "bernoulli"))
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
    add_window_options(p)
    add_inference_options(p)
    add_options(p.add_argument_group("national data"), ("dask_mode",))
    add_exposure_options(p)
    add_output_options(p)
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..jobs import Job, run_job

    job = Job("spatial", job_options(args, Job("spatial").allowed()))
    with progress_bar(args.n_replications, not args.quiet) as progress:
        result = run_job(job, args.out, progress=progress.update, notice=progress.notice)
    finish(result, args)
    return 0
