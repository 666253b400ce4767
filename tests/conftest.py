import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE = SHARED / "data" / "reference"
REAL = SHARED / "data" / "real"

needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/data/reference absent")
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real absent")


def random_dataset(seed, model="poisson", coordinates="cartesian", n=None):
    """A small random study area: sometimes integer coordinates (distance ties), sometimes
    latlong, populations of a few hundred, cases around a rate of 5%."""
    import scan

    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(4, 22))
    if coordinates == "latlong":
        x = rng.uniform(-1.0, 1.0, n)
        y = rng.uniform(51.0, 52.0, n)
    elif seed % 3 == 0:
        x = rng.integers(0, 6, n).astype(float)
        y = rng.integers(0, 6, n).astype(float)
    else:
        x = rng.uniform(0, 100, n)
        y = rng.uniform(0, 100, n)
    population = rng.integers(20, 400, n).astype(float)
    risk = np.where(rng.random(n) < 0.2, 2.0, 1.0)
    cases = rng.binomial(population.astype(int), np.minimum(0.05 * risk, 1.0)).astype(float)
    if cases.sum() == 0:
        cases[0] = 1
    ids = [f"L{i}" for i in range(n)]
    # unique ids even when coordinates repeat
    return scan.study_area(ids, x, y, cases, population, coordinates=coordinates, crs=None,
                           model=model, source=f"random-{seed}")
