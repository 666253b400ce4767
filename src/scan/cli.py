"""The ``scan`` command: a thin shell over the public functions.

Every option maps to one keyword argument of the Python API, with the same default.
"""
from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import ScanInputError, ScanParameterError

DEFAULT_REPLICATIONS = 999


# --- shared option groups -------------------------------------------------------------------------

def _crs(value: str):
    return None if value.lower() in ("none", "") else value


def _fraction(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.5, got {value!r}") from None


def add_window_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("windows")
    g.add_argument("--max-population-fraction", type=_fraction, default=0.5, metavar="F",
                   help="largest share of the population at risk in a circle, in (0, 0.5] "
                        "(default: %(default)s, SaTScan's 50%%)")
    g.add_argument("--max-radius", type=float, default=None, metavar="R",
                   help="largest circle radius: coordinate units, km for latlong (default: none)")


def add_inference_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("inference")
    g.add_argument("--replications", type=int, default=DEFAULT_REPLICATIONS, metavar="R",
                   help="Monte Carlo replications (default: %(default)s)")
    g.add_argument("--seed", type=int, default=None, metavar="S",
                   help="root seed; the same seed gives the same result on any number of "
                        "threads or workers (default: fresh entropy, recorded in result.json)")
    g.add_argument("--min-cases", type=int, default=2, metavar="N",
                   help="fewest cases in a high-rate cluster (default: %(default)s, as SaTScan)")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="Numba threads for the threaded backend (default: every core)")
    g.add_argument("--backend", choices=("threads", "dask"), default="threads",
                   help="where replications run (default: %(default)s)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address; without it --backend dask starts a LocalCluster")
    g.add_argument("--workers", type=int, default=2, metavar="N",
                   help="LocalCluster worker processes for --backend dask (default: %(default)s)")


def add_output_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--out", required=required, metavar="DIR",
                   help="output folder (replaced atomically: result.json, clusters.csv, "
                        "locations.csv, clusters.geojson, locations.geojson, summary.txt, map.png)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def add_exposure_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("exposure")
    g.add_argument("--exposure", action="append", default=[], metavar="[POLLUTANT=]FILE",
                   help="pollutant grid (LAEI CSV, ESRI .asc, NetCDF written by scan) or "
                        "per-location CSV id,<pollutant>,...; repeatable")
    g.add_argument("--boundaries", default=None, metavar="FILE",
                   help="polygons of the locations (CSV id,geometry as WKT in EPSG:27700, or "
                        "GeoJSON in WGS84 with an 'id' property): grid exposure becomes the mean "
                        "over each polygon (default: the value at each point)")
    g.add_argument("--exposure-year", type=int, default=None, metavar="YEAR",
                   help="LAEI year to take from a per-area summary table holding several years")
    g.add_argument("--adjust-for", action="append", default=[], metavar="POLLUTANT",
                   help="also run the scan with expected counts adjusted for this pollutant "
                        "(log-linear Poisson regression) and report both")


# --- progress --------------------------------------------------------------------------------------

@contextmanager
def progress_bar(total: int, enabled: bool, desc: str = "Monte Carlo"):
    if not enabled or total <= 0:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="rep", file=sys.stderr, leave=False) as bar:
        def update(done, _total):
            bar.update(done - bar.n)

        yield update


@contextmanager
def numba_threads(n: int | None):
    if n is None:
        yield
        return
    import numba

    if n < 1 or n > numba.config.NUMBA_NUM_THREADS:
        raise ScanParameterError("--threads", f"between 1 and {numba.config.NUMBA_NUM_THREADS}", n)
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def backend_options(args) -> dict:
    if args.backend == "dask":
        return {"scheduler": args.scheduler, "n_workers": args.workers}
    return {}


def show_progress(args) -> bool:
    """Progress bars unless --quiet (a batch asks for them through ``progress_enabled``)."""
    return getattr(args, "progress_enabled", not args.quiet)


# --- scan spatial ----------------------------------------------------------------------------------

def check_satscan_files(args, others: str) -> None:
    """SaTScan files come instead of DATA.csv, and a case file needs its coordinates file."""
    if args.data:
        raise ScanParameterError("DATA", "omitted when SaTScan files are given", args.data,
                                 f"pass either DATA.csv or --cas/--geo (with {others})")
    if not args.geo:
        raise ScanParameterError("--geo", "a SaTScan coordinates file", None,
                                 "pass --geo FILE.geo with --cas")


def read_spatial_input(args):
    from .io.csv import read_csv
    from .io.satscan import read_satscan

    if args.cas:
        check_satscan_files(args, "--pop or --ctl")
        return read_satscan(args.cas, geo=args.geo, pop=args.pop, ctl=args.ctl,
                            coordinates=args.coordinates, model=args.model,
                            crs=None if args.crs == "EPSG:27700" and args.crs_default else args.crs,
                            start=args.start, end=args.end)
    if not args.data:
        raise ScanParameterError("DATA", "a CSV file with columns id,x,y,cases,population", None,
                                 "or pass SaTScan files with --cas and --geo")
    return read_csv(args.data, model=args.model, coordinates=args.coordinates, crs=args.crs,
                    project_to=args.project_to)


def run_spatial(args) -> int:
    from .spatial import circular_scan

    area = read_spatial_input(args)
    with numba_threads(args.threads), progress_bar(args.replications, show_progress(args)) as progress:
        result = circular_scan(
            area, model=args.model, direction=args.direction,
            max_population_fraction=args.max_population_fraction, max_radius=args.max_radius,
            n_replications=args.replications, rng=args.seed, backend=args.backend,
            progress=progress, min_cases=args.min_cases, **backend_options(args))
    return finish(result, args)


def finish(result, args, *, map_grid=None, outline=None) -> int:
    """Exposure context (if asked), outputs, summary."""
    from .io.writers import write_result

    pollutant = "NO2"
    if getattr(args, "exposure", None) or getattr(args, "adjust_for", None):
        from .exposure.adjust import exposure_context

        result, map_grid, pollutant = exposure_context(result, args.exposure, args.adjust_for,
                                                       args)
    extra_files = getattr(args, "extra_files", None)  # a batch adds analysis.json
    write_result(result, args.out, map_grid=map_grid, outline=outline, pollutant=pollutant,
                 extra_files=extra_files)
    if not args.quiet:
        print(result.summary())
        print(f"\noutputs in {args.out}/")
    return 0


# --- scan demo -------------------------------------------------------------------------------------

def run_demo(args) -> int:
    from .demo import run_demo as demo

    return demo(args)


# --- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scan", description="Kulldorff scan statistics for disease clusters, with the air "
        "the people inside breathe.")
    parser.add_argument("--version", action="version", version=f"scan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sp = sub.add_parser("spatial", help="purely spatial circular scan (Poisson or Bernoulli)",
                        description="Purely spatial circular scan on a CSV (id,x,y,cases,"
                        "population[,expected]) or SaTScan files (--cas, --geo, --pop or --ctl).")
    sp.add_argument("data", nargs="?", metavar="DATA.csv",
                    help="CSV with columns id,x,y,cases,population (optional expected; for "
                         "Bernoulli population counts cases plus controls)")
    sp.add_argument("--model", choices=("poisson", "bernoulli"), default="poisson",
                    help="probability model (default: %(default)s)")
    sp.add_argument("--direction", choices=("high", "low", "both"), default="high",
                    help="scan for high rates, low rates or both (default: %(default)s)")
    sp.add_argument("--coordinates", choices=("cartesian", "latlong"), default="cartesian",
                    help="cartesian: Euclidean on x,y as given; latlong: x is longitude, y "
                         "latitude, great-circle distances (default: %(default)s)")
    sp.add_argument("--crs", type=_crs, default="EPSG:27700", metavar="EPSG:XXXX",
                    help="projected CRS of cartesian coordinates, 'none' for plain numbers "
                         "(default: %(default)s, British National Grid; SaTScan files: none)")
    sp.add_argument("--project-to", default=None, metavar="EPSG:XXXX",
                    help="with --coordinates latlong: reproject the points into this projected "
                         "CRS (pyproj) and use Euclidean distances there (default: none, "
                         "great-circle distances as SaTScan)")
    g = sp.add_argument_group("SaTScan files")
    g.add_argument("--cas", metavar="FILE", help="SaTScan case file")
    g.add_argument("--geo", metavar="FILE", help="SaTScan coordinates file (latlong: latitude first)")
    g.add_argument("--pop", metavar="FILE", help="SaTScan population file (Poisson)")
    g.add_argument("--ctl", metavar="FILE", help="SaTScan control file (Bernoulli)")
    g.add_argument("--start", default=None, help="study period start (YYYY, YYYY/MM/DD)")
    g.add_argument("--end", default=None, help="study period end (YYYY, YYYY/MM/DD)")
    add_window_options(sp)
    add_inference_options(sp)
    add_exposure_options(sp)
    add_output_options(sp)
    sp.set_defaults(func=run_spatial)

    dp = sub.add_parser("demo", help="run the demo on the embedded synthetic borough",
                        description="Age-and-sex-adjusted Poisson scan of ten years of synthetic "
                        "cancer registrations in a borough shaped like Barking and Dagenham, "
                        "with NO2, PM10 and PM2.5 context from LAEI-like grids and a map.")
    dp.add_argument("--out", default="demo-output", metavar="DIR",
                    help="output folder (default: %(default)s)")
    dp.add_argument("--replications", type=int, default=DEFAULT_REPLICATIONS, metavar="R",
                    help="Monte Carlo replications (default: %(default)s)")
    dp.add_argument("--seed", type=int, default=20261129, metavar="S",
                    help="root seed (default: %(default)s)")
    dp.add_argument("--threads", type=int, default=None, metavar="N",
                    help="Numba threads (default: every core)")
    dp.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    dp.set_defaults(func=run_demo)

    for extra in _extra_commands():
        extra(sub)
    return parser


def _extra_commands():
    """Sub-commands defined next to their features (space-time, batch), when present."""
    commands = []
    for module, name in (("scan.spacetime_cli", "add_parser"), ("scan.batch", "add_parser")):
        try:
            import importlib

            commands.append(getattr(importlib.import_module(module), name))
        except ModuleNotFoundError:
            continue
    return commands


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "command", None) == "spatial":
        args.crs_default = "--crs" not in (argv if argv is not None else sys.argv[1:])
    try:
        return args.func(args)
    except (ScanInputError, ScanParameterError) as exc:
        print(f"scan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scan: interrupted; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
