"""Prospective space-time scan of Barking and Dagenham's recorded crime, one analysis per category.

    python examples/crime_prospective.py [SHARED_REAL_DATA_FOLDER] [--replications R] [--seed S]

Data (in the folder, default ``../shared/data/real`` relative to the repository):
``lbbd_lsoa11_crime_counts_2011_2021.csv`` (annual Metropolitan Police counts by LSOA 2011,
13 categories, 2011-2021), ``lbbd_lsoa11_pwc.csv`` (population-weighted centroids, British
National Grid ``x_bng, y_bng``) and ``lbbd_lsoa11_pop_mid2019.csv`` (``Persons_All-Ages``).

For each category: yearly intervals 2011-2021, expected counts from the mid-2019 population
(held constant over the period), circles up to 50% of the population, time windows up to 50% of
the study period (5 years), and only clusters still "alive" in 2021.  The table shows the most
likely alive cluster of each category with its recurrence interval (in years: 365.25 days).
Categories with no recorded crime are listed as such.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from scan.data import build_spacetime_data
from scan.spacetime import spacetime_scan

FILES = ("lbbd_lsoa11_crime_counts_2011_2021.csv", "lbbd_lsoa11_pwc.csv",
         "lbbd_lsoa11_pop_mid2019.csv")
DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"


def load(folder: Path):
    crime = pd.read_csv(folder / FILES[0])
    centroids = pd.read_csv(folder / FILES[1]).set_index("lsoa11cd")
    pop = pd.read_csv(folder / FILES[2]).set_index("LSOA11CD")["Persons_All-Ages"]
    ids = np.array(sorted(crime["LSOA11CD"].unique()))
    coords = centroids.loc[ids, ["x_bng", "y_bng"]].to_numpy(float)
    return crime, ids, coords, pop.loc[ids].to_numpy(float)


def category_data(crime, category, ids, coords, population):
    rows = crime[(crime["category"] == category) & (crime["count"] > 0)]
    index = {v: i for i, v in enumerate(ids)}
    first, last = int(crime["year"].min()), int(crime["year"].max())
    return build_spacetime_data(
        ids, coords, case_loc=rows["LSOA11CD"].map(index).to_numpy(),
        case_day=np.array([f"{y}-01-01" for y in rows["year"]], dtype="datetime64[D]"),
        case_count=rows["count"].round().astype(np.int64).to_numpy(),
        start=f"{first}-01-01", end=f"{last}-12-31", time_unit="year",
        census_loc=np.arange(len(ids)), census_day=np.full(len(ids), np.datetime64("2019-07-01")),
        census_value=population, crs="EPSG:27700", source=f"{FILES[0]} [{category}]")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER),
                    help="folder holding the shared real data (default: %(default)s)")
    ap.add_argument("--replications", type=int, default=999)
    ap.add_argument("--seed", type=int, default=20261129)
    args = ap.parse_args(argv)
    folder = Path(args.folder)
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        print(f"crime_prospective: the shared data folder {folder} lacks {', '.join(missing)}; "
              "pass the folder holding the real Barking and Dagenham data as the first argument",
              file=sys.stderr)
        return 2
    crime, ids, coords, population = load(folder)
    rows = []
    for category in sorted(crime["category"].unique()):
        if crime.loc[crime["category"] == category, "count"].sum() <= 0:
            rows.append({"category": category, "crimes": 0, "note": "no recorded crime"})
            continue
        data = category_data(crime, category, ids, coords, population)
        res = spacetime_scan(data, model="poisson", analysis="prospective",
                             n_replications=args.replications, rng=args.seed)
        c = res.most_likely
        if c is None:
            rows.append({"category": category, "crimes": data.total_cases,
                         "note": "no alive cluster"})
            continue
        rows.append({"category": category, "crimes": data.total_cases, "centre": c.center,
                     "lsoas": c.n_locations, "years": f"{c.start[:4]}-{c.end[:4]}",
                     "observed": int(c.observed), "expected": round(c.expected, 1),
                     "rr": round(c.relative_risk, 2), "llr": round(c.llr, 2),
                     "p": c.p_value, "recurrence_years": round(c.recurrence_interval / 365.25, 1),
                     "note": ""})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"Most likely alive cluster (ending 2021) per crime category, Barking and Dagenham "
              f"LSOAs, {args.replications} replications, seed {args.seed}")
        print(table.astype(object).where(table.notna(), "").to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
