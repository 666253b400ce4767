"""Hostile and unlucky exposure inputs (issue 8): no-data values, allocation guards, unreadable
files.  Each case is reproduced as a user or a hostile file would trigger it, and every message
is pinned."""
from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from scan.errors import ScanInputError, ScanParameterError
from scan.exposure import grids
from scan.exposure.grids import missing_cells, read_grid, write_netcdf
from scan.exposure.join import (load_exposure, missing_locations, read_boundaries,
                                values_from_table, with_exposure)
from scan.exposure.summary import cluster_exposure, read_location_table

X0, Y0, STEP = 545_010.0, 184_010.0, 20.0


def laei_rows(nx=6, ny=5):
    return [[X0 + STEP * i, Y0 + STEP * j, 20.0 + i + 0.5 * j] for j in range(ny) for i in range(nx)]


def write_csv(path: Path, rows, header="x,y,conc") -> Path:
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def write_asc(path: Path, body: str, header: dict | None = None) -> Path:
    h = {"ncols": 3, "nrows": 2, "xllcorner": 545000, "yllcorner": 184000, "cellsize": 20}
    h.update(header or {})
    path.write_text("".join(f"{k} {v}\n" for k, v in h.items() if v is not None) + body)
    return path


# =============================================================================================
# 1. No-data values are missing data everywhere
# =============================================================================================

def test_laei_csv_nodata_negative_nan_and_empty_become_missing(tmp_path, caplog):
    rows = laei_rows()
    rows[3][2] = -9999          # LAEI no-data value
    rows[4][2] = "NaN"
    rows[5][2] = ""             # empty: no value
    rows[6][2] = -2.5           # a concentration cannot be negative
    with caplog.at_level(logging.WARNING, logger="scan.exposure.grids"):
        ds = read_grid(write_csv(tmp_path / "nd_NO2.csv", rows))
    v = ds["NO2"].to_numpy().ravel()  # row-major from the south-west, as the rows were written
    assert np.isnan(v[[3, 4, 5, 6]]).all()
    assert np.isfinite(np.delete(v, [3, 4, 5, 6])).all()
    assert (ds["NO2"] >= 0).sum() == 26 and not (ds["NO2"] < 0).any()
    assert missing_cells(ds) == {"NO2": 4}
    assert "nd_NO2.csv: 1 negative NO2 value(s) treated as missing" in caplog.text


def test_asc_nodata_value_and_laei_sentinel_become_missing(tmp_path):
    path = write_asc(tmp_path / "nd_PM10.asc", "1 -1 2\n-9999 nan 3\n", {"NODATA_value": -1})
    ds = read_grid(path)
    # file rows run north to south: row 0 of the Dataset is the file's last row
    np.testing.assert_array_equal(np.isnan(ds["PM10"].to_numpy()),
                                  [[True, True, False], [False, True, False]])
    assert missing_cells(ds) == {"PM10": 3}
    assert missing_cells(ds["PM10"]) == {"PM10": 3}


def test_netcdf_with_sentinels_is_cleaned_on_read(tmp_path):
    x = X0 + STEP * np.arange(3)
    y = Y0 + STEP * np.arange(2)
    raw = xr.Dataset({"NO2": (("y", "x"), np.array([[1.0, -9999.0, 3.0], [-4.0, 5.0, np.nan]]))},
                     coords={"x": x, "y": y}, attrs={"crs": "EPSG:27700"})
    raw.to_netcdf(tmp_path / "raw.nc", engine="h5netcdf")
    ds = read_grid(tmp_path / "raw.nc")
    assert missing_cells(ds) == {"NO2": 3}
    assert np.nanmin(ds["NO2"].to_numpy()) == 1.0


def test_missing_cells_follow_a_clip():
    ds = read_grid(Path(__file__).parent / "data" / "exposure" / "rowcol_PM10.asc")
    assert missing_cells(ds) == {"PM10": 1}               # the NODATA south-east corner
    assert missing_cells(ds.sel(y=slice(184_020, None))) == {"PM10": 0}


@pytest.mark.parametrize("text, line", [("inf", 5), ("-inf", 5), ("1e400", 5)])
def test_infinite_concentration_is_refused(tmp_path, text, line):
    rows = laei_rows()
    rows[3][2] = text
    with pytest.raises(ScanInputError, match=rf"inf_NO2\.csv, line {line}, field 'conc': not a "
                                             rf"finite number: '{text}'"):
        read_grid(write_csv(tmp_path / "inf_NO2.csv", rows))


def test_infinite_coordinate_is_refused(tmp_path):
    rows = laei_rows()
    rows[2][0] = "inf"
    with pytest.raises(ScanInputError, match=r"c_NO2\.csv, line 4, field 'x': not a finite "
                                             r"number: 'inf'"):
        read_grid(write_csv(tmp_path / "c_NO2.csv", rows))


def test_location_table_nodata_and_negative_become_missing(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,NO2,PM25\nA,-9999,10\nB,41,-1\nC,NaN,\nD,30,12\n")
    table = read_location_table(path)
    assert table.isna().sum().to_dict() == {"NO2": 2, "PM25": 2}
    assert (table.fillna(0) >= 0).all().all()


@pytest.mark.parametrize("text, match", [
    ("id,NO2\nA,1\nB,inf\n", r"t\.csv, line 3, field 'NO2': not a finite number: 'inf'"),
    ("id,NO2,NO2\nA,1,2\n", r"t\.csv, line 1, field 'NO2': column 'NO2' appears twice "
                            r"\(columns 2 and 3\); keep one"),
    ("id,PM2.5,PM25\nA,1,2\n", r"t\.csv, line 1, field 'PM25': columns 'PM2\.5' and 'PM25' "
                               r"are both PM25; keep one"),
    ("id,NO2\nA,1\n,2\n", r"t\.csv, line 3, field 'id': empty id"),
    ("id,NO2\nA1,1\nA1 ,2\n", r"t\.csv, line 3, field 'id': ids 'A1' \(line 2\) and 'A1 ' "
                              r"differ only by spaces"),
    ("id,NO2\nA,1\n\nA,2\n", r"t\.csv, line 4, field 'id': duplicate id 'A'"),
    ("id,NO2\n", r"t\.csv: no data rows after the header"),
    ("id,NO2\nA,1\nB,2,3\n", r"t\.csv, line 3: not a readable per-location exposure CSV: .*"
                             r"Expected 2 fields in line 3, saw 3"),
])
def test_location_table_refusals(tmp_path, text, match):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ScanInputError, match=match):
        read_location_table(path)


def test_values_from_a_dataframe_drop_the_sentinel():
    area = _toy_area()
    table = pd.DataFrame({"NO2": [30.0, -9999.0, 25.0, -3.0]}, index=["a", "b", "c", "d"])
    values = values_from_table(area, table)
    np.testing.assert_array_equal(np.isnan(values["NO2"]), [False, True, False, True])
    assert missing_locations(values) == {"NO2": 2}


def test_minus_9999_is_never_averaged_into_a_cluster():
    values = np.array([50.0, -9999.0, 20.0, 45.0, np.nan])
    pop = np.array([100.0, 300.0, 200.0, 400.0, 1000.0])
    r = cluster_exposure(values, pop, [0, 1], pollutant="NO2")
    assert r["mean_inside"] == 50.0 and r["max_inside"] == 50.0
    assert (r["n_inside"], r["n_missing_inside"], r["n_missing_outside"]) == (2, 1, 1)
    assert r["mean_outside"] == pytest.approx((20 * 200 + 45 * 400) / 600)
    every = cluster_exposure(np.full(5, -9999.0), pop, [0, 1], pollutant="NO2")
    assert math.isnan(every["mean_inside"]) and every["n_missing_inside"] == 2


def test_fit_exposure_names_the_locations_without_a_value():
    from scan.exposure.adjust import fit_exposure

    rng = np.random.default_rng(3)
    x = rng.uniform(10, 60, 12)
    x[[2, 5, 6, 7, 8, 9, 11]] = [-9999, np.nan, -1, -9999, -9999, -9999, -9999]
    ids = [f"L{k}" for k in range(12)]
    with pytest.raises(ScanInputError, match=r"field 'NO2': NO2 has no value at 7 of 12 "
                                             r"locations \(ids 'L2', 'L5', 'L6', 'L7', 'L8' and "
                                             r"2 more\): they are outside the grid, on cells "
                                             r"without a value, or empty, NaN, -9999 or negative "
                                             r"in the table; the exposure-adjusted scan needs a "
                                             r"value at every location"):
        fit_exposure(np.ones(12), np.ones(12), x, "NO2", ids=ids)
    with pytest.raises(ScanInputError, match=r"NO2 has no value at 1 of 12 locations "
                                             r"\(location indices 2\)"):
        fit_exposure(np.ones(12), np.ones(12), np.where(np.arange(12) == 2, -9999, 20.0 + np.arange(12)),
                     "NO2")


def test_fit_exposure_that_cannot_be_fitted_is_a_clear_error():
    from scan.exposure.adjust import fit_exposure

    with pytest.raises(ScanInputError, match=r"field 'NO2': the Poisson regression of cases on "
                                             r"NO2 failed"):
        fit_exposure(np.zeros(4), np.ones(4), [1.0, 2.0, 3.0, 4.0], "NO2")


def _toy_area():
    import scan

    return scan.study_area(["a", "b", "c", "d"], [545_020.0, 545_060.0, 545_100.0, 545_040.0],
                           [184_020.0, 184_030.0, 184_050.0, 184_060.0], [1, 2, 3, 4],
                           [100, 100, 100, 100], crs="EPSG:27700")


# --- as a user types it ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def borough_with_nodata(tmp_path_factory):
    """The borough CSV and a LAEI-style NO2 CSV whose western half is -9999."""
    from scan.datasets import write_borough_csv
    from scan.exposure.synthetic import synthetic_laei

    d = tmp_path_factory.mktemp("nodata")
    data = write_borough_csv(d / "cancer.csv")
    grid = synthetic_laei(resolution=100.0)["NO2"]
    xx, yy = np.meshgrid(grid["x"].values, grid["y"].values)
    conc = grid.values.copy()
    conc[xx < np.median(xx)] = -9999.0
    laei = d / "laei_LAEI2019v3_CorNOx15_NO2.csv"
    pd.DataFrame({"x": xx.ravel(), "y": yy.ravel(), "conc": conc.ravel()}).to_csv(laei, index=False)
    return data, laei


def test_cli_cluster_exposure_never_averages_minus_9999(tmp_path, borough_with_nodata):
    from scan.cli import main

    data, laei = borough_with_nodata
    out = tmp_path / "out"
    assert main(["spatial", str(data), "--out", str(out), "--replications", "9", "--seed", "2",
                 "--quiet", "--exposure", str(laei)]) == 0
    result = json.loads((out / "result.json").read_text())
    n_locations = len(pd.read_csv(data))
    n_missing = None
    for c in result["clusters"]:
        ex = c["exposure"]["NO2"]
        for key in ("mean_inside", "mean_outside", "max_inside"):
            assert ex[key] is None or math.isnan(ex[key]) or ex[key] >= 0, (key, ex[key])
        total = ex["n_missing_inside"] + ex["n_missing_outside"]
        assert n_missing in (None, total)  # the same locations have no value for every cluster
        n_missing = total
    assert 0 < n_missing < n_locations
    summary = (out / "summary.txt").read_text()
    assert f"NO2: {n_missing} location(s) have no value (outside the grid" in summary
    assert "-9999" not in summary.replace("empty, NaN, -9999 or negative", "")
    clusters_csv = pd.read_csv(out / "clusters.csv")
    assert {"NO2_n_missing_inside", "NO2_n_missing_outside"} <= set(clusters_csv.columns)
    assert (clusters_csv["NO2_mean_inside"].dropna() >= 0).all()


def test_cli_adjust_for_refuses_locations_without_a_value(tmp_path, borough_with_nodata, capsys):
    from scan.cli import main

    data, laei = borough_with_nodata
    code = main(["spatial", str(data), "--out", str(tmp_path / "o"), "--replications", "9",
                 "--seed", "2", "--quiet", "--exposure", str(laei), "--adjust-for", "NO2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "scan: error: field 'NO2': NO2 has no value at " in err
    assert " locations (ids '" in err and "Traceback" not in err


def test_load_exposure_table_with_sentinel(tmp_path):
    area = _toy_area()
    path = tmp_path / "no2.csv"
    path.write_text("id,NO2\na,30\nb,-9999\nc,25\nd,31\n")
    values, grid = load_exposure(area, path)
    assert grid is None and missing_locations(values) == {"NO2": 1}


# =============================================================================================
# 2. Allocation guards
# =============================================================================================

def test_point_a_hair_off_the_lattice_is_named_not_allocated(tmp_path):
    rows = laei_rows()
    rows[8][0] += 0.0001  # file line 10: x = 545050.0001 on a 20 m grid
    with pytest.raises(ScanInputError, match=r"off_NO2\.csv, field 'x': irregular spacing of x: "
                                             r"cell centres 545050 and 545050\.0001 are 0\.0001 m "
                                             r"apart but the grid step is 20 m; x=545050\.0001 on "
                                             r"line 10 is off the lattice of the other cell "
                                             r"centres") as info:
        read_grid(write_csv(tmp_path / "off_NO2.csv", rows))
    assert info.value.line == 10 and info.value.field == "x"


def test_point_off_the_lattice_in_y(tmp_path):
    rows = laei_rows()
    rows[13][1] -= 0.5
    with pytest.raises(ScanInputError, match=r"field 'y': irregular spacing of y: .* y=184049\.5 "
                                             r"on line 15 is off the lattice"):
        read_grid(write_csv(tmp_path / "offy_NO2.csv", rows))


def test_tiny_lattice_from_three_points_is_not_allocated(tmp_path):
    # two centres 20 m apart and one 0.0001 m from the second: a 0.0001 m step would need
    # 200 001 columns; the larger of the tied steps is taken and the stray point named.
    rows = [[X0, Y0, 1], [X0 + 20, Y0, 2], [X0 + 20.0001, Y0, 3]]
    with pytest.raises(ScanInputError, match=r"x=545030\.0001 on line 4 is off the lattice"):
        read_grid(write_csv(tmp_path / "tiny_NO2.csv", rows))


def test_huge_ncols_in_an_asc_header_is_refused_before_allocating(tmp_path):
    path = write_asc(tmp_path / "big_PM10.asc", "1 2\n", {"ncols": 10_000_000_000, "nrows": 3})
    with pytest.raises(ScanInputError, match=r"big_PM10\.asc, line 1, field 'ncols': the grid "
                                             r"would have 3 rows x 10,000,000,000 columns \(nrows "
                                             r"x ncols\) = 30,000,000,000 cells \(223\.5 GiB per "
                                             r"pollutant\), more than the limit of 50,000,000 "
                                             r"cells \(MAX_GRID_CELLS in scan\.exposure\.grids\); "
                                             r"read only the study area with bbox=\(xmin, ymin, "
                                             r"xmax, ymax\) .* or resample the grid to coarser "
                                             r"cells"):
        read_grid(path)


def test_huge_asc_clipped_to_a_bbox_is_still_bounded(tmp_path):
    path = write_asc(tmp_path / "fine_PM10.asc", "1 2\n",
                     {"ncols": 10_000_000_000, "nrows": 10_000_000, "cellsize": 0.00001})
    with pytest.raises(ScanInputError, match=r"fine_PM10\.asc: the grid would have about "
                                             r"5,000,00\d rows x 5,000,00\d columns inside the "
                                             r"bbox = [\d,]+ cells .* more than the limit of "
                                             r"50,000,000"):
        read_grid(path, bbox=(545_000, 184_000, 545_050, 184_050))


@pytest.mark.parametrize("key, value, match", [
    ("ncols", "2.5", r"line 1, field 'ncols': must be a whole number >= 1; got '2\.5'"),
    ("ncols", "-3", r"line 1, field 'ncols': must be a whole number >= 1; got '-3'"),
    ("nrows", "0", r"line 2, field 'nrows': must be a whole number >= 1; got '0'"),
    ("nrows", "nan", r"line 2, field 'nrows': must be a whole number >= 1; got 'nan'"),
    ("nrows", "1e999", r"line 2, field 'nrows': must be a whole number >= 1; got '1e999'"),
    ("cellsize", "0", r"line 5, field 'cellsize': must be a number > 0 \(metres\); got '0'"),
    ("cellsize", "inf", r"line 5, field 'cellsize': must be a number > 0 \(metres\); got 'inf'"),
    ("xllcorner", "nan", r"line 3, field 'xllcorner': must be a finite number \(metres\); got "
                         r"'nan'"),
    ("yllcorner", "south", r"line 4, field 'yllcorner': not a number: 'south'"),
])
def test_asc_header_values_are_checked(tmp_path, key, value, match):
    path = write_asc(tmp_path / "h_PM10.asc", "1 2 3\n4 5 6\n", {key: value})
    with pytest.raises(ScanInputError, match=r"h_PM10\.asc, " + match):
        read_grid(path)


@pytest.mark.parametrize("bbox", [None, (545_000, 184_000, 545_045, 184_045)])
def test_asc_denormal_cellsize(tmp_path, bbox):
    """Found by fuzzing: a cellsize of 1e-320 made every centre the same number, and with a
    bbox the index arithmetic infinite."""
    path = write_asc(tmp_path / "d_PM10.asc", "1 2 3\n4 5 6\n", {"cellsize": "1e-320"})
    with pytest.raises(ScanInputError, match=r"d_PM10\.asc(, line 5, field 'cellsize': cellsize "
                                             r"[\d.e+-]+ is too small to tell the cell centres "
                                             r"apart|: no grid cells inside bbox)"):
        read_grid(path, bbox=bbox)


def test_asc_header_key_twice_and_extra_rows(tmp_path):
    twice = tmp_path / "twice_PM10.asc"
    twice.write_text("ncols 3\nnrows 2\nncols 4\nxllcorner 545000\nyllcorner 184000\n"
                     "cellsize 20\n1 2 3\n4 5 6\n")
    with pytest.raises(ScanInputError, match=r"twice_PM10\.asc, line 3, field 'ncols': 'ncols' "
                                             r"is given twice \(lines 1 and 3\)"):
        read_grid(twice)
    extra = write_asc(tmp_path / "extra_PM10.asc", "1 2 3\n4 5 6\n7 8 9\n")
    with pytest.raises(ScanInputError, match=r"extra_PM10\.asc, line 8: more data rows than the "
                                             r"header's nrows=2"):
        read_grid(extra)


def test_asc_infinite_value(tmp_path):
    path = write_asc(tmp_path / "i_PM10.asc", "1 2 3\n4 inf 6\n")
    with pytest.raises(ScanInputError, match=r"i_PM10\.asc, line 7: not a finite number: 'inf'"):
        read_grid(path)


def test_the_limit_applies_to_every_reader(tmp_path, monkeypatch):
    csv = write_csv(tmp_path / "g_NO2.csv", laei_rows())  # 30 cells
    asc = write_asc(tmp_path / "g_PM10.asc", "1 2 3\n4 5 6\n")  # 6 cells
    nc = write_netcdf(read_grid(csv), tmp_path / "g.nc")
    monkeypatch.setattr(grids, "MAX_GRID_CELLS", 5)
    with pytest.raises(ScanInputError, match=r"g_NO2\.csv, line 31: the grid would have at least "
                                             r"30 cells \(one per point read so far\) \(240 bytes "
                                             r"per pollutant\), more than the limit of 5 cells"):
        read_grid(csv)
    with pytest.raises(ScanInputError, match=r"g_PM10\.asc, line 1, field 'ncols': the grid would "
                                             r"have 2 rows x 3 columns \(nrows x ncols\) = 6 cells"):
        read_grid(asc)
    with pytest.raises(ScanInputError, match=r"g\.nc: the grid would have 5 rows x 6 columns = "
                                             r"30 cells"):
        read_grid(nc)
    # a clip that fits is fine
    small = read_grid(nc, bbox=(X0, Y0, X0 + 20, Y0 + 20))
    assert small["NO2"].shape == (2, 2)
    assert read_grid(asc, bbox=(545_000, 184_000, 545_025, 184_040))["PM10"].shape == (2, 1)


def test_points_to_grid_refuses_before_allocating(monkeypatch):
    monkeypatch.setattr(grids, "MAX_GRID_CELLS", 3)
    x = np.array([X0, X0 + 20, X0, X0 + 20])
    y = np.array([Y0, Y0, Y0 + 20, Y0 + 20])
    with pytest.raises(ScanInputError, match=r"pts: the grid would have 2 rows x 2 columns = 4 "
                                             r"cells"):
        grids.points_to_grid(x, y, np.ones(4), np.arange(2, 6), file="pts")


# =============================================================================================
# 3. Files that cannot be read: one ScanInputError naming the file
# =============================================================================================

@pytest.fixture()
def netcdf_bytes(tmp_path):
    ds = read_grid(write_csv(tmp_path / "g_NO2.csv", laei_rows()))
    return write_netcdf(ds, tmp_path / "whole.nc").read_bytes()


def test_truncated_netcdf(tmp_path, netcdf_bytes):
    path = tmp_path / "cut.nc"
    path.write_bytes(netcdf_bytes[: len(netcdf_bytes) // 2])
    with pytest.raises(ScanInputError, match=r"cut\.nc: not a readable NetCDF-4 grid file "
                                             r"\(written by scan or xarray\); it may be truncated "
                                             r"or corrupt"):
        read_grid(path)


def test_netcdf_with_flipped_bytes_or_none(tmp_path, netcdf_bytes):
    path = tmp_path / "flip.nc"
    path.write_bytes(netcdf_bytes[:8] + bytes(b ^ 0xFF for b in netcdf_bytes[8:200])
                     + netcdf_bytes[200:])
    with pytest.raises(ScanInputError, match=r"flip\.nc: "):
        read_grid(path)
    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    with pytest.raises(ScanInputError, match=r"empty\.nc: the file is empty; expected a NetCDF-4 "
                                             r"grid file"):
        read_grid(empty)
    text = tmp_path / "text.nc"
    text.write_text("x,y,conc\n1,2,3\n")
    with pytest.raises(ScanInputError, match=r"text\.nc: not a readable NetCDF-4 grid file "
                                             r"\(written by scan or xarray\): it is not an HDF5 "
                                             r"file \(no HDF5 signature\)"):
        read_grid(text)
    classic = tmp_path / "classic.nc"
    classic.write_bytes(b"CDF\x01" + bytes(60))
    with pytest.raises(ScanInputError, match=r"classic\.nc: a NetCDF-3 \(classic\) file; scan "
                                             r"reads NetCDF-4 \(HDF5\): convert it, e\.g\. nccopy "
                                             r"-k nc4 IN\.nc OUT\.nc"):
        read_grid(classic)


def test_netcdf_on_which_libhdf5_loops_for_ever(tmp_path, monkeypatch):
    """One flipped byte in the dimension list of this file makes libhdf5 loop for ever while
    reading the attribute (found by fuzzing): the metadata is read in a child process with a
    time limit, so the reader gives up with a message instead of hanging."""
    import threading

    x = X0 + STEP * np.arange(4)
    y = Y0 + STEP * np.arange(3)
    seed = grids.make_dataset({"NO2": np.arange(12.0).reshape(3, 4)}, x, y, source="fuzz")
    netcdf_bytes = write_netcdf(seed, tmp_path / "seed.nc").read_bytes()
    if len(netcdf_bytes) != 13_824 or netcdf_bytes[2416] != 21:
        pytest.skip("this libhdf5/h5netcdf writes a different layout")
    data = bytearray(netcdf_bytes)
    data[2416] = 81
    path = tmp_path / "loop.nc"
    path.write_bytes(bytes(data))
    monkeypatch.setattr(grids, "NETCDF_CHECK_TIMEOUT_S", 3.0)
    box = {}

    def target():
        try:
            read_grid(path)
        except ScanInputError as err:
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(90)  # a hang guard, far above the 3 s limit
    assert not thread.is_alive()
    assert str(box["error"]) == (f"{path}: reading its metadata did not finish within 3 s; the "
                                 "file is corrupt (libhdf5 loops on it): write it again")


def test_netcdf_that_is_not_a_grid(tmp_path):
    path = tmp_path / "odd.nc"
    xr.Dataset({"NO2": (("t",), [1.0, 2.0])},
               coords={"t": [0, 1], "x": [545_010.0, 545_030.0], "y": [184_010.0, 184_030.0]}
               ).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ScanInputError, match=r"odd\.nc, field 'NO2': variable 'NO2' has "
                                             r"dimensions \('t',\); a grid variable has "
                                             r"dimensions \('y', 'x'\)"):
        read_grid(path)
    desc = tmp_path / "desc.nc"
    xr.Dataset({"NO2": (("y", "x"), np.ones((2, 2)))},
               coords={"x": [3.0, 1.0], "y": [1.0, 2.0]}).to_netcdf(desc, engine="h5netcdf")
    with pytest.raises(ScanInputError, match=r"desc\.nc, field 'x': coordinate 'x' must be "
                                             r"finite and strictly ascending"):
        read_grid(desc)


@pytest.mark.parametrize("suffix, what", [("_NO2.csv", "LAEI grid CSV"),
                                          ("_PM10.asc", "ESRI ASCII grid")])
def test_empty_and_binary_text_files(tmp_path, suffix, what):
    empty = tmp_path / ("empty" + suffix)
    empty.write_bytes(b"")
    with pytest.raises(ScanInputError, match=rf"empty{suffix}: the file is empty; expected {what}"):
        read_grid(empty)
    blank = tmp_path / ("blank" + suffix)
    blank.write_bytes(b"\n\n  \n")
    with pytest.raises(ScanInputError, match=rf"blank{suffix}: the file is empty"):
        read_grid(blank)
    binary = tmp_path / ("bin" + suffix)
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(ScanInputError, match=rf"bin{suffix}, line 3: {what} holds a NUL byte "
                                             r"\(byte 8 of the file\): it is a binary file, not "
                                             r"text; export the data as a UTF-8 text file"):
        read_grid(binary)
    xlsx = tmp_path / ("book" + suffix)
    xlsx.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ScanInputError, match=rf"book{suffix}, line 1: {what} is a zip archive "
                                             r"\(an Excel \.xlsx workbook is one\)"):
        read_grid(xlsx)


def test_non_utf8_byte_in_a_csv_header_names_line_and_column(tmp_path):
    path = tmp_path / "lat_NO2.csv"
    path.write_bytes(b"x,y,conc\xe9\n545010,184010,3\n")
    with pytest.raises(ScanInputError, match=r"lat_NO2\.csv, line 1: byte 0xe9 \(column 9\) is "
                                             r"not UTF-8 text; the file was probably saved in "
                                             r"another encoding \(Latin-1, Windows-1252, \.\.\.\): "
                                             r"save it as UTF-8 \(in Excel: 'CSV UTF-8'\)"):
        read_grid(path)


def test_non_utf8_byte_deep_in_a_csv(tmp_path):
    lines = ["x,y,conc"] + [f"{X0 + 20 * i},{Y0 + 20 * j},{20 + i}" for j in range(300)
                            for i in range(300)]
    lines[70_001] = lines[70_001] + "\xb5"  # file line 70 002, past the first 64 KiB
    path = tmp_path / "deep_NO2.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(ScanInputError, match=r"deep_NO2\.csv, line 70002: byte 0xb5 \(column "
                                             r"22\) is not UTF-8 text"):
        read_grid(path)


def test_encodings_follow_the_rule_of_every_text_input(tmp_path):
    """scan.io.text's rule: UTF-8 (with or without a BOM) and UTF-16/32 with a BOM are read;
    UTF-16 without a BOM is named; a bad byte is refused with its line."""
    text = "x,y,conc\n" + "".join(f"{x},{y},{v}\n" for x, y, v in laei_rows())
    plain = read_grid(write_csv(tmp_path / "plain_NO2.csv", laei_rows()))
    for name, data in (("bom8_NO2.csv", text.encode("utf-8-sig")),
                       ("u16_NO2.csv", text.encode("utf-16")),
                       ("u32_NO2.csv", text.encode("utf-32"))):
        (tmp_path / name).write_bytes(data)
        xr.testing.assert_identical(read_grid(tmp_path / name).drop_attrs(), plain.drop_attrs())
    asc = "ncols 2\nnrows 1\nxllcorner 545000\nyllcorner 184000\ncellsize 20\n1 2\n"
    (tmp_path / "u16_PM10.asc").write_bytes(asc.encode("utf-16"))
    assert read_grid(tmp_path / "u16_PM10.asc")["PM10"].values.tolist() == [[1.0, 2.0]]
    (tmp_path / "table.csv").write_bytes("id,NO2\nA,3\n".encode("utf-16"))
    assert read_location_table(tmp_path / "table.csv").loc["A", "NO2"] == 3.0
    (tmp_path / "nobom_NO2.csv").write_bytes(text.encode("utf-16-le"))
    with pytest.raises(ScanInputError, match=r"nobom_NO2\.csv: LAEI grid CSV looks like UTF-16 "
                                             r"text without a byte-order mark; save it as UTF-8"):
        read_grid(tmp_path / "nobom_NO2.csv")


def test_folder_and_missing_file(tmp_path):
    folder = tmp_path / "dir_NO2.csv"
    folder.mkdir()
    with pytest.raises(ScanInputError, match=r"dir_NO2\.csv: grid file is a folder, not a file"):
        read_grid(folder)
    with pytest.raises(ScanInputError, match=r"dir_NO2\.csv: per-location exposure CSV is a "
                                             r"folder, not a file"):
        read_location_table(folder)
    with pytest.raises(ScanInputError, match=r"gone\.csv: per-location exposure CSV was not "
                                             r"found"):
        read_location_table(tmp_path / "gone.csv")


def test_duplicated_laei_columns_are_refused(tmp_path):
    rows = [r + [r[2] + 1] for r in laei_rows()]
    with pytest.raises(ScanInputError, match=r"dc_NO2\.csv, line 1, field 'conc': column 'conc' "
                                             r"appears twice \(columns 3 and 4\); keep one"):
        read_grid(write_csv(tmp_path / "dc_NO2.csv", rows, header="x,y,conc,conc"))
    with pytest.raises(ScanInputError, match=r"both 'conc' \(LAEI 2019\) and 'conct' \(LAEI "
                                             r"2013\) columns; keep one"):
        read_grid(write_csv(tmp_path / "dd_NO2.csv", rows, header="x,y,conc,conct"))


def test_ragged_laei_csv_names_the_line(tmp_path):
    path = tmp_path / "rag_NO2.csv"
    path.write_text("x,y,conc\n545010,184010,3\n545030,184010,3,\"unterminated\n")
    with pytest.raises(ScanInputError, match=r"rag_NO2\.csv"):
        read_grid(path)


@pytest.mark.parametrize("data, match", [
    (b"", r"t\.csv: the file is empty; expected a per-location exposure CSV"),
    (b"id,NO2\x00\n", r"t\.csv, line 1: per-location exposure CSV holds a NUL character|"
                      r"t\.csv, line 1: per-location exposure CSV holds a NUL byte"),
    (b"id,N\xd62\nA,1\n", r"t\.csv, line 1: byte 0xd6 \(column 5\) is not UTF-8 text"),
])
def test_location_table_unreadable(tmp_path, data, match):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    with pytest.raises(ScanInputError, match=match):
        read_location_table(path)


def test_boundaries_that_are_not_geojson(tmp_path):
    area = _toy_area()
    bad = tmp_path / "b.geojson"
    bad.write_text("{not json")
    with pytest.raises(ScanInputError, match=r"b\.geojson: not a GeoJSON FeatureCollection"):
        read_boundaries(area, bad)
    geom = tmp_path / "g.geojson"
    geom.write_text(json.dumps({"features": [{"properties": {"id": "a"},
                                              "geometry": {"type": "Polygon",
                                                           "coordinates": "nope"}}]}))
    with pytest.raises(ScanInputError, match=r"g\.geojson, field 'geometry': feature 0 has no "
                                             r"valid geometry"):
        read_boundaries(area, geom)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"id,geometry\n\x00\x01")
    with pytest.raises(ScanInputError, match=r"b\.csv, line 2: boundaries CSV holds a NUL byte"):
        read_boundaries(area, binary)


def test_cli_reports_a_truncated_netcdf_and_an_off_lattice_grid(tmp_path, capsys, netcdf_bytes):
    from scan.cli import main
    from scan.datasets import write_borough_csv

    data = write_borough_csv(tmp_path / "cancer.csv")
    cut = tmp_path / "laei.nc"
    cut.write_bytes(netcdf_bytes[:1000])
    assert main(["spatial", str(data), "--out", str(tmp_path / "o1"), "--replications", "9",
                 "--quiet", "--exposure", str(cut)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scan: error: {cut}: not a readable NetCDF-4 grid file")
    assert "Traceback" not in err

    from scan.exposure.synthetic import synthetic_laei

    grid = synthetic_laei(resolution=200.0)["NO2"]
    xx, yy = np.meshgrid(grid["x"].values, grid["y"].values)
    xx = xx.copy()
    k = np.argmin(np.hypot(xx - xx.mean(), yy - yy.mean()))  # in the middle of the study area
    xx.flat[k] += 0.001  # 5e-6 of a 200 m cell: beyond SPACING_RTOL
    laei = tmp_path / "laei_NO2.csv"
    pd.DataFrame({"x": xx.ravel(), "y": yy.ravel(), "conc": grid.values.ravel()}).to_csv(
        laei, index=False)
    assert main(["spatial", str(data), "--out", str(tmp_path / "o2"), "--replications", "9",
                 "--quiet", "--exposure", str(laei)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scan: error: {laei}, field 'x': irregular spacing of x")
    assert f"on line {k + 2} is off the lattice" in err


@pytest.mark.parametrize("data, match", [
    (b"", r"e_NO2\.csv: the file is empty; expected exposure CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\x00IHDR", r"e_NO2\.csv, line 3: exposure CSV holds a NUL byte"),
    (b"x,y,conc\xe9\n1,2,3\n", r"e_NO2\.csv, line 1: byte 0xe9 \(column 9\) is not UTF-8 text"),
])
def test_cli_unreadable_exposure_csv(tmp_path, capsys, data, match):
    from scan.cli import main
    from scan.datasets import write_borough_csv

    csv = write_borough_csv(tmp_path / "cancer.csv")
    (tmp_path / "e_NO2.csv").write_bytes(data)
    assert main(["spatial", str(csv), "--out", str(tmp_path / "o"), "--replications", "9",
                 "--quiet", "--exposure", str(tmp_path / "e_NO2.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scan: error: ") and err.count("\n") == 1
    assert re.search(match, err), err


def test_check_exposure_file_refuses_before_any_scan(tmp_path, monkeypatch):
    """The pre-check a command can run before the Monte Carlo: same messages as the readers."""
    from scan.exposure.join import check_exposure_file

    good = write_csv(tmp_path / "g_NO2.csv", laei_rows())
    check_exposure_file(good)
    check_exposure_file(f"PM10={good}")
    nc = write_netcdf(read_grid(good), tmp_path / "g.nc")
    check_exposure_file(nc)
    table = tmp_path / "t.csv"
    table.write_text("id,NO2\nA,-9999\n")
    check_exposure_file(table)
    cases = [
        (b"", "e_NO2.csv", r"e_NO2\.csv: the file is empty; expected exposure CSV"),
        (b"x,y,value\n1,2,3\n", "v_NO2.csv", r"v_NO2\.csv, line 1: no concentration column"),
        (b"x,y,conc\n1,2,3\n", "nopollutant.csv", r"nopollutant\.csv: no pollutant in the file "
                                                   r"name"),
        (b"ncols 2.5\nnrows 1\n", "h_PM10.asc", r"h_PM10\.asc, line 1, field 'ncols': must be "
                                                r"a whole number >= 1; got '2\.5'"),
        (nc.read_bytes()[:3000], "cut.nc", r"cut\.nc: not a readable NetCDF-4 grid file"),
        (b"CDF\x01" + bytes(20), "old.nc", r"old\.nc: a NetCDF-3 \(classic\) file"),
        (b"id,NO2\nA,1\nA,2\n", "dup.csv", r"dup\.csv, line 3, field 'id': duplicate id 'A'"),
        (b"GIF89a", "g.tif", r"g\.tif: unknown grid format '\.tif'"),
    ]
    for data, name, match in cases:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ScanInputError, match=match):
            check_exposure_file(tmp_path / name)
    with pytest.raises(ScanInputError, match=r"nowhere_NO2\.csv: exposure file not found"):
        check_exposure_file(tmp_path / "nowhere_NO2.csv")
    with pytest.raises(ScanParameterError, match=r"parameter 'pollutant' must be one of"):
        check_exposure_file(f"SO2={good}")


def test_with_exposure_counts_missing_locations():
    import scan

    area = scan.study_area([f"L{k}" for k in range(6)], np.arange(6.0) * 10, np.zeros(6),
                           [9, 8, 1, 1, 1, 1], [100] * 6)
    res = scan.circular_scan(area, n_replications=9, rng=1)
    values = np.array([30.0, -9999.0, 20.0, np.nan, 25.0, 22.0])
    ex = with_exposure(res, {"NO2": values}).most_likely.exposure["NO2"]
    assert ex["n_missing_inside"] + ex["n_missing_outside"] == 2
    assert ex["mean_inside"] >= 0


def test_bad_parameter_is_still_a_parameter_error(tmp_path):
    with pytest.raises(ScanParameterError, match=r"parameter 'bbox'"):
        read_grid(write_csv(tmp_path / "g_NO2.csv", laei_rows()), bbox=(1, 2, 3))


def test_a_bad_exposure_file_is_refused_before_the_scan(tmp_path, capsys, monkeypatch):
    """The CLI checks every --exposure file's header before the Monte Carlo run."""
    import scan.spatial
    from scan.cli import main
    from scan.datasets import write_borough_csv

    data = write_borough_csv(tmp_path / "cancer.csv")
    bad = tmp_path / "big_PM10.asc"
    bad.write_text("ncols 2.5\nnrows 3\nxllcorner 0\nyllcorner 0\ncellsize 20\n"
                   "NODATA_value -9999\n1 2 3\n")

    def never(*a, **k):
        raise AssertionError("the scan must not start")

    monkeypatch.setattr(scan.spatial, "circular_scan", never)
    assert main(["spatial", str(data), "--out", str(tmp_path / "out"), "--exposure", str(bad),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "big_PM10.asc, line 1, field 'ncols': must be a whole number >= 1; got '2.5'" in err
