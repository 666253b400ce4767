"""``scan inquiry``: a Stage 2a inquiry for a named area, a thin shell over
:func:`scan.inquiry.write_inquiry`."""
from __future__ import annotations

import argparse

from contextlib import contextmanager

from .common import (add_long_form_options, add_options, compile_notice, crs_option,
                     progress_bar)

EPILOG = """\
examples:
  scan inquiry cases.csv --locations lsoa.csv --area E01000031 --strata sex,age --out inq/
  scan inquiry cases.csv --locations lsoa.csv --area E01000031 --strata sex,age \\
      --reference-rates england_rates.csv --years 10 --boundaries lsoa.gpkg --out inq/
  scan inquiry cases.csv --locations lsoa.csv --area-name "Chadwell Heath" --out inq/
  scan inquiry cases.csv --locations lsoa.csv --near 548200,188400 --radius 500 --out inq/

outputs (in --out): inquiry.json (every number), report.html (for councillors), borough-scan/
(the borough-wide scan's usual files), inquiry-public.json (with --suppress-below)."""


def point(text: str) -> tuple[float, float]:
    """``548000,188000`` -> (548000.0, 188000.0)."""
    parts = [t.strip() for t in text.split(",")]
    try:
        x, y = (float(t) for t in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y (two numbers, e.g. 548000,188000), got "
                                         f"{text!r}") from None
    return x, y


def add_parser(sub):
    p = sub.add_parser(
        "inquiry", help="Stage 2a: is there an excess of a condition in THIS area? (SIR, "
        "exact test, focused tests, borough scan, air quality, a report)",
        description="Answer a reported cluster the way England's guidance asks at Stage 2a: "
        "observed against expected cases for the named area(s), exact SIR interval and "
        "p-value, focused tests around it, the borough-wide scan, air-quality context, and a "
        "plain-English verdict with its caveats (inquiry.json and report.html).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="CASES.csv",
                   help="long-form cases id,<strata>,cases,population[,year] (with "
                        "--locations), or the scan spatial CSV id,x,y,cases,population")
    a = p.add_argument_group("the area asked about (one or more of --area/--area-name, or "
                             "--near)")
    a.add_argument("--area", dest="areas", action="append", default=None, metavar="ID",
                   help="location id, e.g. an LSOA code (repeatable: their union is tested "
                        "too)")
    a.add_argument("--area-name", dest="area_names", action="append", default=None,
                   metavar="NAME",
                   help="a whole name from the locations' name column, or a ward from their "
                        "ward column (every area in it); case and spacing ignored; repeatable")
    a.add_argument("--near", type=point, default=None, metavar="X,Y",
                   help="a point in the coordinates' CRS (metres for British National Grid): "
                        "the area holding it, or with --radius every area within reach")
    add_options(a, ("radius",))
    add_options(p, ("condition",))
    add_long_form_options(p)
    g = p.add_argument_group("coordinates")
    g.add_argument("--crs", type=crs_option, default=None, metavar="EPSG:XXXX",
                   help="projected CRS of the locations, 'none' for plain numbers (default: "
                        "EPSG:27700, British National Grid)")
    e = p.add_argument_group("maps and exposure")
    e.add_argument("--boundaries", default=None, metavar="FILE",
                   help="area polygons: GeoPackage, shapefile, GeoJSON, FlatGeobuf (any CRS, "
                        "read from the file) or CSV id,geometry (WKT, EPSG:27700): the report's "
                        "maps, polygon means of pollutant grids, --near by polygon")
    e.add_argument("--exposure", action="append", default=None, metavar="[POLLUTANT=]FILE",
                   help="pollutant grid (LAEI CSV, ESRI .asc, NetCDF) or per-area table "
                        "id,<pollutant>,... (LAEI summaries too); repeatable")
    e.add_argument("--exposure-year", type=int, default=None, metavar="YEAR",
                   help="LAEI year to take from a per-area summary holding several years")
    e.add_argument("--attribution", action="append", default=None, metavar="TEXT",
                   help="data attribution for the report's maps and sources (repeatable), "
                        "e.g. \"Contains OS data © Crown copyright and database right 2021\"")
    i = p.add_argument_group("inference")
    add_options(i, ("n_replications", "rng", "alpha", "max_population_fraction", "threads"))
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: a new or empty folder, or one scan wrote before (it is "
                        "then replaced atomically); scan never deletes files it did not write")
    add_options(o, ("suppress_below",))
    o.add_argument("--pdf", action="store_true",
                   help="also report.pdf: the report printed to A4 by headless Chromium "
                        "(offline; Debian's chromium package)")
    o.add_argument("--quiet", action="store_true", help="no progress bar and no verdict")
    p.set_defaults(run=run)
    return p


def _check_files(args) -> None:
    import os
    from pathlib import Path

    from ..errors import ScanInputError
    from ..jobs import exposure_path

    files = [("CASES.csv", args.data), ("--locations", args.locations),
             ("--reference-rates", args.reference_rates), ("--boundaries", args.boundaries)]
    files += [("--exposure", exposure_path(s)) for s in args.exposure or ()]
    for option, path in files:
        if path is None:
            continue
        path = Path(path)
        if not path.exists():
            raise ScanInputError(f"file not found (given as {option})", file=str(path))
        if path.is_dir():
            raise ScanInputError(f"is a folder, not a file (given as {option})", file=str(path))
        if not os.access(path, os.R_OK):
            raise ScanInputError(f"cannot be read: permission denied (given as {option})",
                                 file=str(path))


def run(args) -> int:
    from ..data import DEFAULT_CRS
    from ..inquiry.run import write_inquiry
    from ..io.atomic import check_out

    check_out(args.out)
    _check_files(args)
    if args.pdf:
        from ..inquiry.run import _check_chromium

        _check_chromium()
    compile_notice(("spatial", "inquiry"))
    crs = DEFAULT_CRS if args.crs is None else (None if args.crs == "none" else args.crs)
    with _lazy_bar(args.n_replications, not args.quiet) as progress:
        d = write_inquiry(
            args.out, args.data, locations=args.locations, strata=args.strata,
            reference_rates=args.reference_rates, years=args.years, rate_per=args.rate_per,
            crs=crs, areas=tuple(args.areas or ()), area_names=tuple(args.area_names or ()),
            near=args.near, radius=args.radius, condition=args.condition,
            n_replications=args.n_replications, rng=args.rng, alpha=args.alpha,
            max_population_fraction=args.max_population_fraction,
            exposure=tuple(args.exposure or ()), exposure_year=args.exposure_year,
            boundaries=args.boundaries, suppress_below=args.suppress_below,
            attribution=tuple(args.attribution or ()), threads=args.threads,
            progress=progress, pdf=args.pdf)
    if not args.quiet:
        print(d["question"])
        print()
        print(d["verdict"]["headline"])
        for para in d["verdict"]["paragraphs"]:
            print()
            print(para)
        print()
        print("Caveat: " + d["caveats"][0])
        print(f"\noutputs in {args.out}/ (inquiry.json"
              + (", report.html" if _has_report(args.out) else "")
              + (", report.pdf" if args.pdf else "") + ", borough-scan/)")
    return 0


@contextmanager
def _lazy_bar(total: int, enabled: bool):
    """A progress bar that appears only when the borough scan starts replicating, so that an
    input error stays a single line on stderr."""
    opened: list = []

    def update(done, _total):
        if not opened:
            cm = progress_bar(total, enabled, desc="borough scan")
            opened.append((cm, cm.__enter__()))
        bar = opened[0][1]
        if bar is not None:
            bar(done, _total)

    try:
        yield update
    finally:
        for cm, _ in opened:
            cm.__exit__(None, None, None)


def _has_report(out) -> bool:
    from pathlib import Path

    return (Path(out) / "report.html").exists()
