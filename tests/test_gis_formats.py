"""GIS outputs (scan.io.gis): GeoPackage, shapefiles and KML, written and read back with pyogrio
and with a second reader (sqlite3 for the GeoPackage, dbfread for the .dbf, lxml and fastkml for
KML): CRS declared and preserved, every geometry valid, every member of every cluster inside
its polygon, attributes as in the result."""
from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import sqlite3
import subprocess

import numpy as np
import pyproj
import pytest
import shapely

import scan
from scan.datasets import load_borough
from scan.errors import ScanParameterError
from scan.io import gis
from scan.io.writers import DEFAULT_FORMATS, WRITERS

pyogrio = pytest.importorskip("pyogrio")
from pyogrio.raw import read  # noqa: E402

KML_NS = {"k": "http://www.opengis.net/kml/2.2"}


# --- data ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def borough():
    return load_borough()


@pytest.fixture(scope="module")
def named_result(borough):
    """The borough's cancer scan, with names that need escaping, 19 replications."""
    area = scan.borough_study_area("cancer")
    names = np.array([f"Area {i} <{i % 3}> & co" for i in range(area.n_locations)])
    area = dataclasses.replace(area, names=names)
    return scan.circular_scan(area, n_replications=19, rng=7)


@pytest.fixture(scope="module")
def written(tmp_path_factory, named_result, borough):
    out = tmp_path_factory.mktemp("gis") / "out"
    scan.write_result(named_result, out, formats="csv,gpkg,shp,kml", polygons=borough.polygons)
    return out


def _geoms(wkb):
    return shapely.from_wkb(np.asarray(wkb, dtype=object))


def _members_inside(result, polygons, xy_by_id):
    """Every member's point (taken from a file) strictly inside its cluster's polygon."""
    checked = 0
    for c, poly in zip(result.clusters, polygons):
        pts = np.array([xy_by_id[m] for m in c.members])
        inside = shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
        assert inside.all(), (c.rank, np.asarray(c.members)[~inside])
        checked += len(pts)
    return checked


# --- the writer table ---------------------------------------------------------------------------

def test_formats_are_registered_and_gpkg_is_a_default():
    assert {"gpkg", "shp", "kml"} <= set(WRITERS)
    assert "gpkg" in DEFAULT_FORMATS and "shp" not in DEFAULT_FORMATS


def test_default_formats_write_the_geopackage(tmp_path, named_result):
    out = scan.write_result(named_result, tmp_path / "out")
    assert (out / "result.gpkg").is_file()
    files = __import__("json").loads((out / "result.json").read_text())["files"]
    assert "result.gpkg" in files


def test_files_listed_in_result_json(written):
    import json

    files = json.loads((written / "result.json").read_text())["files"]
    for name in ("result.gpkg", "clusters.kml", "shapefiles/clusters.shp",
                 "shapefiles/clusters.prj", "shapefiles/locations.dbf",
                 "shapefiles/cluster_areas.shp"):
        assert name in files
        assert (written / name).is_file()


# --- GeoPackage ---------------------------------------------------------------------------------

def test_gpkg_layers_crs_and_counts(written, named_result):
    layers = {name: kind for name, kind in pyogrio.list_layers(written / "result.gpkg")}
    assert layers == {"clusters": "Polygon", "cluster_areas": "MultiPolygon",
                      "locations": "Point", "location_areas": "MultiPolygon"}
    n_clusters = len(named_result.clusters)
    for layer, n in (("clusters", n_clusters), ("cluster_areas", n_clusters),
                     ("locations", 110), ("location_areas", 110)):
        info = pyogrio.read_info(written / "result.gpkg", layer=layer)
        assert info["crs"] == "EPSG:27700"
        assert info["features"] == n


def test_gpkg_round_trip_geometries_and_attributes(written, named_result):
    path = written / "result.gpkg"
    meta, _, wkb, fields = read(path, layer="locations")
    cols = dict(zip(meta["fields"], fields))
    pts = _geoms(wkb)
    xy = {i: (p.x, p.y) for i, p in zip(cols["id"], pts)}
    assert np.array_equal(np.array(list(xy.values())), named_result.area.coords)
    assert list(cols["name"]) == list(named_result.area.names)        # names carried, escaped
    assert list(cols["cluster"]) == list(named_result.locations_dataframe()["cluster"])
    for layer in ("clusters", "cluster_areas"):
        meta, _, wkb, fields = read(path, layer=layer)
        cols = dict(zip(meta["fields"], fields))
        polys = _geoms(wkb)
        assert shapely.is_valid(polys).all()
        assert (shapely.area(polys) > 0).all()
        assert list(cols["rank"]) == [c.rank for c in named_result.clusters]
        assert np.allclose(cols["p_value"], [c.p_value for c in named_result.clusters],
                           rtol=0, atol=0)
        assert np.allclose(cols["llr"], [c.llr for c in named_result.clusters], rtol=1e-15)
        assert list(cols["members"]) == [" ".join(c.members) for c in named_result.clusters]
        assert cols["member_names"][0] == "; ".join(
            named_result.area.names[i] for i in named_result.clusters[0].member_indices)
        assert _members_inside(named_result, polys, xy) >= len(named_result.clusters)


def test_gpkg_cluster_areas_are_member_polygon_unions(written, named_result, borough):
    _, _, wkb, _ = read(written / "result.gpkg", layer="cluster_areas")
    for c, area in zip(named_result.clusters, _geoms(wkb)):
        union = shapely.union_all([borough.polygons[i] for i in c.member_indices])
        assert area.symmetric_difference(union).area < 1e-6 * union.area


def test_gpkg_second_reader_sqlite(written, named_result):
    """The GeoPackage tables read with sqlite3: the layers, their SRS and their row counts."""
    with sqlite3.connect(written / "result.gpkg") as db:
        contents = dict(db.execute("SELECT table_name, srs_id FROM gpkg_contents"))
        assert contents == {"clusters": 27700, "cluster_areas": 27700, "locations": 27700,
                            "location_areas": 27700}
        srs = db.execute("SELECT organization, organization_coordsys_id FROM "
                         "gpkg_spatial_ref_sys WHERE srs_id = 27700").fetchone()
        assert srs == ("EPSG", 27700)
        for table, n in (("clusters", len(named_result.clusters)), ("locations", 110)):
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == n
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47   # 'GPKG'


def test_gpkg_opens_with_ogrinfo_or_pyogrio(written, named_result):
    """ogrinfo (Debian's gdal-bin) when installed, else pyogrio: the layers and their counts."""
    path = written / "result.gpkg"
    expected = {"clusters": len(named_result.clusters),
                "cluster_areas": len(named_result.clusters), "locations": 110,
                "location_areas": 110}
    if shutil.which("ogrinfo"):
        out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True,
                             text=True, check=True)
        names = re.findall(r"^Layer name: (\S+)$", out.stdout, flags=re.M)
        counts = [int(v) for v in re.findall(r"^Feature Count: (\d+)$", out.stdout, flags=re.M)]
        assert dict(zip(names, counts)) == expected
        assert "may only be partially supported" not in out.stderr   # GeoPackage 1.2
    else:
        got = {name: pyogrio.read_info(path, layer=name)["features"]
               for name, _ in pyogrio.list_layers(path)}
        assert got == expected


def test_gpkg_same_run_same_bytes(tmp_path, named_result, borough):
    a = scan.write_result(named_result, tmp_path / "a", formats="gpkg,shp,kml",
                          polygons=borough.polygons)
    b = scan.write_result(named_result, tmp_path / "b", formats="gpkg,shp,kml",
                          polygons=borough.polygons)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) > 10
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


# --- shapefiles ---------------------------------------------------------------------------------

SATSCAN_CLUSTER_FIELDS = ["CLUSTER", "LOC_ID", "LOC_NAME", "X", "Y", "RADIUS", "NUMBER_LOC",
                          "LLR", "P_VALUE", "GBL_PVALUE", "OBSERVED", "EXPECTED", "ODE",
                          "REL_RISK", "POPULATION"]
SATSCAN_LOCATION_FIELDS = ["LOC_ID", "LOC_NAME", "CLUSTER", "P_VALUE", "GBL_PVALUE", "CLU_OBS",
                           "CLU_EXP", "CLU_ODE", "CLU_RR", "CLU_POP", "LOC_OBS", "LOC_EXP",
                           "LOC_ODE", "LOC_RR", "LOC_POP", "LOC_X", "LOC_Y"]


def test_shapefiles_pyogrio_round_trip(written, named_result):
    sub = written / "shapefiles"
    meta, _, wkb, fields = read(sub / "locations.shp")
    assert meta["crs"] == "EPSG:27700"
    assert list(meta["fields"]) == SATSCAN_LOCATION_FIELDS
    loc = dict(zip(meta["fields"], fields))
    xy = {i: (p.x, p.y) for i, p in zip(loc["LOC_ID"], _geoms(wkb))}
    assert np.allclose(np.array(list(xy.values())), named_result.area.coords, rtol=0, atol=1e-6)
    for name in ("clusters", "cluster_areas"):
        meta, _, wkb, fields = read(sub / f"{name}.shp")
        assert meta["crs"] == "EPSG:27700"
        assert list(meta["fields"]) == SATSCAN_CLUSTER_FIELDS
        polys = _geoms(wkb)
        assert shapely.is_valid(polys).all()
        _members_inside(named_result, polys, xy)
    for f in sub.iterdir():
        assert len(f.stem) <= 13


def test_shapefile_prj_and_cpg(written):
    for name in ("clusters", "locations", "cluster_areas"):
        prj = (written / "shapefiles" / f"{name}.prj").read_text()
        assert pyproj.CRS.from_wkt(prj).to_epsg(min_confidence=70) == 27700
        assert (written / "shapefiles" / f"{name}.cpg").read_text().strip().upper() in (
            "UTF-8", "UTF8")


def test_shapefile_dbf_second_reader(written, named_result):
    dbfread = pytest.importorskip("dbfread")
    table = dbfread.DBF(str(written / "shapefiles" / "clusters.dbf"), encoding="utf-8")
    assert table.field_names == SATSCAN_CLUSTER_FIELDS
    assert all(len(f) <= 10 for f in table.field_names)
    rows = list(table)
    assert [r["CLUSTER"] for r in rows] == [c.rank for c in named_result.clusters]
    assert [r["LOC_ID"] for r in rows] == [c.center for c in named_result.clusters]
    for r, c in zip(rows, named_result.clusters):
        assert r["OBSERVED"] == c.observed
        assert r["NUMBER_LOC"] == c.n_locations
        assert r["P_VALUE"] == pytest.approx(c.p_value, rel=1e-12)
        assert r["RADIUS"] == pytest.approx(c.radius, rel=1e-12)
        assert r["LOC_NAME"] == named_result.area.names[c.center_index]
    locs = list(dbfread.DBF(str(written / "shapefiles" / "locations.dbf"), encoding="utf-8"))
    df = named_result.locations_dataframe()
    assert [r["CLUSTER"] for r in locs] == list(df["cluster"])
    assert [r["LOC_OBS"] for r in locs] == list(df["cases"])
    outside = [r for r in locs if r["CLUSTER"] == 0]
    assert outside and all(r["P_VALUE"] is None for r in outside)
    one = named_result.clusters[0]
    inside = [r for r in locs if r["LOC_ID"] in one.members]
    assert {r["CLU_OBS"] for r in inside} == {one.observed}


# --- KML ----------------------------------------------------------------------------------------

def test_kml_pyogrio_round_trip(written, named_result):
    path = written / "clusters.kml"
    layers = [name for name, _ in pyogrio.list_layers(path)]
    assert layers == ["Clusters", "Locations"]
    meta, _, wkb, fields = read(path, layer="Clusters")
    assert meta["crs"] == "EPSG:4326"
    polys = _geoms(wkb)
    assert len(polys) == len(named_result.clusters) and shapely.is_valid(polys).all()
    t = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    lon, lat = t.transform(named_result.area.coords[:, 0], named_result.area.coords[:, 1])
    xy = dict(zip(named_result.area.ids, zip(lon, lat)))
    _members_inside(named_result, polys, xy)
    meta, _, wkb, _ = read(path, layer="Locations")
    assert len(wkb) == 110


def test_kml_lxml_structure(written, named_result):
    etree = pytest.importorskip("lxml.etree")
    doc = etree.parse(str(written / "clusters.kml"))
    root = doc.getroot()
    assert root.tag == "{http://www.opengis.net/kml/2.2}kml"
    styles = {s.get("id") for s in root.iterfind(".//k:Style", KML_NS)}
    folders = root.findall(".//k:Folder", KML_NS)
    assert [f.findtext("k:name", namespaces=KML_NS) for f in folders] == ["Clusters",
                                                                          "Locations"]
    placemarks = folders[0].findall("k:Placemark", KML_NS)
    assert len(placemarks) == len(named_result.clusters)
    for pm, c in zip(placemarks, named_result.clusters):
        assert pm.findtext("k:styleUrl", namespaces=KML_NS).lstrip("#") in styles
        description = pm.findtext("k:description", namespaces=KML_NS)
        for label in ("Observed cases", "Expected cases", "Relative risk", "p-value"):
            assert label in description
        html = etree.fromstring(description, etree.HTMLParser())
        cells = {th.text: td.text for th, td in zip(html.iter("th"), html.iter("td"))}
        assert cells["Observed cases"] == f"{c.observed:g}"
        assert cells["Expected cases"] == f"{c.expected:.2f}"
        assert re.search(r"Area \d+ <\d> & co", cells["Members"])       # escaped, read back
        data = {d.get("name"): d.findtext("k:value", namespaces=KML_NS)
                for d in pm.iterfind(".//k:Data", KML_NS)}
        assert float(data["p_value"]) == pytest.approx(c.p_value, rel=1e-9)
        ring = pm.findtext(".//k:outerBoundaryIs/k:LinearRing/k:coordinates", namespaces=KML_NS)
        coords = np.array([[float(v) for v in p.split(",")] for p in ring.split()])
        assert np.array_equal(coords[0], coords[-1])
        assert ((coords[:, 0] > -1) & (coords[:, 0] < 1) & (coords[:, 1] > 51)
                & (coords[:, 1] < 52)).all()


def test_kml_fastkml_reads_it(written, named_result):
    fastkml = pytest.importorskip("fastkml")
    from fastkml import kml

    doc = kml.KML.parse(str(written / "clusters.kml")).features[0]
    clusters, locations = doc.features
    assert clusters.name == "Clusters" and locations.name == "Locations"
    assert len(clusters.features) == len(named_result.clusters)
    assert len(locations.features) == 110
    first = clusters.features[0]
    assert first.name.startswith("Most likely cluster")
    assert first.style_url.url in ("#significant", "#not-significant")
    geom = shapely.geometry.shape(first.geometry.__geo_interface__)
    assert geom.is_valid and geom.area > 0
    assert fastkml.__version__


# --- the rules on constructed clusters ----------------------------------------------------------

@pytest.fixture(scope="module")
def ring_result():
    """Locations on a circle of radius exactly 5 around location C at (0, 0): a cluster whose
    farthest members sit exactly on its radius."""
    x = np.array([0.0, 5.0, 3.0, 0.0, -4.0, -3.0, 40.0, 41.0])
    y = np.array([0.0, 0.0, 4.0, -5.0, 3.0, -4.0, 40.0, 41.0])
    area = scan.study_area(list("CABDEFGH"), x + 530_000, y + 180_000,
                           [5, 5, 5, 5, 5, 5, 1, 1], [100] * 8, crs="EPSG:27700")
    result = scan.circular_scan(area, n_replications=0, rng=1)
    c = result.clusters[0]
    ring = dataclasses.replace(c, center="C", center_index=0, center_x=530_000.0,
                               center_y=180_000.0, radius=5.0, members=tuple("CABDEF"),
                               member_indices=np.arange(6))
    single = dataclasses.replace(c, rank=2, center="G", center_index=6, center_x=530_040.0,
                                 center_y=180_040.0, radius=0.0, members=("G",),
                                 member_indices=np.array([6]))
    ellipse = dataclasses.replace(ring, rank=3, shape=3.0, angle=30.0)
    return result.with_clusters([ring, single, ellipse])


def test_members_on_the_edge_are_inside(ring_result):
    area = ring_result.area
    ring = ring_result.clusters[0]
    naive = shapely.Point(530_000, 180_000).buffer(5.0, quad_segs=16)
    pts = area.coords[:6]
    assert not shapely.contains_xy(naive, pts[:, 0], pts[:, 1]).all()   # the bug this fixes
    shape = gis.cluster_shape(area, ring)
    assert shape.is_valid and shapely.contains_xy(shape, pts[:, 0], pts[:, 1]).all()
    assert shape.area == pytest.approx(np.pi * 25, rel=1e-3)           # barely wider


def test_single_location_cluster_has_area(ring_result):
    area = ring_result.area
    single = ring_result.clusters[1]
    shape = gis.cluster_shape(area, single)
    assert shape.is_valid and shape.area > 0
    assert shapely.contains_xy(shape, *area.coords[6])
    assert not shapely.contains_xy(shape, *area.coords[7])           # 1.4 m away: not swept in
    extent = np.hypot(*np.ptp(area.coords, axis=0))
    assert shape.area == pytest.approx(np.pi * (gis.MIN_RADIUS_FRACTION * extent) ** 2, rel=1e-3)


def test_ellipse_holds_its_members(ring_result, tmp_path):
    area = ring_result.area
    e = ring_result.clusters[2]
    shape = gis.cluster_shape(area, e)
    pts = area.coords[:6]
    assert shape.is_valid and shapely.contains_xy(shape, pts[:, 0], pts[:, 1]).all()
    r = gis.elliptic_radius(area, e)
    assert shape.area == pytest.approx(np.pi * r * r * 3.0, rel=1e-3)
    # the major axis points at 30 degrees: the farthest vertex from the centre lies along it
    ring = np.asarray(shape.exterior.coords) - (530_000, 180_000)
    far = ring[np.argmax(np.hypot(*ring.T))]
    assert np.degrees(np.arctan2(far[1], far[0])) % 180 == pytest.approx(30, abs=2)
    out = scan.write_result(ring_result, tmp_path / "e", formats="shp,kml")
    meta, _, wkb, fields = read(out / "shapefiles" / "clusters.shp")
    cols = dict(zip(meta["fields"], fields))
    for name in ("E_MINOR", "E_MAJOR", "E_ANGLE", "E_SHAPE", "TEST_STAT"):
        assert name in cols
    assert "RADIUS" not in cols
    assert cols["E_MAJOR"][2] == pytest.approx(3 * cols["E_MINOR"][2])
    assert cols["E_ANGLE"][2] == 30 and cols["E_SHAPE"][2] == 3
    assert shapely.contains_xy(_geoms(wkb)[2], pts[:, 0], pts[:, 1]).all()


def test_member_area_adds_a_disc_for_a_point_outside_its_polygon(ring_result):
    area = ring_result.area
    c = ring_result.clusters[0]
    squares = [shapely.box(x - 1, y - 1, x + 1, y + 1) for x, y in area.coords]
    squares[1] = shapely.box(530_100, 180_100, 530_101, 180_101)   # far from its point
    squares[2] = None                                               # no polygon at all
    geom = gis.member_area(area, c, squares)
    assert geom.geom_type == "MultiPolygon" and geom.is_valid
    pts = area.coords[:6]
    assert shapely.contains_xy(geom, pts[:, 0], pts[:, 1]).all()


def test_latlong_data_are_written_in_wgs84(tmp_path):
    from conftest import random_dataset

    area = random_dataset(11, coordinates="latlong", n=15)
    result = scan.circular_scan(area, n_replications=9, rng=3)
    out = scan.write_result(result, tmp_path / "ll", formats="gpkg,shp,kml")
    xy = dict(zip(area.ids, map(tuple, area.coords)))
    for path, layer in ((out / "result.gpkg", "clusters"),
                        (out / "shapefiles" / "clusters.shp", None),
                        (out / "clusters.kml", "Clusters")):
        meta, _, wkb, fields = read(path, layer=layer)
        assert meta["crs"] == "EPSG:4326"
        polys = _geoms(wkb)
        assert shapely.is_valid(polys).all() and (shapely.area(polys) > 0).all()
        _members_inside(result, polys, xy)
    meta, _, _, _ = read(out / "shapefiles" / "clusters.shp")
    assert {"LATITUDE", "LONGITUDE", "RADIUS"} <= set(meta["fields"])
    meta, _, _, _ = read(out / "shapefiles" / "locations.shp")
    assert {"LOC_LAT", "LOC_LONG"} <= set(meta["fields"])


def test_spacetime_clusters_carry_their_time_window(tmp_path):
    data = scan.borough_spacetime("flu_like", 12)
    result = scan.spacetime_scan(data, n_replications=9, rng=5)
    out = scan.write_result(result, tmp_path / "st", formats="gpkg,shp,kml")
    meta, _, _, fields = read(out / "shapefiles" / "clusters.shp")
    cols = dict(zip(meta["fields"], fields))
    assert list(cols["START_DATE"]) == [str(c.start) for c in result.clusters]
    assert list(cols["END_DATE"]) == [str(c.end) for c in result.clusters]
    etree = pytest.importorskip("lxml.etree")
    root = etree.parse(str(out / "clusters.kml")).getroot()
    begins = [e.text for e in root.iterfind(".//k:TimeSpan/k:begin", KML_NS)]
    assert begins == [str(c.start) for c in result.clusters]


def test_no_crs_no_gis_files(tmp_path, caplog):
    from conftest import random_dataset

    area = random_dataset(4, n=10)                 # plain Cartesian numbers, crs=None
    result = scan.circular_scan(area, n_replications=0, rng=1)
    with caplog.at_level(logging.INFO, logger="scan.io.gis"):
        out = scan.write_result(result, tmp_path / "none", formats="csv,gpkg,shp,kml")
    assert not (out / "result.gpkg").exists() and not (out / "clusters.kml").exists()
    assert not (out / "shapefiles").exists()
    assert "result.gpkg not written: the coordinates have no CRS" in caplog.text


def test_polygons_must_be_one_per_location(tmp_path, named_result, borough):
    with pytest.raises(ScanParameterError, match=r"parameter 'polygons' must be one polygon "
                                                 r"per location \(110\)"):
        scan.write_result(named_result, tmp_path / "bad", formats="gpkg",
                          polygons=borough.polygons[:5])


def test_exposure_fields_in_the_shapefile(tmp_path, named_result):
    c0 = named_result.clusters[0]
    exposure = {"NO2": {"mean_inside": 31.5, "mean_outside": 28.25, "units": "µg/m³"}}
    result = named_result.with_clusters([dataclasses.replace(c0, exposure=exposure)])
    out = scan.write_result(result, tmp_path / "ex", formats="shp,kml")
    meta, _, _, fields = read(out / "shapefiles" / "clusters.shp")
    cols = dict(zip(meta["fields"], fields))
    assert cols["NO2_IN"][0] == 31.5 and cols["NO2_OUT"][0] == 28.25
    assert "NO2 exposure (population-weighted)" in (out / "clusters.kml").read_text()


def test_whole_area_and_empty_results(tmp_path):
    """A purely temporal cluster (the whole area) is drawn around every location; a result with
    no cluster writes empty cluster layers beside the locations."""
    data = scan.borough_spacetime("flu_like", 12)
    result = scan.spacetime_scan(data, analysis="temporal", n_replications=9, rng=1)
    (whole,) = result.clusters
    assert whole.center_index == -1 and whole.n_locations == 110
    out = scan.write_result(result, tmp_path / "t", formats="gpkg,shp,kml")
    meta, _, wkb, fields = read(out / "shapefiles" / "clusters.shp")
    assert dict(zip(meta["fields"], fields))["LOC_ID"][0] == "(whole area)"
    assert shapely.contains_xy(_geoms(wkb)[0], *data.coords.T).all()
    empty = scan.write_result(result.with_clusters([]), tmp_path / "e", formats="gpkg,shp,kml")
    counts = {name: pyogrio.read_info(empty / "result.gpkg", layer=name)["features"]
              for name, _ in pyogrio.list_layers(empty / "result.gpkg")}
    assert counts == {"clusters": 0, "locations": 110}
    assert pyogrio.read_info(empty / "shapefiles" / "clusters.shp")["features"] == 0
    assert pyogrio.read_info(empty / "shapefiles" / "locations.shp")["features"] == 110


def test_geojson_geometry_helper_holds_every_member(named_result):
    """gis.cluster_geojson_geometry: the GeoJSON (WGS84, RFC 7946) form of cluster_shape."""
    t = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    area = named_result.area
    for c in named_result.clusters:
        geo = gis.cluster_geojson_geometry(area, c)
        poly = shapely.geometry.shape(geo)
        assert geo["type"] == "Polygon" and poly.is_valid and poly.exterior.is_ccw
        lon, lat = t.transform(*area.coords[c.member_indices].T)
        assert shapely.contains_xy(poly, lon, lat).all()


def test_geojson_circles_hold_every_member_strictly_inside(tmp_path):
    """A points-in-polygon join (QGIS) never drops a cluster's farthest member, and a
    one-location cluster has an area."""
    import json

    import shapely
    from shapely.geometry import Point, shape

    import scan

    area = scan.borough_study_area("cancer")
    result = scan.circular_scan(area, n_replications=9, rng=1)
    scan.write_result(result, tmp_path / "out", formats="geojson")
    geo = json.loads((tmp_path / "out" / "clusters.geojson").read_text())
    locations = json.loads((tmp_path / "out" / "locations.geojson").read_text())
    points = {f["properties"]["id"]: Point(f["geometry"]["coordinates"])
              for f in locations["features"]}
    assert len(geo["features"]) == len(result.clusters) >= 2
    for feature in geo["features"]:
        polygon = shape(feature["geometry"])
        assert shapely.is_valid(polygon) and polygon.area > 0
        for member in feature["properties"]["members"]:
            assert polygon.contains(points[member]), member
