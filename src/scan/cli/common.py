"""What every sub-command shares: options from the parameter table, progress, errors."""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from contextlib import contextmanager

from ..errors import ScanInputError, ScanParameterError, ScanRunError
from ..params import PARAMS, add_option

log = logging.getLogger("scan")


class ScanArgumentParser(argparse.ArgumentParser):
    """argparse with scan's one-line error shape (exit code 2)."""

    def error(self, message):
        self.exit(2, f"scan: error: {message}\n  (see '{self.prog} --help')\n")


def add_options(group, names, **narrow) -> None:
    """Options from :data:`scan.params.PARAMS`; ``narrow`` maps a name to its choices here."""
    for name in names:
        add_option(group, name, choices=narrow.get(name))


def add_inference_options(p) -> None:
    g = p.add_argument_group("inference")
    add_options(g, ("n_replications", "rng", "min_cases", "threads", "backend", "scheduler",
                    "n_workers"))


def add_window_options(p) -> None:
    g = p.add_argument_group("windows")
    add_options(g, ("max_population_fraction", "max_radius"))


def add_exposure_options(p) -> None:
    g = p.add_argument_group("exposure")
    g.add_argument("--exposure", action="append", default=None, metavar="[POLLUTANT=]FILE",
                   help="pollutant grid (LAEI CSV, ESRI .asc, NetCDF written by scan) or "
                        "per-location CSV id,<pollutant>,...; repeatable")
    g.add_argument("--boundaries", default=None, metavar="FILE",
                   help="polygons of the locations: GeoPackage, shapefile, GeoJSON, FlatGeobuf "
                        "(any CRS, read from the file) or CSV id,geometry (WKT, EPSG:27700): "
                        "the GeoJSON and map show them, and grid exposure becomes the mean over "
                        "each polygon (default: the value at each point)")
    g.add_argument("--exposure-year", type=int, default=None, metavar="YEAR",
                   help="LAEI year to take from a per-area summary table holding several years")
    g.add_argument("--adjust-for", action="append", default=None, metavar="POLLUTANT",
                   help="also run the scan with expected counts adjusted for this pollutant "
                        "(log-linear Poisson regression) and report both")


def comma_list(text: str) -> tuple[str, ...]:
    """``sex,age`` -> ``("sex", "age")``."""
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected column names separated by commas, e.g. sex,age")
    return items


def add_long_form_options(p, *, title: str = "long-form input (one row per area x stratum)",
                          strata_help: str | None = None):
    """--locations, --strata, --reference-rates, --years, --rate-per: the long-form cases of
    :func:`scan.io.long.read_long_csv` (DATA.csv is then id,<strata>,cases,population[,year])."""
    g = p.add_argument_group(title)
    g.add_argument("--locations", default=None, metavar="FILE",
                   help="locations CSV id,x,y[,name]: the cases CSV is then the long form "
                        "id,<strata columns>,cases,population[,year]")
    g.add_argument("--strata", type=comma_list, default=PARAMS["strata"].default,
                   metavar="COLUMNS", help=strata_help or PARAMS["strata"].help)
    g.add_argument("--reference-rates", default=None, metavar="FILE",
                   help="CSV of the stratum columns and rate (cases per person-year, e.g. "
                        "England's by sex and age): expected = population x rate x --years, "
                        "not rescaled for the SIR (default: the study area's own rates)")
    add_options(g, ("years", "rate_per"))


def add_output_options(p) -> None:
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: a new or empty folder, or one scan wrote before (it is "
                        "then replaced atomically); scan never deletes files it did not write")
    p.add_argument("--formats", default=None, metavar="LIST",
                   help="comma-separated outputs besides result.json: csv, geojson, gpkg "
                        "(GeoPackage), shp (shapefiles), kml (Google Earth), summary, map "
                        "(default: csv,geojson,gpkg,summary,map)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no summary (a one-line notice on stderr still says "
                        "when kernels are compiling, on the first run only)")


def crs_option(value: str):
    """``--crs none`` means plain Cartesian numbers (no CRS)."""
    return "none" if value.lower() in ("none", "") else value


def job_options(args, keys) -> dict:
    """The keyword options of a job from parsed arguments: every key the parser defines, with
    ``--crs`` left to the reader's default when not given."""
    options = {}
    for key in keys:
        if not hasattr(args, key):
            continue
        value = getattr(args, key)
        if key == "crs":
            if value is None:
                continue
            value = None if value == "none" else value
        if key in ("exposure", "adjust_for") and value is None:
            continue
        options[key] = value
    return options


@contextmanager
def progress_bar(total: int, enabled: bool, desc: str = "Monte Carlo"):
    """A tqdm bar on stderr, or nothing.  The terminal bar (``tqdm.std``): the command line runs
    in a terminal or a subprocess, never in a notebook kernel, and ``tqdm.auto`` costs imports."""
    if not enabled or total <= 0:
        yield None
        return
    from tqdm.std import tqdm

    with tqdm(total=total, desc=desc, unit="rep", file=sys.stderr, leave=False) as bar:
        def update(done, _total):
            bar.update(done - bar.n)

        # an analysis may describe its work before it starts (the space-time estimate)
        update.describe = lambda text: tqdm.write(text, file=sys.stderr)
        yield update


def say(message: str, progress=None) -> None:
    """One line on stderr, written above the progress bar when one is shown (``progress`` as
    :func:`progress_bar` yields it)."""
    if progress is not None and callable(getattr(progress, "describe", None)):
        progress.describe(message)
    else:
        print(message, file=sys.stderr, flush=True)


def compile_notice(kinds, progress=None) -> None:
    """Say on stderr, in one line, that kernels are about to compile (Numba's cache is cold for
    these kinds of analysis); nothing when they are cached.  Shown even with --quiet: it
    explains a pause."""
    from ..kernel_cache import NOTICE, cold

    if cold(kinds):
        say(NOTICE, progress)


def run_command(args) -> int:
    """Run a parsed sub-command; every failure becomes one line on stderr and an exit code."""
    try:
        return int(args.run(args) or 0)
    except (ScanInputError, ScanParameterError) as exc:
        print(f"scan: error: {exc}", file=sys.stderr)
        return 2
    except ScanRunError as exc:
        print(f"scan: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scan: interrupted; no output was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("scan: error: out of memory; use a smaller window (--max-population-fraction, "
              "--max-radius) or fewer replications per block", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"scan: error: could not read or write{where}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback with -v
        log.debug("internal error", exc_info=True)
        if log.isEnabledFor(logging.DEBUG) or getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"scan: internal error: {type(exc).__name__}: {exc} (please report it; run "
              "with -v to see where it happened)", file=sys.stderr)
        return 1


def finish(result, args) -> None:
    """The summary on stdout unless --quiet."""
    if not args.quiet:
        print(result.summary())
        print(f"\noutputs in {args.out}/")


def run_job_command(command: str, args) -> int:
    """``scan spatial`` / ``scan spacetime``: the options as a job, run with a progress bar."""
    from ..jobs import Job, run_job

    job = Job(command, job_options(args, Job(command).allowed()))
    with progress_bar(args.n_replications, not args.quiet) as progress:
        result = run_job(job, args.out, progress=progress,
                         notice=lambda message: say(message, progress))
    finish(result, args)
    return 0
