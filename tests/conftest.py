import os
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


SATSCAN_BUILD = Path(os.environ.get("SCAN_SATSCAN_BUILD", "/work/satscan-build"))
"""A SaTScan 10.3 command-line build (outside the project; see the README's "Checked
against"): tests that compare with it skip when it is absent, as on CI."""


@pytest.fixture(scope="session")
def satscan():
    """``run(prm, out_dir, **overrides) -> parsed results`` with SaTScan itself, or a skip."""
    runner = SATSCAN_BUILD / "run_satscan.sh"
    if not (SATSCAN_BUILD / "bin" / "satscan").is_file() or not runner.is_file():
        pytest.skip("SaTScan build absent (set SCAN_SATSCAN_BUILD to a build folder)")
    import subprocess

    sys.path.insert(0, str(SATSCAN_BUILD))
    from satscan_results import load_results

    def run(prm, out_dir, **overrides):
        args = [str(runner), str(prm), str(out_dir)] + [f"{k}={v}" for k, v in overrides.items()]
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
        return load_results(str(out_dir))

    return run
