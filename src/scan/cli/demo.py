"""``scan demo``: the demo on the embedded synthetic borough (:func:`scan.demo.run_demo`)."""
from __future__ import annotations

from .common import add_options, compile_notice, finish, progress_bar


def add_parser(sub):
    from ..demo import DEMO_SEED

    p = sub.add_parser("demo", help="run the demo on the embedded synthetic borough",
                       description="Age-and-sex-adjusted Poisson scan of ten years of synthetic "
                       "cancer registrations in a borough shaped like Barking and Dagenham, "
                       "with NO2, PM10 and PM2.5 context from LAEI-like grids and a map, then "
                       "two Stage 2a inquiries (one area inside the planted excess, one "
                       "ordinary area) and the data as long-form files to try the commands on.")
    p.add_argument("--out", default="demo-output", metavar="DIR",
                   help="output folder (default: %(default)s)")
    add_options(p, ("n_replications", "threads"))
    p.add_argument("--seed", dest="rng", type=int, default=DEMO_SEED, metavar="S",
                   help="root seed (default: %(default)s)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no summary (a one-line notice on stderr still says "
                        "when kernels are compiling, on the first run only)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..datasets import load_borough
    from ..demo import run_demo

    borough = load_borough()
    if not args.quiet:
        areas = borough.areas
        print(f"Embedded borough: {len(areas)} areas, population "
              f"{areas['population'].sum():,.0f}, {areas['cancer'].sum():,} cancer "
              "registrations; expected counts standardised for age band x sex.")
    with progress_bar(args.n_replications, not args.quiet) as progress:
        compile_notice(("spatial", "inquiry"), progress)
        result = run_demo(args.out, n_replications=args.n_replications, rng=args.rng,
                          threads=args.threads, progress=progress)
    finish(result, args)
    if not args.quiet:
        planted = borough.planted["cancer"]
        print(f"(The synthetic data plant a relative risk of {planted.relative_risk} in "
              f"{', '.join(planted.ids)}.)")
        _print_inquiries(args.out)
    return 0


def _print_inquiries(out) -> None:
    """The demo's two Stage 2a inquiries, as their headlines."""
    import json
    from pathlib import Path

    from ..demo import INQUIRY_AREA, QUIET_AREA

    print("\nStage 2a inquiries (scan inquiry): a resident reports too many cancers in one area.")
    for ident in (INQUIRY_AREA, QUIET_AREA):
        folder = Path(out) / f"inquiry-{ident}"
        d = json.loads((folder / "inquiry.json").read_text(encoding="utf-8"))
        print(f"  {d['question']}\n    {d['verdict']['headline']}")
        report = folder / "report.html"
        print(f"    ({folder}/" + ("report.html" if report.exists() else "inquiry.json") + ")")
    print(f"  Try it on the long-form files in {out}/data/:\n"
          f"    scan inquiry {out}/data/cancer-by-stratum.csv --locations "
          f"{out}/data/locations.csv --strata sex,age --area {INQUIRY_AREA} "
          "--condition \"cancer registrations\" --out my-inquiry")
