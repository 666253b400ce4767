"""``scan spacetime``: space-time scans, a thin shell over :func:`scan.spacetime_scan`."""
from __future__ import annotations

from .common import (add_inference_options, add_long_form_options, add_options,
                     add_output_options, add_window_options, crs_option, run_job_command)


def add_parser(sub):
    p = sub.add_parser(
        "spacetime", help="space-time scans: retrospective/prospective Poisson, space-time "
        "permutation, purely temporal",
        description="Space-time scan on a long CSV (id,x,y,time,cases[,population]), on "
        "yearly long-form cases by stratum with --locations (id,<strata>,year,cases,population; "
        "--strata sex,age standardises), or SaTScan files (--cas with dates, --geo, --pop), or "
        "with every setting from a SaTScan parameter file (--prm).")
    p.add_argument("data", nargs="?", metavar="DATA.csv",
                   help="CSV with columns id,x,y,time,cases and optional population; time is "
                        "YYYY-MM-DD, YYYY-MM or YYYY; with --locations, one row per area, "
                        "stratum and year: id,<strata>,year,cases,population")
    add_options(p, ("model", "analysis", "direction", "secondary_time"),
                model=("poisson", "permutation"))
    add_long_form_options(
        p, title="long-form input (one row per area x stratum x year)",
        strata_help="stratum columns, comma-separated, e.g. sex,age: with --locations the long "
                    "form's columns (expected counts standardised for them); with a space-time "
                    "CSV its covariate columns (the permutation model permutes within strata, "
                    "Poisson standardises indirectly); SaTScan case files carry theirs as extra "
                    "columns after the date")
    g = p.add_argument_group("coordinates")
    add_options(g, ("coordinates",))
    g.add_argument("--crs", type=crs_option, default=None, metavar="EPSG:XXXX",
                   help="projected CRS of cartesian coordinates, 'none' for plain numbers "
                        "(default: EPSG:27700 for a CSV, none for SaTScan files)")
    s = p.add_argument_group("SaTScan files")
    s.add_argument("--cas", metavar="FILE", help="SaTScan case file with dates")
    s.add_argument("--geo", metavar="FILE", help="SaTScan coordinates file")
    s.add_argument("--pop", metavar="FILE", help="SaTScan population file (Poisson)")
    s.add_argument("--prm", metavar="FILE",
                   help="SaTScan parameter file: files and every analysis setting come from it "
                        "(the inference and output options still apply)")
    t = p.add_argument_group("time")
    t.add_argument("--start", default=None, help="study period start (YYYY, YYYY/MM/DD)")
    t.add_argument("--end", default=None, help="study period end (YYYY, YYYY/MM/DD)")
    add_options(t, ("time_aggregation", "aggregation_length", "max_temporal_fraction",
                    "max_temporal_length", "min_temporal_length", "n_earlier_analyses",
                    "prospective_start", "adjust_earlier_analyses"))
    add_window_options(p)
    e = p.add_argument_group("elliptic windows (SaTScan's; Cartesian coordinates only)")
    add_options(e, ("shape", "ellipse_shapes", "ellipse_angles", "non_compactness_penalty"))
    add_inference_options(p)
    r = p.add_argument_group("secondary clusters, iterative scan and early termination")
    add_options(r, ("secondary", "drop_p_one", "iterative", "iterative_max",
                    "iterative_cutoff", "early_termination", "early_termination_threshold"))
    add_output_options(p)
    p.set_defaults(run=run)
    return p

def run(args) -> int:
    return run_job_command("spacetime", args)
