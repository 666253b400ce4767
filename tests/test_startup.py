"""Start-up: what `import scan`, the CLI's parsing and a small run import; the first-run notice
and the kernel cache; the pandas-free CSV tables (the same bytes as pandas writes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_dataset

import scan
from scan import kernel_cache
from scan.io import table

HEAVY = ("pandas", "matplotlib", "xarray", "dask", "distributed", "pyproj", "shapely", "scipy",
         "tqdm", "numba", "h5py", "h5netcdf")


def _loaded_after(code: str, env=None) -> list[str]:
    """Top-level heavy packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (code + "\nimport sys\nprint(sorted({m.split('.')[0] for m in sys.modules} & "
             f"set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env=env).stdout.strip().splitlines()[-1]
    return eval(out)


def test_import_scan_and_the_cli_parsing_load_no_heavy_library():
    code = ("import scan, scan.cli\n"
            "p = scan.cli.build_parser()\n"
            "for argv in (['spatial', 'x.csv', '--out', 'o'], ['spacetime', 'x.csv', '--out', 'o'],"
            " ['batch', 'c.toml', '--out', 'o'], ['demo']):\n"
            "    p.parse_args(argv)\n"
            "import sys\n"
            "assert 'subprocess' not in sys.modules, 'building the parser ran git'\n")
    assert _loaded_after(code) == []


def test_version_asks_git_only_when_asked(capsys):
    from scan.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"scan {scan.__version__}")


def _write_csv(path: Path, n: int = 30, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(530_000, 540_000, n), rng.uniform(180_000, 190_000, n)
    pop = rng.integers(500, 2_000, n)
    cases = rng.binomial(pop, 0.02)
    lines = ["id,x,y,cases,population"] + [f"E{i:03d},{x[i]:.1f},{y[i]:.1f},{cases[i]},{pop[i]}"
                                           for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_cli_and_list_imports(tmp_path, *args) -> list[str]:
    data = _write_csv(tmp_path / "d.csv")
    argv = ["spatial", str(data), "--out", str(tmp_path / "out"), "--replications", "99",
            "--seed", "1", "--quiet", *args]
    code = (f"from scan.cli import main\nrc = main({argv!r})\nassert rc == 0, rc\n")
    return _loaded_after(code)


def test_a_small_run_with_csv_and_summary_imports_neither_pandas_nor_matplotlib(tmp_path):
    loaded = _run_cli_and_list_imports(tmp_path, "--formats", "csv,summary")
    # numba (and the scipy Numba itself loads) run the kernels; pyproj checks the points lie
    # where EPSG:27700 (the CSV default) is defined
    assert set(loaded) <= {"numba", "scipy", "pyproj"}, loaded
    assert {"numba", "pyproj"} <= set(loaded)
    assert (tmp_path / "out" / "clusters.csv").is_file()


def test_without_a_crs_pyproj_is_not_imported(tmp_path):
    loaded = _run_cli_and_list_imports(tmp_path, "--formats", "csv,summary", "--crs", "none")
    assert set(loaded) <= {"numba", "scipy"}, loaded


def test_geojson_and_the_map_import_what_they_draw_with_only(tmp_path):
    """The default outputs but the GeoPackage (whose pyogrio imports geopandas, hence pandas,
    when installed): shapely for the GeoJSON circles, matplotlib for the map, never pandas."""
    loaded = _run_cli_and_list_imports(tmp_path, "--formats", "csv,geojson,summary,map")
    assert set(loaded) <= {"numba", "scipy", "pyproj", "matplotlib", "shapely"}, loaded
    assert "matplotlib" in loaded
    assert (tmp_path / "out" / "map.png").is_file()


def test_the_geopackage_writer_needs_no_pandas_of_its_own(tmp_path, monkeypatch):
    """result.gpkg from the pandas-free tables: the same attributes as from the DataFrames."""
    pyogrio = pytest.importorskip("pyogrio")
    from scan.io import gis

    result = scan.circular_scan(_with_crs(random_dataset(8, n=20), "EPSG:27700"),
                                n_replications=19, rng=1)
    names, columns = gis._fields(gis.cluster_columns(result))
    names_df, columns_df = gis._fields(gis.clusters_table(result))
    assert names == names_df
    for a, b in zip(columns, columns_df):
        assert a.dtype == b.dtype and (a.tolist() == b.tolist() or np.array_equal(a, b,
                                                                                  equal_nan=True))
    names, columns = gis._fields(result.location_columns())
    names_df, columns_df = gis._fields(result.locations_dataframe())
    assert names == names_df
    for a, b in zip(columns, columns_df):
        assert a.dtype == b.dtype and (a.tolist() == b.tolist() or np.array_equal(a, b,
                                                                                  equal_nan=True))
    assert gis.write_gpkg(result, tmp_path, type("C", (), {"polygons": None})()) == \
        ["result.gpkg"]
    assert [n for n, _ in pyogrio.list_layers(tmp_path / "result.gpkg")] == \
        ["clusters", "locations"]


# --- the first-run notice ---------------------------------------------------------------------

def test_every_entry_point_is_a_cached_numba_function():
    import importlib

    for kind, points in kernel_cache.ENTRY_POINTS.items():
        for module, name in points:
            fn = getattr(importlib.import_module(module), name)
            assert hasattr(fn, "py_func"), (kind, module, name)
            assert hasattr(fn._cache, "_cache_file"), f"{module}.{name} lacks cache=True"
            assert kernel_cache.is_cached(module, name) in (True, False)


def test_an_empty_cache_reads_as_cold(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty")}
    out = subprocess.run([sys.executable, "-m", "scan.kernel_cache", "--check"],
                         capture_output=True, text=True, env=env)
    assert (out.returncode, out.stdout.strip()) == (1, "cold")


@pytest.mark.parametrize("quiet", [False, True])
@pytest.mark.parametrize("is_cold", [False, True])
def test_the_cli_says_it_compiles_once_on_stderr_even_when_quiet(tmp_path, monkeypatch, capsys,
                                                                 is_cold, quiet):
    from scan.cli import main

    monkeypatch.setattr(kernel_cache, "cold", lambda kinds=kernel_cache.KINDS: is_cold)
    data = _write_csv(tmp_path / "d.csv")
    argv = ["spatial", str(data), "--out", str(tmp_path / "out"), "--replications", "19",
            "--seed", "1", "--formats", "summary", "--crs", "none"] + (["--quiet"] if quiet else [])
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "compiling kernels" in line]
    assert lines == ([kernel_cache.NOTICE] if is_cold else [])
    assert "compiling" not in captured.out


def test_run_job_tells_its_notice_callback_before_the_scan(tmp_path, monkeypatch):
    from scan.jobs import Job, run_job

    monkeypatch.setattr(kernel_cache, "cold", lambda kinds: kinds == "spatial")
    told = []
    job = Job("spatial", {"data": str(_write_csv(tmp_path / "d.csv")), "crs": None,
                          "n_replications": 9, "rng": 1, "formats": ("summary",)})
    run_job(job, tmp_path / "out", notice=told.append)
    assert told == [kernel_cache.NOTICE]


@pytest.mark.slow
def test_warming_an_empty_cache_compiles_every_kind_and_the_cli_then_says_nothing(tmp_path):
    """Compiles every kernel into an empty cache (about a minute on 2 cores)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    warm = subprocess.run([sys.executable, "-m", "scan.kernel_cache"], capture_output=True,
                          text=True, env=env)
    assert warm.returncode == 0, warm.stderr
    assert "compiled and cached" in warm.stderr
    check = subprocess.run([sys.executable, "-m", "scan.kernel_cache", "--check"],
                           capture_output=True, text=True, env=env)
    assert (check.returncode, check.stdout.strip()) == (0, "warm")
    data = _write_csv(tmp_path / "d.csv")
    run = subprocess.run([sys.executable, "-m", "scan.cli", "spatial", str(data), "--out",
                          str(tmp_path / "out"), "--replications", "19", "--quiet",
                          "--formats", "summary"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "compiling" not in run.stderr


# --- CSV tables without pandas ----------------------------------------------------------------

def _results():
    """Results whose tables hold every kind of column: floats with NaN and inf, whole numbers,
    strings with commas and quotes, names, space-time dates and recurrence intervals,
    exposure columns, no clusters at all."""
    from dataclasses import replace

    from scan.exposure.join import with_exposure

    area = random_dataset(7, n=25)
    ids = np.array([f'A,{i}' if i % 5 == 0 else (f'B"{i}' if i % 7 == 0 else f"L{i}")
                    for i in range(25)])
    expected = area.expected.copy()
    expected[3] = 0.0   # O/E undefined: NaN
    names = np.array([f"name {i}" for i in range(25)])
    area = replace(area, ids=ids, expected=expected, names=names)
    spatial = scan.circular_scan(area, n_replications=19, rng=2, direction="both")
    rng = np.random.default_rng(0)
    exposed = with_exposure(spatial, {"NO2": rng.uniform(20, 40, 25)})
    empty = spatial.with_clusters(())
    st = scan.spacetime_scan(scan.borough_spacetime("flu_like", 12), model="permutation",
                             analysis="prospective", n_replications=19, rng=3)
    latlong = scan.circular_scan(random_dataset(5, coordinates="latlong", n=15),
                                 n_replications=19, rng=4)
    return {"spatial": spatial, "exposure": exposed, "empty": empty, "spacetime": st,
            "latlong": latlong}


@pytest.fixture(scope="module")
def results():
    return _results()


@pytest.mark.parametrize("name", ["spatial", "exposure", "empty", "spacetime", "latlong"])
def test_csv_tables_are_the_bytes_pandas_writes(results, name, tmp_path):
    result = results[name]
    table.write_csv(tmp_path / "clusters.csv", table.rows_to_columns(*result.cluster_rows()))
    table.write_csv(tmp_path / "locations.csv", result.location_columns())
    assert (tmp_path / "clusters.csv").read_bytes() == \
        result.to_dataframe().to_csv(index=False).encode()
    assert (tmp_path / "locations.csv").read_bytes() == \
        result.locations_dataframe().to_csv(index=False).encode()


@pytest.mark.parametrize("name", ["spatial", "exposure", "latlong"])
def test_locations_geojson_properties_are_the_dataframe_records(results, name):
    import math

    from scan.io.writers import locations_geojson

    result = results[name]
    if result.area.coordinates == "cartesian":
        result = type(result)(**{**result.__dict__,
                                 "area": _with_crs(result.area, "EPSG:27700")})
    got = [f["properties"] for f in locations_geojson(result)["features"]]
    want = result.locations_dataframe().to_dict(orient="records")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == list(w)
        for k in g:
            same = (g[k] == w[k]) or (isinstance(g[k], float) and math.isnan(g[k])
                                      and math.isnan(w[k]))
            assert same and type(g[k]) is type(w[k]), (k, g[k], w[k])


def _with_crs(area, crs):
    from dataclasses import replace

    coords = area.coords * 100 + np.array([530_000.0, 180_000.0])
    return replace(area, coords=coords, crs=crs)


def test_column_types_follow_pandas_inference():
    m = table._MISSING
    assert table.column_from_values([1, 2]).dtype == np.int64
    assert table.format_column(table.column_from_values([1, m])) == ["1.0", ""]
    assert table.format_column(table.column_from_values([1, 2.5, None])) == ["1.0", "2.5", ""]
    assert table.format_column(table.column_from_values([True, False])) == ["True", "False"]
    assert table.format_column(table.column_from_values(["a", None, m])) == ["a", "", ""]
    assert table.format_column(np.array([0.1, 1e-5, 1e16, np.inf, np.nan])) == \
        ["0.1", "1e-05", "1e+16", "inf", ""]


def test_written_outputs_list_and_parse(tmp_path, results):
    from scan.io.writers import write_result

    write_result(results["spatial"], tmp_path / "out", formats=("csv",))
    files = json.loads((tmp_path / "out" / "result.json").read_text())["files"]
    assert files == ["result.json", "clusters.csv", "locations.csv"]
