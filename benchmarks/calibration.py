"""Null calibration figure for RESULTS.md: rejection rate at 0.05 over null data sets.

    python benchmarks/calibration.py [N_DATASETS]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_calibration import _binomial_band, null_rejections  # noqa: E402

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
lo, hi = _binomial_band(n, 0.05)
for model in ("poisson", "bernoulli"):
    for seed in (101, 202):
        r = null_rejections(model, n, seed=seed)
        print(f"{model:9s} seed {seed}: {r}/{n} = {r / n:.3f} rejected at 0.05 "
              f"(binomial 99% band {lo:.0f}-{hi:.0f})")
