"""``scan spacetime``: the space-time sub-command, a thin shell over :mod:`scan.spacetime`.

:mod:`scan.cli` picks this module up through ``add_parser``; every option maps to one keyword
argument of :func:`scan.spacetime.spacetime_scan` or of the readers, with the same default.
"""
from __future__ import annotations

import argparse

from .errors import ScanParameterError

_DEFAULT = "default"


def _crs_for(args, default):
    return default if args.crs == _DEFAULT else args.crs


def add_parser(sub) -> argparse.ArgumentParser:
    from .cli import _crs, _fraction, add_inference_options, add_output_options, \
        add_window_options

    p = sub.add_parser(
        "spacetime", help="space-time scans: retrospective/prospective Poisson, space-time "
        "permutation, purely temporal",
        description="Space-time scan on a long CSV (id,x,y,time,cases[,population]) or SaTScan "
        "files (--cas with dates, --geo, --pop), or with every setting from a SaTScan "
        "parameter file (--prm).")
    p.add_argument("data", nargs="?", metavar="DATA.csv",
                   help="CSV with columns id,x,y,time,cases and optional population; time is "
                        "YYYY-MM-DD, YYYY-MM or YYYY")
    p.add_argument("--model", choices=("poisson", "permutation"), default="poisson",
                   help="poisson (population at risk) or permutation (space-time permutation, "
                        "case-only) (default: %(default)s)")
    p.add_argument("--analysis", choices=("retrospective", "prospective", "temporal"),
                   default="retrospective", help="(default: %(default)s)")
    p.add_argument("--coordinates", choices=("cartesian", "latlong"), default="cartesian",
                   help="(default: %(default)s; latlong: x is longitude, y latitude; a SaTScan "
                        ".geo file gives latitude first)")
    p.add_argument("--crs", type=_crs, default=_DEFAULT, metavar="EPSG:XXXX",
                   help="projected CRS of cartesian coordinates, 'none' for plain numbers "
                        "(default: EPSG:27700 for a CSV, none for SaTScan files)")
    g = p.add_argument_group("SaTScan files")
    g.add_argument("--cas", metavar="FILE", help="SaTScan case file with dates")
    g.add_argument("--geo", metavar="FILE", help="SaTScan coordinates file")
    g.add_argument("--pop", metavar="FILE", help="SaTScan population file (Poisson)")
    g.add_argument("--prm", metavar="FILE",
                   help="SaTScan parameter file: files and every analysis setting come from it "
                        "(the inference and output options still apply)")
    t = p.add_argument_group("time")
    t.add_argument("--start", default=None, help="study period start (YYYY, YYYY/MM/DD)")
    t.add_argument("--end", default=None, help="study period end (YYYY, YYYY/MM/DD)")
    t.add_argument("--time-aggregation", choices=("day", "week", "month", "year"), default=None,
                   help="interval unit (default: the precision of the times; SaTScan files: day)")
    t.add_argument("--aggregation-length", type=int, default=1, metavar="N",
                   help="units per interval (default: %(default)s)")
    t.add_argument("--max-temporal-fraction", type=_fraction, default=0.5, metavar="F",
                   help="longest time window as a share of the study period (default: "
                        "%(default)s)")
    t.add_argument("--max-temporal-length", type=float, default=None, metavar="N",
                   help="longest time window in aggregation units (overrides the fraction)")
    t.add_argument("--min-temporal-length", type=int, default=1, metavar="N",
                   help="shortest time window in intervals (default: %(default)s)")
    t.add_argument("--earlier-analyses", type=int, default=0, metavar="N",
                   help="prospective: earlier analyses in the surveillance, for the recurrence "
                        "interval (default: %(default)s)")
    add_window_options(p)
    add_inference_options(p)
    add_output_options(p)
    p.set_defaults(func=spacetime_main)
    return p


def read_input(args):
    """(SpaceTimeData, scan keyword arguments) from the parsed options."""
    from .data import DEFAULT_CRS
    from .spacetime import read_satscan_spacetime, read_spacetime_csv, satscan_prm_spacetime

    scan_kwargs = dict(
        model=args.model, analysis=args.analysis,
        max_temporal_fraction=args.max_temporal_fraction,
        max_temporal_length=args.max_temporal_length,
        min_temporal_length=args.min_temporal_length,
        max_population_fraction=args.max_population_fraction, max_radius=args.max_radius,
        min_cases=args.min_cases, n_earlier_analyses=args.earlier_analyses)
    if args.prm:
        if args.data or args.cas:
            raise ScanParameterError("--prm", "given alone (the files come from it)", args.prm,
                                     "drop DATA.csv/--cas, or drop --prm")
        data, kwargs = satscan_prm_spacetime(args.prm)
        kwargs.pop("n_replications", None)
        return data, kwargs
    if args.cas:
        from .cli import check_satscan_files

        check_satscan_files(args, "--pop")
        data = read_satscan_spacetime(args.cas, geo=args.geo, pop=args.pop,
                                      coordinates=args.coordinates, start=args.start,
                                      end=args.end, time_aggregation=args.time_aggregation or "day",
                                      aggregation_length=args.aggregation_length,
                                      crs=_crs_for(args, None))
        return data, scan_kwargs
    if not args.data:
        raise ScanParameterError("DATA", "a CSV file with columns id,x,y,time,cases[,population]",
                                 None, "or pass SaTScan files with --cas and --geo, or --prm")
    data = read_spacetime_csv(args.data, time_aggregation=args.time_aggregation,
                              aggregation_length=args.aggregation_length, start=args.start,
                              end=args.end, coordinates=args.coordinates,
                              crs=_crs_for(args, DEFAULT_CRS))
    return data, scan_kwargs


def spacetime_main(args) -> int:
    """Run ``scan spacetime`` from parsed arguments and write the outputs to ``args.out``."""
    from .cli import backend_options, finish, numba_threads, progress_bar, show_progress
    from .spacetime import spacetime_scan

    data, kwargs = read_input(args)
    with numba_threads(args.threads), progress_bar(args.replications, show_progress(args)) as progress:
        result = spacetime_scan(data, n_replications=args.replications, rng=args.seed,
                                backend=args.backend, progress=progress,
                                **backend_options(args), **kwargs)
    return finish(result, args)
