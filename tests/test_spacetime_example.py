"""The prospective crime example runs end to end on the shared real data (skipped without it)."""
import subprocess
import sys
from pathlib import Path

from conftest import REAL, needs_real

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "crime_prospective.py"


@needs_real
def test_crime_prospective_example():
    proc = subprocess.run([sys.executable, str(SCRIPT), str(REAL), "--replications", "19",
                           "--seed", "1"], capture_output=True, text=True, check=True)
    assert "major-violence" in proc.stdout and "no recorded crime" in proc.stdout
    assert proc.stdout.count("2021") >= 12       # every alive cluster ends in 2021


def test_crime_example_names_a_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nowhere")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "lacks lbbd_lsoa11_crime_counts_2011_2021.csv" in proc.stderr
