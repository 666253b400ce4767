"""The example scripts run as a user would run them."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_spatial_example(tmp_path):
    out = tmp_path / "results"
    data = tmp_path / "cancer.csv"
    from scan.datasets import write_borough_csv

    write_borough_csv(data)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "spatial_scan.py"), str(data), str(out)],
                          capture_output=True, text=True, check=True)
    assert "Most likely cluster" in proc.stdout
    assert (out / "result.json").exists() and (out / "clusters.csv").exists()
