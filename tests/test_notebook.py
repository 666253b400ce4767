"""examples/notebook.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel):
the embedded borough, 99 replications, the result's HTML view, GeoDataFrames and files."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("geopandas")


def test_the_example_notebook_is_valid_and_has_no_stored_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 6
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_the_example_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()                                   # raises CellExecutionError on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs
            if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    view = next(h for h in html if "ScanResult" in h)   # the result's _repr_html_
    assert "<svg" in view and "<table" in view
    assert any(o.output_type == "display_data" and "image/png" in o.get("data", {})
               for o in outputs)                      # the GeoPandas map
    out = tmp_path / "notebook-output"
    for name in ("result.gpkg", "clusters.kml", "clusters.csv", "shapefiles/clusters.shp"):
        assert (out / name).is_file(), name
