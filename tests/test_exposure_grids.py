"""Readers and writers of pollution grids (scan.exposure.grids)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from scan.errors import ScanInputError, ScanParameterError
from scan.exposure.grids import (
    canonical_pollutant,
    make_dataset,
    pollutant_from_filename,
    read_grid,
    read_grids,
    write_netcdf,
)

DATA = Path(__file__).parent / "data" / "exposure"
LAEI_2019 = DATA / "laei_LAEI2019v3_CorNOx15_NO2.csv"
LAEI_2013 = DATA / "LAEI2013_PM2.5_subset.csv"
ASC = DATA / "rowcol_PM10.asc"


def write_csv(path: Path, rows, header="x,y,conc") -> Path:
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def gradient_rows(nx=6, ny=5, step=20.0, x0=545_010.0, y0=184_010.0):
    for j in range(ny):
        for i in range(nx):
            x, y = x0 + i * step, y0 + j * step
            yield x, y, 20 + 0.01 * (x - x0) + 0.02 * (y - y0)


# --- pollutant names ---------------------------------------------------------------------------

@pytest.mark.parametrize("alias, name", [("PM2.5", "PM25"), ("pm25", "PM25"), ("no2", "NO2"),
                                         ("PM_10", "PM10"), ("PM25", "PM25")])
def test_pollutant_aliases(alias, name):
    assert canonical_pollutant(alias) == name


def test_unknown_pollutant_is_named():
    with pytest.raises(ScanParameterError, match=r"parameter 'pollutant' must be one of 'NO2'.*"
                                                 r"got 'SO2'"):
        canonical_pollutant("SO2")


@pytest.mark.parametrize("name, pollutant", [
    ("laei_LAEI2019v3_CorNOx15_NO2.csv", "NO2"), ("LAEI2013_PM2.5_subset.csv", "PM25"),
    ("laei_LAEI2019v3_CorNOx15_PM10.csv", "PM10"), ("LAEI2019-pm25.asc", "PM25")])
def test_pollutant_from_filename_ignores_nox(name, pollutant):
    assert pollutant_from_filename(name) == pollutant


def test_filename_without_pollutant_asks_for_it():
    with pytest.raises(ScanInputError, match=r"grid\.csv: no pollutant in the file name; pass "
                                             r"pollutant="):
        pollutant_from_filename("grid.csv")


# --- LAEI CSV ------------------------------------------------------------------------------

def test_laei_2019_csv_layout():
    ds = read_grid(LAEI_2019)
    assert list(ds.data_vars) == ["NO2"]
    assert ds["NO2"].dims == ("y", "x")
    assert ds.attrs["crs"] == "EPSG:27700"
    assert ds.attrs["source"] == LAEI_2019.name
    assert ds.attrs["resolution_m"] == 20.0
    assert ds["NO2"].attrs["units"] == "µg/m³"
    np.testing.assert_array_equal(ds.x, [545010, 545030, 545050, 545070])
    np.testing.assert_array_equal(ds.y, [184010, 184030, 184050])
    assert ds["NO2"].sel(x=545030, y=184050).item() == 21.3
    assert np.isnan(ds["NO2"].sel(x=545070, y=184050).item())  # empty cell allowed


def test_laei_2013_csv_and_explicit_pollutant(tmp_path):
    ds = read_grid(LAEI_2013)
    assert list(ds.data_vars) == ["PM25"]
    assert ds.attrs["laei_year"] == "2013"
    assert ds["PM25"].sel(x=545050, y=184030).item() == 10.05
    renamed = tmp_path / "values.csv"
    renamed.write_text(LAEI_2013.read_text())
    assert list(read_grid(renamed, pollutant="pm2.5").data_vars) == ["PM25"]


def test_csv_rows_in_any_order(tmp_path):
    rows = list(gradient_rows())
    a = read_grid(write_csv(tmp_path / "a_NO2.csv", rows))
    b = read_grid(write_csv(tmp_path / "b_NO2.csv", rows[::-1]))
    np.testing.assert_array_equal(a["NO2"], b["NO2"])


def test_csv_to_netcdf_round_trip_is_exact(tmp_path):
    ds = read_grid(LAEI_2019)
    path = write_netcdf(ds, tmp_path / "grid.nc")
    back = read_grid(path)
    xr.testing.assert_identical(ds, back)
    assert back["NO2"].dtype == np.float64
    assert not list(tmp_path.glob("*.tmp"))


def test_read_grids_merges_pollutants(tmp_path):
    rows = list(gradient_rows())
    no2 = write_csv(tmp_path / "laei_NO2.csv", rows)
    pm10 = write_csv(tmp_path / "laei_PM10.csv", [(x, y, v / 2) for x, y, v in rows])
    ds = read_grids([no2, pm10])
    assert sorted(ds.data_vars) == ["NO2", "PM10"]
    np.testing.assert_array_equal(ds["PM10"] * 2, ds["NO2"])


def test_read_grids_rejects_different_cells(tmp_path):
    no2 = write_csv(tmp_path / "laei_NO2.csv", list(gradient_rows()))
    pm10 = write_csv(tmp_path / "laei_PM10.csv", list(gradient_rows(x0=546_010.0)))
    with pytest.raises(ScanInputError, match="do not share the same cell centres"):
        read_grids({"NO2": no2, "PM10": pm10})


# --- clip on read -------------------------------------------------------------------------

BBOX = (545_030.0, 184_020.0, 545_075.0, 184_060.0)


def _clip(ds, bbox):
    return ds.sel(x=slice(bbox[0], bbox[2]), y=slice(bbox[1], bbox[3]))


@pytest.mark.parametrize("chunk_rows", [1, 4, 1000])
def test_csv_clip_on_read_equals_read_then_clip(tmp_path, chunk_rows):
    from scan.exposure.grids import read_laei_csv

    path = write_csv(tmp_path / "g_NO2.csv", list(gradient_rows()))
    whole = read_grid(path)
    clipped = read_laei_csv(path, bbox=BBOX, chunk_rows=chunk_rows)
    xr.testing.assert_identical(clipped["NO2"], _clip(whole, BBOX)["NO2"])


def test_asc_clip_on_read_equals_read_then_clip():
    xr.testing.assert_identical(read_grid(ASC, bbox=BBOX)["PM10"],
                                _clip(read_grid(ASC), BBOX)["PM10"])


def test_netcdf_clip_on_read_equals_read_then_clip(tmp_path):
    ds = read_grid(write_csv(tmp_path / "g_NO2.csv", list(gradient_rows())))
    path = write_netcdf(ds, tmp_path / "g.nc")
    xr.testing.assert_identical(read_grid(path, bbox=BBOX), _clip(ds, BBOX))


def test_bbox_outside_the_grid(tmp_path):
    path = write_csv(tmp_path / "g_NO2.csv", list(gradient_rows()))
    with pytest.raises(ScanInputError, match=r"g_NO2\.csv: no grid cells \(inside the bounding box"):
        read_grid(path, bbox=(0, 0, 10, 10))
    with pytest.raises(ScanInputError, match=r"rowcol_PM10\.asc: no grid cells inside bbox"):
        read_grid(ASC, bbox=(0, 0, 10, 10))


def test_bad_bbox_order():
    with pytest.raises(ScanParameterError, match=r"parameter 'bbox' must be .*xmin < xmax.*"
                                                 r"order is \(west, south, east, north\)"):
        read_grid(LAEI_2019, bbox=(545_100, 184_000, 545_000, 184_100))


@settings(max_examples=25, deadline=None)
@given(nx=st.integers(1, 6), ny=st.integers(1, 6), step=st.sampled_from([1.0, 20.0, 25.0]),
       seed=st.integers(0, 2**32 - 1), chunk_rows=st.integers(1, 7))
def test_csv_reader_recovers_any_shuffled_grid(tmp_path_factory, nx, ny, step, seed, chunk_rows):
    from scan.exposure.grids import read_laei_csv

    rng = np.random.default_rng(seed)
    values = np.round(rng.uniform(5, 150, size=(ny, nx)), 3)
    x = 530_000 + step * np.arange(nx)
    y = 180_000 + step * np.arange(ny)
    rows = [(x[i], y[j], values[j, i]) for j in range(ny) for i in range(nx)]
    rows = [rows[k] for k in rng.permutation(len(rows))]
    path = write_csv(tmp_path_factory.mktemp("h") / "g_NO2.csv", rows)
    ds = read_laei_csv(path, chunk_rows=chunk_rows)
    np.testing.assert_array_equal(ds.x, x)
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(ds["NO2"].to_numpy(), values)


# --- CSV errors ------------------------------------------------------------------------------

def test_csv_irregular_spacing(tmp_path):
    rows = [(x + (7 if x == 545_050 else 0), y, v) for x, y, v in gradient_rows()]
    with pytest.raises(ScanInputError, match=r"irr_NO2\.csv, field 'x': irregular spacing of x: "
                                             r"cell centres 545030 and 545057 are 27 m apart but "
                                             r"the grid step is 20 m"):
        read_grid(write_csv(tmp_path / "irr_NO2.csv", rows))


def test_csv_missing_cells_are_counted(tmp_path):
    rows = list(gradient_rows())
    del rows[7], rows[3]
    with pytest.raises(ScanInputError, match=r"hole_NO2\.csv: the points do not fill a rectangle: "
                                             r"2 of 30 cells are missing \(first missing cell "
                                             r"centre x=545070, y=184010\)"):
        read_grid(write_csv(tmp_path / "hole_NO2.csv", rows))


def test_csv_duplicate_point_names_coordinates_and_line(tmp_path):
    rows = list(gradient_rows())
    rows.append(rows[4])  # line 2 + 4 = 6 repeated on the last line, 32
    with pytest.raises(ScanInputError, match=r"dup_NO2\.csv, line 32: duplicate grid point "
                                             r"x=545090, y=184010 \(first seen on line 6\)"):
        read_grid(write_csv(tmp_path / "dup_NO2.csv", rows))


def test_csv_lonlat_coordinates(tmp_path):
    rows = [(0.08 + 0.001 * i, 51.54 + 0.001 * j, 30) for i in range(3) for j in range(3)]
    with pytest.raises(ScanInputError, match=r"ll_NO2\.csv, line 2: coordinates look like "
                                             r"longitude/latitude.*EPSG:27700"):
        read_grid(write_csv(tmp_path / "ll_NO2.csv", rows))


def test_csv_coordinates_outside_bng(tmp_path):
    rows = [(5_000_000 + 20 * i, 184_000 + 20 * j, 30) for i in range(2) for j in range(2)]
    with pytest.raises(ScanInputError, match=r"outside the British National Grid"):
        read_grid(write_csv(tmp_path / "far_NO2.csv", rows))


def test_csv_non_numeric_value_names_line_and_field(tmp_path):
    rows = list(gradient_rows())
    rows[2] = (rows[2][0], rows[2][1], "high")
    with pytest.raises(ScanInputError, match=r"bad_NO2\.csv, line 4, field 'conc': not a number: "
                                             r"'high'"):
        read_grid(write_csv(tmp_path / "bad_NO2.csv", rows))


def test_csv_non_numeric_value_found_when_clipping(tmp_path):
    from scan.exposure.grids import read_laei_csv

    rows = list(gradient_rows())
    rows[20] = (rows[20][0], rows[20][1], "oops")  # x=545050, y=184070: outside BBOX, not parsed
    rows[9] = (rows[9][0], rows[9][1], "high")     # x=545070, y=184030: inside BBOX, line 11
    with pytest.raises(ScanInputError, match=r"line 11, field 'conc': not a number: 'high'"):
        read_laei_csv(write_csv(tmp_path / "bad_NO2.csv", rows), bbox=BBOX, chunk_rows=4)


def test_csv_without_concentration_column(tmp_path):
    with pytest.raises(ScanInputError, match=r"nc_NO2\.csv, line 1: no concentration column "
                                             r"'conc' \(LAEI 2019\) or 'conct' \(LAEI 2013\)"):
        read_grid(write_csv(tmp_path / "nc_NO2.csv", [(1, 2, 3)], header="x,y,value"))


def test_unknown_extension_and_missing_file(tmp_path):
    path = tmp_path / "grid_NO2.tif"
    path.write_bytes(b"II*\x00")
    with pytest.raises(ScanInputError, match=r"grid_NO2\.tif: unknown grid format '\.tif'"):
        read_grid(path)
    with pytest.raises(ScanInputError, match=r"nowhere_NO2\.csv: file not found"):
        read_grid(tmp_path / "nowhere_NO2.csv")


# --- ESRI ASCII ----------------------------------------------------------------------------

def test_asc_orientation_north_west_cell_at_max_y_min_x():
    ds = read_grid(ASC)  # value = 10 * file row + column; file row 0 is the north edge
    da = ds["PM10"]
    np.testing.assert_array_equal(ds.x, [545_010, 545_030, 545_050, 545_070])
    np.testing.assert_array_equal(ds.y, [184_010, 184_030, 184_050])
    assert da.sel(x=ds.x.min(), y=ds.y.max()).item() == 0     # north-west
    assert da.sel(x=ds.x.max(), y=ds.y.max()).item() == 3     # north-east
    assert da.sel(x=ds.x.min(), y=ds.y.min()).item() == 20    # south-west
    assert np.isnan(da.sel(x=ds.x.max(), y=ds.y.min()).item())  # NODATA south-east


def test_asc_cell_centre_header(tmp_path):
    text = ASC.read_text().replace("xllcorner 545000", "xllcenter 545010") \
                          .replace("yllcorner 184000", "yllcenter 184010")
    path = tmp_path / "centre_PM10.asc"
    path.write_text(text)
    xr.testing.assert_identical(read_grid(path).drop_attrs(), read_grid(ASC).drop_attrs())


def test_asc_to_netcdf_round_trip(tmp_path):
    ds = read_grid(ASC)
    xr.testing.assert_identical(read_grid(write_netcdf(ds, tmp_path / "asc.nc")), ds)


def test_asc_short_row(tmp_path):
    path = tmp_path / "short_PM10.asc"
    path.write_text(ASC.read_text().replace("10 11 12 13", "10 11 12"))
    with pytest.raises(ScanInputError, match=r"short_PM10\.asc, line 8: row 1 has 3 values; the "
                                             r"header says ncols=4"):
        read_grid(path)


def test_asc_lonlat_header(tmp_path):
    path = tmp_path / "ll_PM10.asc"
    path.write_text("ncols 2\nnrows 2\nxllcorner 0.08\nyllcorner 51.5\ncellsize 0.001\n1 2\n3 4\n")
    with pytest.raises(ScanInputError, match=r"ll_PM10\.asc, line 1: coordinates look like "
                                             r"longitude/latitude"):
        read_grid(path)


def test_asc_missing_header_key(tmp_path):
    path = tmp_path / "nohdr_PM10.asc"
    path.write_text("ncols 2\nnrows 2\nxllcorner 545000\nyllcorner 184000\n1 2\n3 4\n")
    with pytest.raises(ScanInputError, match=r"nohdr_PM10\.asc, line 5: ESRI ASCII header has no "
                                             r"'cellsize'"):
        read_grid(path)


def test_asc_detected_by_content(tmp_path):
    path = tmp_path / "grid_PM10.txt"
    path.write_text(ASC.read_text())
    xr.testing.assert_identical(read_grid(path)["PM10"], read_grid(ASC)["PM10"])


# --- NetCDF ----------------------------------------------------------------------------------

def test_netcdf_selects_pollutant_and_rejects_unknown(tmp_path):
    x = 545_010.0 + 20 * np.arange(3)
    y = 184_010.0 + 20 * np.arange(2)
    ds = make_dataset({"NO2": np.ones((2, 3)), "PM2.5": np.zeros((2, 3))}, x, y, source="t")
    path = write_netcdf(ds, tmp_path / "two.nc")
    assert list(read_grid(path, pollutant="pm25").data_vars) == ["PM25"]
    xr.testing.assert_identical(read_grid(path), ds)
    with pytest.raises(ScanInputError, match=r"two\.nc: no variable 'PM10'; the file has NO2, PM25"):
        read_grid(path, pollutant="PM10")


def test_csv_missing_column_is_counted_as_missing_cells(tmp_path):
    rows = [r for r in gradient_rows() if r[0] != 545_050.0]
    with pytest.raises(ScanInputError, match=r"5 of 30 cells are missing \(first missing cell "
                                             r"centre x=545050, y=184010\)"):
        read_grid(write_csv(tmp_path / "col_NO2.csv", rows))


def test_asc_rows_outside_bbox_are_not_parsed(tmp_path):
    # The southern row (last in the file) is corrupt: a clipped read never parses it.
    path = tmp_path / "tail_PM10.asc"
    path.write_text(ASC.read_text().replace("20 21 22 -9999", "20 21 ### -9999"))
    north = read_grid(path, bbox=(545_000, 184_020, 545_080, 184_060))
    np.testing.assert_array_equal(north["PM10"].to_numpy(), [[10, 11, 12, 13], [0, 1, 2, 3]])
    with pytest.raises(ScanInputError, match=r"tail_PM10\.asc, line 9: not a number: '###'"):
        read_grid(path)


def test_csv_empty_coordinate_and_header_only(tmp_path):
    rows = list(gradient_rows())
    rows[3] = ("", rows[3][1], rows[3][2])
    with pytest.raises(ScanInputError, match=r"ex_NO2\.csv, line 5, field 'x': empty value"):
        read_grid(write_csv(tmp_path / "ex_NO2.csv", rows))
    header_only = tmp_path / "h_NO2.csv"
    header_only.write_text("x,y,conc\n")
    with pytest.raises(ScanInputError, match=r"h_NO2\.csv: no data rows after the header"):
        read_grid(header_only)
