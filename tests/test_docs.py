"""The documentation site builds with warnings as errors (mkdocs build --strict), the API
reference is generated from the docstrings, and the SaTScan parameter page covers every key."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REFERENCE

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PARAMETERS = DOCS / "satscan-parameters.md"


def _page_keys() -> dict[str, str]:
    """key -> status, from the parameter page's tables."""
    rows = re.findall(r"^\| `([A-Za-z0-9_-]+)` \|(?:[^|\\]|\\\|)*\| (yes|partly|no) \|",
                      PARAMETERS.read_text(), flags=re.M)   # an escaped \| inside a cell
    return dict(rows)


def test_parameter_page_covers_every_key_scan_reads():
    """Every .prm key scan's reader knows (src/scan/io/prm.py) has a row."""
    source = (ROOT / "src" / "scan" / "io" / "prm.py").read_text()
    known = set(re.findall(r'"([A-Z][a-z]+(?:[A-Z][A-Za-z0-9]*)+)"', source))
    assert len(known) > 30
    page = _page_keys()
    assert sorted(known - set(page)) == []
    for key in ("CaseFile", "MonteCarloReps", "MaxSpatialSizeInPopulationAtRisk", "ModelType"):
        assert page[key] in ("yes", "partly")
    for key in ("IterativeScan", "EllipseShapes", "SpatialWindowShapeType",
                "CriteriaForReportingSecondaryClusters", "ReportGiniClusters",
                "EarlyTerminationThreshold", "AdjustForEarlierAnalyses"):
        assert page[key] == "yes", key
    for key in ("PerformPowerEvaluation", "IsotonicScan", "UseNeighborsFile"):
        assert page[key] == "no", key


@pytest.mark.skipif(not (REFERENCE / "satscan_samples").is_dir(),
                    reason="../shared/data/reference absent")
def test_parameter_page_covers_every_key_satscan_writes():
    """Every key of the SaTScan 10.3 parameter files in ../shared has a row, once."""
    page = _page_keys()
    text = PARAMETERS.read_text()
    for prm in sorted((REFERENCE / "satscan_samples").glob("*.prm")):
        keys = [line.split("=", 1)[0].strip()
                for line in prm.read_text(encoding="latin-1").splitlines()
                if "=" in line and not line.lstrip().startswith(";")]
        assert len(keys) > 100
        assert sorted(set(keys) - set(page)) == [], prm.name
        for key in keys:
            assert text.count(f"| `{key}` |") == 1, key


def test_griffe_house_style_moves_descriptions_out_of_the_type_column():
    sys.path.insert(0, str(DOCS))
    try:
        from griffe_house_style import rewrite
    finally:
        sys.path.remove(str(DOCS))
    doc = ("Summary :func:`scan.geo.to_geodataframe`.\n\nParameters\n----------\n"
           "path : the CSV file.  The header names the columns.\n"
           "    More about it.\nrng : int or None\n    The seed.\n"
           "ids, x, y : one value per location.\n\nReturns\n-------\nStudyArea\n")
    out = rewrite(doc)
    assert "Summary `scan.geo.to_geodataframe`." in out
    assert "path\n    the CSV file.  The header names the columns.\n    More about it." in out
    assert "rng : int or None\n    The seed." in out                 # a type stays a type
    assert "ids, x, y\n    one value per location." in out


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           str(ROOT / "mkdocs.yml"), "-d", str(site)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING" not in proc.stderr
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    for page in ("index.html", "getting-started.html", "guide/stage2a.html",
                 "guide/surveillance.html", "guide/dask.html", "guide/satscan-files.html",
                 "guide/gis.html", "statistics.html", "satscan-parameters.html", "api.html"):
        assert page in pages
    api = (site / "api.html").read_text()
    for path in ("scan.spatial.circular_scan", "scan.spacetime.spacetime_scan",
                 "scan.geo.from_geodataframe", "scan.geo.to_geodataframe",
                 "scan.io.writers.write_result", "scan.result.ScanResult",
                 "scan.inquiry.stats.stone_test", "scan.inquiry.stats.besag_newell"):
        assert f'id="{path}"' in api, path
    assert "n_replications" in api and "Monte Carlo" in api      # parameters, from docstrings
    assert ":func:" not in api and ":class:" not in api          # Sphinx roles rewritten
    stats = (site / "statistics.html").read_text()
    for ref in ("Kulldorff, M. (1997)", "(1998)", "Kulldorff, M. (2001)", "(2005)",
                "Stone, R. A. (1988)", "Besag, J. and Newell, J. (1991)", "Garwood, F. (1936)"):
        assert ref in stats
    assert not list(site.rglob("*.py"))                           # the griffe extension stays out
