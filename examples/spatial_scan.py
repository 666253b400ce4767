"""A purely spatial scan from a CSV, as an epidemiologist would run it.

    python examples/spatial_scan.py [DATA.csv] [OUT_DIR]

DATA.csv has one row per area: id,x,y,cases,population (British National Grid metres).  Without
arguments the script writes the embedded synthetic borough's cancer counts to a CSV first, so it
runs anywhere.
"""
import sys
import tempfile
from pathlib import Path

import scan
from scan.datasets import write_borough_csv
from scan.io.writers import write_result

workdir = Path(tempfile.mkdtemp(prefix="scan-example-"))
data = Path(sys.argv[1]) if len(sys.argv) > 1 else write_borough_csv(workdir / "cancer.csv")
out = Path(sys.argv[2]) if len(sys.argv) > 2 else workdir / "results"

# 1. Load: ids, coordinates (EPSG:27700), cases and population; bad rows raise a clear error.
area = scan.read_csv(data)

# 2. Scan: Poisson model, circles up to 50% of the population, 999 replications, fixed seed.
result = scan.circular_scan(area, model="poisson", max_population_fraction=0.5,
                            n_replications=999, rng=2026)

# 3. Read the answer.
print(result.summary())
cluster = result.most_likely
print(f"\nMost likely cluster: {len(cluster.members)} areas around {cluster.center}, "
      f"{cluster.observed:.0f} cases against {cluster.expected:.1f} expected, p = {cluster.p_value:.3f}")

# 4. Write result.json, clusters.csv, locations.csv, GeoJSON and a map.
write_result(result, out)
print(f"outputs in {out}")
