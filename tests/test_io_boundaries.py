"""Boundaries from GeoPackage, shapefile, GeoJSON, FlatGeobuf (any CRS, through pyogrio) and
WKT-in-CSV: ids and names found, CRS read from the file and reprojected, errors pinned."""
from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import shapely

from conftest import REAL, needs_real
from scan.errors import ScanInputError, ScanParameterError
from scan.io.boundaries import Boundaries, boundaries_for, read_boundaries

# Three squares in British National Grid metres, 100 m apart.
SQUARES = {f"E0100000{k}": shapely.box(548000 + 200 * k, 188000, 548100 + 200 * k, 188100)
           for k in range(1, 4)}
NAMES = ["Chadwell Heath 001A", "Chadwell Heath 001B", "Whalebone 002A"]
GDAL_FORMATS = [(".gpkg", "GPKG"), (".shp", "ESRI Shapefile"), (".geojson", "GeoJSON"),
                (".fgb", "FlatGeobuf")]


def _write(path, polygons, fields: dict, crs="EPSG:27700", driver=None, geometry_type="Polygon"):
    wkb = np.array([None if g is None else shapely.to_wkb(g) for g in polygons], dtype=object)
    pyogrio.raw.write(str(path), wkb, [np.asarray(v, dtype=object) for v in fields.values()],
                      list(fields), geometry_type=geometry_type, crs=crs, driver=driver)
    return path


def _in(crs: str) -> list:
    b = Boundaries(ids=tuple(SQUARES), polygons=tuple(SQUARES.values()), names=None,
                   crs="EPSG:27700", source="test")
    return list(b.to_crs(crs).polygons)


@pytest.mark.parametrize("suffix, driver", GDAL_FORMATS)
@pytest.mark.parametrize("crs", ["EPSG:27700", "EPSG:4326", "EPSG:3857"])
def test_every_format_in_any_crs_round_trips(tmp_path, suffix, driver, crs):
    if driver == "GeoJSON" and crs != "EPSG:4326":
        pytest.skip("GeoJSON (RFC 7946) is WGS84")
    path = _write(tmp_path / f"lsoa{suffix}", _in(crs),
                  {"LSOA11CD": list(SQUARES), "LSOA11NM": NAMES}, crs=crs, driver=driver)
    b = read_boundaries(path)
    assert b.crs == crs and b.id_column == "LSOA11CD" and b.name_column == "LSOA11NM"
    # (FlatGeobuf stores features in its spatial index's order)
    assert dict(zip(b.ids, b.names)) == dict(zip(SQUARES, NAMES))
    bng = b.to_crs("EPSG:27700")
    for got, want in zip(bng.polygons, (SQUARES[k] for k in b.ids)):
        assert shapely.hausdorff_distance(got, want) < 0.01      # metres, after two transforms
        assert got.is_valid


def test_ids_select_and_order(tmp_path):
    path = _write(tmp_path / "b.gpkg", list(SQUARES.values()),
                  {"code": list(SQUARES), "LSOA21CD": ["x", "y", "z"]})
    b = read_boundaries(path, ids=["E01000003", "E01000001"])
    # LSOA21CD is tried before a plain text column, but only 'code' holds the ids asked for
    assert b.id_column == "code" and b.ids == ("E01000003", "E01000001")
    assert b.polygons[0].equals(SQUARES["E01000003"])


def test_id_column_detection_order(tmp_path):
    path = _write(tmp_path / "b.gpkg", list(SQUARES.values()),
                  {"label": ["a", "b", "c"], "lsoa11cd": list(SQUARES), "Id": ["1", "2", "3"]})
    assert read_boundaries(path).id_column == "Id"
    path = _write(tmp_path / "c.gpkg", list(SQUARES.values()),
                  {"label": ["a", "b", "c"], "lsoa11cd": list(SQUARES), "lsoa11nm": NAMES})
    b = read_boundaries(path)
    assert (b.id_column, b.name_column) == ("lsoa11cd", "lsoa11nm")
    path = _write(tmp_path / "d.gpkg", list(SQUARES.values()), {"label": ["a", "b", "c"]})
    assert read_boundaries(path).ids == ("a", "b", "c")
    assert read_boundaries(path, id_column="label", name_column="label").names == ("a", "b", "c")


def test_wkt_csv_layouts(tmp_path):
    rows = "\n".join(f'{k},"{NAMES[i]}","{g.wkt}"' for i, (k, g) in enumerate(SQUARES.items()))
    (tmp_path / "bng.csv").write_text("LSOA11CD,LSOA11NM,geometry\n" + rows + "\n")
    b = read_boundaries(tmp_path / "bng.csv")
    assert b.crs == "EPSG:27700" and b.ids == tuple(SQUARES) and b.names == tuple(NAMES)
    wgs = _in("EPSG:4326")
    rows = "\n".join(f'{k},"{g.wkt}"' for k, g in zip(SQUARES, wgs))
    (tmp_path / "wgs.csv").write_text("id,geometry_wkt_wgs84\n" + rows + "\n")
    b = read_boundaries(tmp_path / "wgs.csv")
    assert b.crs == "EPSG:4326"
    assert shapely.hausdorff_distance(b.to_crs("EPSG:27700").polygons[0],
                                      SQUARES["E01000001"]) < 0.01
    (tmp_path / "plain.csv").write_text("id,geometry\n" + rows + "\n")
    assert read_boundaries(tmp_path / "plain.csv", crs="EPSG:4326").crs == "EPSG:4326"


@needs_real
def test_real_lsoa_and_ward_files():
    b = read_boundaries(REAL / "lbbd_lsoa11_boundaries_bng.csv")
    assert len(b) == 110 and b.id_column == "LSOA11CD" and b.name_column == "LSOA11NM"
    assert b.crs == "EPSG:27700" and all(p.is_valid for p in b.polygons)
    w = read_boundaries(REAL / "lbbd_wards2025_boundaries.csv")      # takes the BNG column
    assert len(w) == 19 and w.crs == "EPSG:27700" and "Chadwell Heath" in w.names
    assert 540_000 < w.polygons[0].bounds[0] < 560_000


def test_boundaries_for_a_study_area(tmp_path):
    import scan

    area = scan.study_area(list(SQUARES)[::-1], [548250, 548050, 548450][::-1][::-1],
                           [188050] * 3, [1, 2, 3], [100, 100, 100])
    path = _write(tmp_path / "b.gpkg", _in("EPSG:4326"), {"id": list(SQUARES)},
                  crs="EPSG:4326")
    b = boundaries_for(area, path)
    assert b.ids == tuple(area.ids) and b.crs == "EPSG:27700"
    assert shapely.hausdorff_distance(b.polygons[0], SQUARES[area.ids[0]]) < 0.01


def test_exposure_join_reads_geopackages_through_it(tmp_path):
    import scan
    from scan.exposure.join import read_boundaries as join_read

    area = scan.study_area(list(SQUARES), [548050, 548250, 548450], [188050] * 3, [1, 2, 3],
                           [100, 100, 100])
    path = _write(tmp_path / "b.gpkg", _in("EPSG:3857"), {"id": list(SQUARES)}, crs="EPSG:3857")
    polygons = join_read(area, path)
    assert shapely.hausdorff_distance(polygons[2], SQUARES["E01000003"]) < 0.01


# --- errors ---------------------------------------------------------------------------------------

def test_missing_ids_are_named(tmp_path):
    path = _write(tmp_path / "b.gpkg", list(SQUARES.values()), {"id": list(SQUARES)})
    with pytest.raises(ScanInputError, match=r"b\.gpkg, field 'id': 2 of 3 study location\(s\) "
                       r"have no boundary, e\.g\. 'E01000009', 'E01000008'; the ids were read from "
                       r"column 'id', which holds e\.g\. 'E01000001'"):
        read_boundaries(path, ids=["E01000009", "E01000001", "E01000008"])


def test_points_are_not_boundaries(tmp_path):
    pts = [shapely.Point(548000, 188000)]
    path = _write(tmp_path / "p.gpkg", pts, {"id": ["A"]}, geometry_type="Point")
    with pytest.raises(ScanInputError, match=r"p\.gpkg: no layer of polygons \(layers: p "
                                             r"\(Point\)\)"):
        read_boundaries(path)
    mixed = tmp_path / "m.csv"
    mixed.write_text('id,geometry\nA,"POINT (548000 188000)"\n')
    with pytest.raises(ScanInputError, match=r"m\.csv, field 'geometry': line 2 \(id 'A'\) is a "
                                             r"Point; boundaries must be polygons"):
        read_boundaries(mixed)


@pytest.mark.parametrize("text, match", [
    ("id,name\nA,x\n", r"x\.csv, line 1: no geometry column of WKT \(expected one named "
                       r"geometry, wkt, geometry_wkt_bng or geometry_wkt_wgs84\); columns are "
                       r"id, name"),
    ("id,geometry\n", r"x\.csv, line 2: no data rows after the header"),
    ('id,geometry\nA,"POLYGON ((0 0, 1"\n', r"x\.csv, line 2, field 'geometry': not a WKT "
                                            r"geometry"),
    ('id,geometry\nA,"POLYGON ((0 0, 1 0, 1 1, 0 0))"\n',
     r"look like longitude/latitude .* but column 'geometry' is read as EPSG:27700; name the "
     r"column geometry_wkt_wgs84, or pass crs='EPSG:4326'"),
    ('id,geometry\nA,\n', r"x\.csv, field 'geometry': line 2 \(id 'A'\) has no geometry"),
    ('id,geometry\nA,"POLYGON ((548000 188000, 548001 188000, 548001 188001, 548000 188000))"\n'
     'A,"POLYGON ((548000 188000, 548001 188000, 548001 188001, 548000 188000))"\n',
     r"x\.csv, field 'id': id 'A' appears twice \(line 2 and line 3\)"),
    ("a,b,geometry\n1,2,\n", r"x\.csv, line 1: no id column"),
])
def test_csv_errors(tmp_path, text, match):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with pytest.raises(ScanInputError, match=match):
        read_boundaries(path)


def test_file_errors(tmp_path):
    with pytest.raises(ScanInputError, match=r"nowhere\.gpkg: boundaries file not found"):
        read_boundaries(tmp_path / "nowhere.gpkg")
    (tmp_path / "junk.gpkg").write_bytes(b"not a geopackage at all")
    with pytest.raises(ScanInputError, match=r"junk\.gpkg: cannot be read as GIS data .*; "
                                             r"boundaries are read from GeoPackage, shapefile"):
        read_boundaries(tmp_path / "junk.gpkg")
    with pytest.raises(ScanInputError, match=r"is a folder, not a boundaries file"):
        read_boundaries(tmp_path)
    path = _write(tmp_path / "b.gpkg", list(SQUARES.values()), {"id": list(SQUARES)})
    with pytest.raises(ScanInputError, match=r"b\.gpkg, line 1, field 'code': no column 'code' "
                                             r"\(the id column asked for\); columns are id"):
        read_boundaries(path, id_column="code")
    with pytest.raises(ScanParameterError, match=r"'crs' must be None or the file's own CRS "
                                                 r"\(EPSG:27700\); got 'EPSG:4326'"):
        read_boundaries(path, crs="EPSG:4326")


def test_a_shapefile_without_prj_needs_crs(tmp_path):
    path = _write(tmp_path / "b.shp", list(SQUARES.values()), {"id": list(SQUARES)},
                  driver="ESRI Shapefile")
    (tmp_path / "b.prj").unlink()
    with pytest.raises(ScanInputError, match=r"b\.shp: declares no coordinate reference system "
                                             r"\(a shapefile needs its \.prj file beside it\)"):
        read_boundaries(path)
    assert read_boundaries(path, crs="EPSG:27700").crs == "EPSG:27700"
