"""Stage 2a inquiry for one Chadwell Heath LSOA on the real Barking and Dagenham geography.

    python examples/stage2a_inquiry.py [SHARED_REAL_DATA_FOLDER] [--out DIR] [--inputs DIR]
                                       [--replications R] [--seed S] [--relative-risk RR]

A resident reports too many cancers in one Chadwell Heath LSOA.  This script answers the
guidance's Stage 2a question for that LSOA, E01000031 (Barking and Dagenham 002A, inside the
Chadwell Heath ward), with ``scan inquiry``'s Python function
(:func:`scan.inquiry.write_inquiry`) and writes the report.

REAL public data (the folder, default ``../shared/data/real`` beside the repository; see its
SOURCES.md): the 110 LSOAs of 2011 with their ONS population-weighted centroids
(``lbbd_lsoa11_pwc.csv``, British National Grid) and names, ONS mid-2019 populations by sex and
age band (``lbbd_lsoa11_pop_mid2019.csv``), LSOA boundaries (``lbbd_lsoa11_boundaries_bng.csv``,
WKT in EPSG:27700), 2025 ward boundaries (``lbbd_wards2025_boundaries.csv``, to give each LSOA
its ward) and the LAEI 2019 annual means per LSOA (``lbbd_lsoa11_laei_concentration_summary.csv``).

STAND-IN cases, NOT real cancer data: no cancer registration data are used or available here.
The script draws ten years of synthetic registrations for every LSOA, sex and age band as
Poisson counts with mean  mid-2019 population x rate x 10 years x relative risk,  from the
ILLUSTRATIVE all-cancer rates below (per 100,000 person-years, of the order of England's
published registration rates by sex and broad age band, not an official table), with a fixed
seed (:data:`CASES_SEED`), so the file is the same on every run.  By default the relative risk
is 1 everywhere (no excess anywhere); ``--relative-risk 1.6`` plants an excess in E01000031 to
show what a significant answer looks like.  Nothing here says anything about cancer in Barking
and Dagenham.  The same illustrative rates serve as the external reference rates, so expected
counts are population x rate x 10 years, not rescaled.

Inputs written to ``--inputs`` (default ``stage2a-inputs``): ``cases.csv`` (long form
``id,sex,age,cases,population``), ``locations.csv`` (``id,x,y,name,ward``) and
``reference_rates.csv`` (``sex,age,rate`` per 100,000).  Outputs in ``--out`` (default
``stage2a-inquiry``): inquiry.json, inquiry-public.json (counts below 5 suppressed),
report.html (when this version of scan has it) and borough-scan/.  The equivalent command is
printed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FILES = {"centroids": "lbbd_lsoa11_pwc.csv", "population": "lbbd_lsoa11_pop_mid2019.csv",
         "boundaries": "lbbd_lsoa11_boundaries_bng.csv",
         "wards": "lbbd_wards2025_boundaries.csv",
         "laei": "lbbd_lsoa11_laei_concentration_summary.csv"}
DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"

AREA = "E01000031"
"""The reported LSOA: Barking and Dagenham 002A, in Chadwell Heath ward."""
WARD = "Chadwell Heath"
YEARS = 10
CASES_SEED = 20_190_630
"""Seed of the stand-in case counts (fixed: the stand-in file is the same on every run)."""
CONDITION = "synthetic stand-in cancer registrations"

BANDS = ("0-15", "16-29", "30-44", "45-64", "65+")
#: ILLUSTRATIVE all-cancer registration rates per 100,000 person-years by sex and age band, of
#: the order of England's published figures; NOT an official table.
RATES_PER_100K = {"M": (17.0, 30.0, 90.0, 650.0, 2_600.0),
                  "F": (16.0, 45.0, 190.0, 700.0, 1_900.0)}
RATE_PER = 100_000
STAND_IN_NOTE = ("STAND-IN CASES: synthetic counts drawn by examples/stage2a_inquiry.py from "
                 "illustrative rates; NOT real cancer data; nothing here describes cancer in "
                 "Barking and Dagenham.")
ATTRIBUTION = ("Source: Office for National Statistics licensed under the Open Government "
               "Licence v.3.0. Contains OS data © Crown copyright and database right",
               "Contains LAEI data, Greater London Authority, OGL v2.0")


def write_inputs(folder: Path, inputs: Path, relative_risk: float) -> dict[str, Path]:
    """The locations (real), the stand-in long-form cases and the reference rates."""
    import shapely

    inputs.mkdir(parents=True, exist_ok=True)
    pwc = pd.read_csv(folder / FILES["centroids"])
    wards = pd.read_csv(folder / FILES["wards"])
    polygons = shapely.from_wkt(wards["geometry_wkt_bng"].to_numpy())
    ward = np.full(len(pwc), "", dtype=object)
    for name, poly in zip(wards["WD25NM"], polygons):
        ward[shapely.contains_xy(poly, pwc["x_bng"].to_numpy(), pwc["y_bng"].to_numpy())] = name
    locations = pd.DataFrame({"id": pwc["lsoa11cd"], "x": pwc["x_bng"], "y": pwc["y_bng"],
                              "name": pwc["lsoa11nm"], "ward": ward})
    if locations.loc[locations["id"] == AREA, "ward"].item() != WARD:
        raise SystemExit(f"stage2a_inquiry: {AREA} is not in {WARD} ward in {FILES['wards']}")

    pop = pd.read_csv(folder / FILES["population"]).set_index("LSOA11CD")
    rng = np.random.default_rng(CASES_SEED)
    rows = []
    for lsoa in locations["id"]:                     # the locations' order, then sex, then band
        rr = relative_risk if lsoa == AREA else 1.0
        for sex, column in (("M", "Males"), ("F", "Females")):
            for band, rate in zip(BANDS, RATES_PER_100K[sex]):
                people = int(pop.loc[lsoa, f"{column}_{band}"])
                mean = people * rate / RATE_PER * YEARS * rr
                rows.append((lsoa, sex, band, int(rng.poisson(mean)), people))
    cases = pd.DataFrame(rows, columns=["id", "sex", "age", "cases", "population"])
    rates = pd.DataFrame([(s, b, r) for s in ("M", "F") for b, r in zip(BANDS, RATES_PER_100K[s])],
                         columns=["sex", "age", "rate"])
    paths = {"cases": inputs / "cases.csv", "locations": inputs / "locations.csv",
             "reference_rates": inputs / "reference_rates.csv"}
    cases.to_csv(paths["cases"], index=False)
    locations.to_csv(paths["locations"], index=False)
    rates.to_csv(paths["reference_rates"], index=False)
    (inputs / "README.txt").write_text(STAND_IN_NOTE + "\n")
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER),
                    help="folder holding the shared real data (default: %(default)s)")
    ap.add_argument("--out", default="stage2a-inquiry", help="output folder (default: %(default)s)")
    ap.add_argument("--inputs", default="stage2a-inputs",
                    help="where the stand-in inputs are written (default: %(default)s)")
    ap.add_argument("--replications", type=int, default=999)
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--relative-risk", type=float, default=1.0,
                    help=f"relative risk planted in {AREA} in the stand-in cases (default: 1, "
                         "no excess)")
    args = ap.parse_args(argv)
    folder = Path(args.folder)
    missing = [f for f in FILES.values() if not (folder / f).is_file()]
    if missing:
        print(f"stage2a_inquiry: the shared data folder {folder} lacks {', '.join(missing)}; "
              "pass the folder holding the real Barking and Dagenham data as the first argument",
              file=sys.stderr)
        return 2

    from scan.inquiry import write_inquiry

    paths = write_inputs(folder, Path(args.inputs), args.relative_risk)
    planted = ("" if args.relative_risk == 1 else
               f" A relative risk of {args.relative_risk:g} was planted in {AREA}.")
    d = write_inquiry(
        args.out, paths["cases"], locations=paths["locations"], strata=("sex", "age"),
        reference_rates=paths["reference_rates"], years=YEARS, rate_per=RATE_PER,
        areas=(AREA,), condition=CONDITION, boundaries=folder / FILES["boundaries"],
        exposure=(folder / FILES["laei"],), exposure_year=2019, suppress_below=5,
        n_replications=args.replications, rng=args.seed, attribution=ATTRIBUTION,
        sources=(STAND_IN_NOTE + planted,
                 "Population: ONS mid-2019 LSOA estimates by sex and broad age band; "
                 "centroids: ONS 2011 LSOA population-weighted centroids; boundaries: 2011 "
                 "LSOAs (simplified); wards: ONS December 2025 (extracts described in "
                 "../shared/data/real/SOURCES.md)."))
    print(STAND_IN_NOTE + planted)
    print("\nThe same from the shell:\n  scan inquiry "
          f"{paths['cases']} --locations {paths['locations']} --strata sex,age "
          f"--reference-rates {paths['reference_rates']} --years {YEARS} --rate-per {RATE_PER} "
          f"--area {AREA} --condition \"{CONDITION}\" --boundaries "
          f"{folder / FILES['boundaries']} --exposure {folder / FILES['laei']} "
          f"--exposure-year 2019 --suppress-below 5 --replications {args.replications} "
          f"--seed {args.seed} --out {args.out}\n")
    a = d["areas"][0]
    key = {"area": f"{a['id']} ({a['name']}), {WARD} ward", "observed": a["observed"],
           "expected": round(a["expected"], 2), "sir": round(a["sir"], 3),
           "sir_ci95": [round(v, 3) for v in a["sir_ci95"]], "p_value": float(f"{a['p_value']:.3g}"),
           "reference": d["reference"], "headline": d["verdict"]["headline"]}
    print(json.dumps(key, indent=1, ensure_ascii=False))
    print(f"\noutputs in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
