"""GeoPandas and pandas interop (scan.geo): from_geodataframe in any CRS, points or polygons;
to_geodataframe; the ImportError without GeoPandas; the notebook view (_repr_html_)."""
from __future__ import annotations

import dataclasses
import logging
import sys

import numpy as np
import pytest
import shapely

import scan
from scan.datasets import load_borough
from scan.errors import ScanInputError, ScanParameterError

gpd = pytest.importorskip("geopandas")


@pytest.fixture(scope="module")
def borough():
    return load_borough()


@pytest.fixture(scope="module")
def polygons_bng(borough):
    """The borough's areas as a GeoDataFrame of polygons in British National Grid."""
    df = borough.areas[["id", "population", "cancer"]].copy()
    df["name"] = ["Area " + i for i in df["id"]]
    return gpd.GeoDataFrame(df, geometry=list(borough.polygons), crs="EPSG:27700")


@pytest.fixture(scope="module")
def points_bng(borough):
    return gpd.GeoSeries(gpd.points_from_xy(borough.areas.x, borough.areas.y), crs="EPSG:27700")


@pytest.fixture(scope="module")
def result(polygons_bng, points_bng):
    area = scan.from_geodataframe(polygons_bng, cases="cancer", population="population",
                                  centroids=points_bng)
    return scan.circular_scan(area, n_replications=19, rng=3)


# --- from_geodataframe --------------------------------------------------------------------------

def test_points_give_the_same_scan_as_the_arrays(borough, points_bng):
    gdf = gpd.GeoDataFrame(borough.areas[["id", "population", "cancer"]], geometry=points_bng)
    area = scan.from_geodataframe(gdf, cases="cancer", population="population")
    ref = scan.borough_study_area("cancer", adjust_for_age_sex=False)
    assert area.crs == "EPSG:27700" and area.coordinates == "cartesian"
    assert np.array_equal(area.coords, ref.coords) and np.array_equal(area.ids, ref.ids)
    a = scan.circular_scan(area, n_replications=9, rng=1)
    b = scan.circular_scan(ref, n_replications=9, rng=1)
    assert a.statistic == b.statistic
    assert [c.members for c in a.clusters] == [c.members for c in b.clusters]
    assert np.array_equal(a.null_distribution, b.null_distribution)


def test_polygons_without_centroids_use_polygon_centroids_with_a_note(polygons_bng, caplog):
    with caplog.at_level(logging.WARNING, logger="scan.geo"):
        area = scan.from_geodataframe(polygons_bng, cases="cancer", population="population")
    assert "each location is its polygon's geometric centroid; pass centroids=" in caplog.text
    c = shapely.centroid(np.asarray(polygons_bng.geometry.values))
    assert np.allclose(area.coords, np.column_stack([shapely.get_x(c), shapely.get_y(c)]),
                       rtol=0, atol=1e-6)
    assert area.source == "GeoDataFrame (polygon centroids)"
    assert list(area.names[:2]) == ["Area SYN001", "Area SYN002"]    # the name column


def test_given_centroids_in_another_crs(polygons_bng, points_bng, borough, caplog):
    with caplog.at_level(logging.WARNING, logger="scan.geo"):
        area = scan.from_geodataframe(polygons_bng, cases="cancer", population="population",
                                      centroids=points_bng.to_crs("EPSG:4326"))
    assert "geometric centroid" not in caplog.text
    assert area.source == "GeoDataFrame (given centroids)"
    # a pyproj round trip BNG -> WGS84 -> BNG (Helmert both ways) moves points by < 1 cm
    assert np.abs(area.coords - borough.areas[["x", "y"]].to_numpy()).max() < 0.01


def test_given_centroids_are_matched_on_the_ids(polygons_bng, points_bng, borough):
    """Centroids indexed by LSOA code, in another order, match the frame's ids."""
    by_id = gpd.GeoSeries(points_bng.values, index=borough.areas["id"].to_numpy(),
                          crs="EPSG:27700").iloc[::-1]
    area = scan.from_geodataframe(polygons_bng, cases="cancer", population="population",
                                  centroids=by_id)
    assert np.array_equal(area.coords, borough.areas[["x", "y"]].to_numpy())


def test_centroids_as_two_columns(polygons_bng, borough):
    gdf = polygons_bng.assign(px=borough.areas.x.to_numpy(), py=borough.areas.y.to_numpy())
    area = scan.from_geodataframe(gdf, cases="cancer", population="population",
                                  centroids=("px", "py"))
    assert np.array_equal(area.coords, borough.areas[["x", "y"]].to_numpy())


def test_longitude_latitude_is_reprojected_or_kept(polygons_bng, points_bng, borough):
    wgs = polygons_bng.to_crs("EPSG:4326")
    auto = scan.from_geodataframe(wgs, cases="cancer", population="population",
                                  centroids=points_bng)
    assert auto.crs == "EPSG:27700" and auto.coordinates == "cartesian"
    kept = scan.from_geodataframe(wgs, cases="cancer", population="population",
                                  centroids=points_bng, project_to=None)
    assert kept.coordinates == "latlong" and kept.crs == "EPSG:4326"
    assert (np.abs(kept.coords[:, 0]) < 1).all() and (kept.coords[:, 1] > 51).all()
    utm = scan.from_geodataframe(wgs, cases="cancer", population="population",
                                 centroids=points_bng, project_to="EPSG:32631")
    assert utm.crs == "EPSG:32631"
    lon = np.array([2.30, 2.40])
    assert scan.geo.auto_projected_crs(lon, np.array([48.8, 48.9])) == "EPSG:32631"   # Paris
    assert scan.geo.auto_projected_crs(np.array([-0.1, 0.1]), np.array([51.4, 51.6])) \
        == "EPSG:27700"                                                                 # London


def test_ids_names_and_strata_columns(polygons_bng, points_bng, borough):
    gdf = polygons_bng.copy()
    for s in ("m_65_plus", "f_65_plus"):
        gdf[f"pop_{s}"] = borough.areas[f"pop_{s}"].to_numpy()
        gdf[f"cancer_{s}"] = borough.areas[f"cancer_{s}"].to_numpy()
    gdf = gdf.rename(columns={"id": "LSOA11CD", "name": "LSOA11NM"})
    area = scan.from_geodataframe(
        gdf, cases=gdf["cancer_m_65_plus"] + gdf["cancer_f_65_plus"], population=None,
        id="LSOA11CD", name="LSOA11NM", centroids=points_bng,
        case_strata=["cancer_m_65_plus", "cancer_f_65_plus"],
        population_strata=["pop_m_65_plus", "pop_f_65_plus"])
    assert area.ids[0] == "SYN001" and area.names[0] == "Area SYN001"
    assert area.expected_kind == "internal-standardised"
    assert area.strata_names == ("cancer_m_65_plus", "cancer_f_65_plus")


@pytest.mark.parametrize("change,error,match", [
    (lambda g: g.set_crs(None, allow_override=True), ScanParameterError,
     r"parameter 'crs' must be set on the GeoDataFrame or passed as crs=; got None\. "
     r"gdf = gdf.set_crs\('EPSG:27700'\)"),
    (lambda g: g.assign(geometry=[None, None] + list(g.geometry[2:])), ScanInputError,
     r"row 1 \(id 'SYN001'\) has no geometry"),
    (lambda g: g.assign(geometry=[shapely.LineString([(0, 0), (1, 1)])] + list(g.geometry[1:])),
     ScanInputError, r"row 1 \(id 'SYN001'\) is a LineString; scan needs points or polygons"),
    (lambda g: g.assign(geometry=[shapely.Point(548000, 186000)] + list(g.geometry[1:])),
     ScanInputError, r"the geometries mix points and polygons"),
])
def test_bad_frames_are_refused(polygons_bng, change, error, match):
    with pytest.raises(error, match=match):
        scan.from_geodataframe(change(polygons_bng.copy()), cases="cancer",
                               population="population")


def test_bad_options_are_refused(polygons_bng, points_bng):
    with pytest.raises(ScanParameterError, match=r"parameter 'cases' must be a column of the "
                                                 r"GeoDataFrame \(id, population, cancer"):
        scan.from_geodataframe(polygons_bng, cases="cases", population="population")
    with pytest.raises(ScanParameterError, match=r"parameter 'project_to' must be a projected "
                                                 r"CRS; got 'EPSG:4326'"):
        scan.from_geodataframe(polygons_bng.to_crs("EPSG:4326"), cases="cancer",
                               population="population", centroids=points_bng,
                               project_to="EPSG:4326")
    with pytest.raises(ScanParameterError, match=r"parameter 'gdf' must be a GeoDataFrame"):
        scan.from_geodataframe(polygons_bng.drop(columns="geometry").to_dict(), cases="cancer")
    with pytest.raises(ScanParameterError, match=r"parameter 'centroids' must be one point per "
                                                 r"row \(110\); got '5 points'"):
        scan.from_geodataframe(polygons_bng, cases="cancer", population="population",
                               centroids=points_bng.iloc[:5].reset_index(drop=True))


# --- to_geodataframe ----------------------------------------------------------------------------

def test_clusters_frame(result):
    gdf = result.to_geodataframe()
    assert isinstance(gdf, gpd.GeoDataFrame) and gdf.crs.to_epsg() == 27700
    assert list(gdf["rank"]) == [c.rank for c in result.clusters]
    assert gdf.geometry.is_valid.all() and (gdf.geometry.area > 0).all()
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*result.area.coords.T), crs=27700)
    pts["id"] = result.area.ids
    joined = gpd.sjoin(pts, gdf[["rank", "geometry"]], predicate="within")
    for c in result.clusters:                     # a points-in-polygon join keeps every member
        assert set(c.members) <= set(joined.loc[joined["rank"] == c.rank, "id"])


def test_areas_and_locations_frames(result, polygons_bng):
    areas = result.to_geodataframe("areas", polygons=polygons_bng)
    assert (areas.geom_type == "MultiPolygon").all() and areas.geometry.is_valid.all()
    first = result.clusters[0]
    union = shapely.union_all(polygons_bng.geometry.values[first.member_indices])
    assert areas.geometry.iloc[0].symmetric_difference(union).area < 1e-6 * union.area
    locs = result.to_geodataframe("locations")
    assert len(locs) == 110 and (locs.geom_type == "Point").all()
    assert list(locs["cluster"]) == list(result.locations_dataframe()["cluster"])
    # polygons in another CRS and another row order: matched on id, reprojected
    shuffled = polygons_bng.to_crs("EPSG:4326").iloc[::-1]
    polys = result.to_geodataframe("locations", polygons=shuffled)
    assert polys.geometry.iloc[0].hausdorff_distance(polygons_bng.geometry.iloc[0]) < 0.01
    with pytest.raises(ScanParameterError, match=r"parameter 'polygons' must be the locations' "
                                                 r"polygons for what='areas'"):
        result.to_geodataframe("areas")
    with pytest.raises(ScanParameterError, match=r"parameter 'what' must be one of 'clusters', "
                                                 r"'areas', 'locations'"):
        result.to_geodataframe("circles")


def test_write_accepts_a_geodataframe_of_polygons(result, polygons_bng, tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    out = result.write(tmp_path / "out", formats="gpkg",
                       polygons=polygons_bng.to_crs("EPSG:4326"))
    info = pyogrio.read_info(out / "result.gpkg", layer="cluster_areas")
    assert info["crs"] == "EPSG:27700" and info["features"] == len(result.clusters)


def test_without_geopandas_a_clear_import_error(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "geopandas", None)
    with pytest.raises(ImportError, match=r"needs GeoPandas, an optional extra of scan: "
                                          r"install it with `pip install scan\[geo\]`"):
        result.to_geodataframe()
    frame = result.clusters_frame()                 # plain pandas always
    assert list(frame["rank"]) == [c.rank for c in result.clusters]
    assert len(result.locations_dataframe()) == 110


# --- the notebook view --------------------------------------------------------------------------

def test_repr_html_table_and_inline_map(result):
    lxml_html = pytest.importorskip("lxml.html")
    html = result._repr_html_()
    doc = lxml_html.fromstring(html)
    rows = doc.findall(".//tbody/tr")
    assert len(rows) == min(len(result.clusters), scan.geo.MAX_ROWS)
    first = [td.text_content() for td in rows[0].findall("td")]
    c = result.clusters[0]
    assert first[0] == "1" and first[1] == f"{c.center} (Area {c.center})"
    assert first[3] == f"{c.observed:g}" and first[-1] == f"{c.p_value:.3g}"
    assert "<svg" in html and html.count("<polygon") == min(len(result.clusters),
                                                             scan.geo.MAX_ROWS)
    for forbidden in ("<script", "src=", "href=", "http://www.w3.org/1999"):
        assert forbidden not in html                # self-contained: nothing fetched
    assert html.count("<circle") == result.area.n_locations


def test_repr_html_escapes_and_handles_no_cluster(result):
    area = dataclasses.replace(result.area,
                               names=np.array(["<b>x</b> & y"] * result.area.n_locations))
    html = dataclasses.replace(result, area=area)._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt; &amp; y" in html
    empty = result.with_clusters([])._repr_html_()
    assert "No cluster found" in empty and "<svg" in empty


def test_repr_html_spacetime_has_time_windows():
    r = scan.spacetime_scan(scan.borough_spacetime("flu_like", 12), n_replications=9, rng=2)
    html = r._repr_html_()
    assert "time window" in html and f"{r.clusters[0].start} to {r.clusters[0].end}" in html
