"""Maps for people (scan.report.cartography) and the polygon mode of scan.report.maps."""
from __future__ import annotations

import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
from shapely.geometry import Point, box

from inquiry_fixture import CLUSTER_IDS, area_names, borough_geometry, make_inquiry
from scan.errors import ScanParameterError
from scan.report import cartography as carto
from scan.report.cartography import (SIR_CLASSES, Label, MapCluster, ReportGeometry,
                                     figure_bytes, place_labels, pollutant_map, sir_class_index,
                                     sir_map)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _lightness(hex_colour: str) -> float:
    """CIE L* (0 black .. 100 white) of an sRGB colour."""
    from matplotlib.colors import to_rgb

    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
           for c in to_rgb(hex_colour)]
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y


def _texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _image(fig):
    from matplotlib.image import imread

    return imread(io.BytesIO(figure_bytes(fig, "png")))[..., :3]


def _pixel(fig, ax, x, y):
    """Row, column of the PNG pixel at data point (x, y) (the PNG is drawn at the figure's dpi)."""
    px, py = ax.transData.transform((x, y))
    height = int(round(fig.get_figheight() * fig.dpi))
    return int(round(height - py)), int(round(px))


# --- classes and palette ------------------------------------------------------------------------

@pytest.mark.parametrize("sir, k", [(0.0, 0), (0.79, 0), (0.8, 1), (1.0, 1), (1.2499, 1),
                                    (1.25, 2), (1.5, 3), (1.99, 3), (2.0, 4), (7.5, 4),
                                    (float("nan"), -1), (None, -1), (float("inf"), -1),
                                    (-1.0, -1), ("1.3", -1)])
def test_sir_classes_lower_bound_belongs_to_the_class(sir, k):
    assert sir_class_index(sir) == k


def test_classes_tile_the_positive_line():
    assert SIR_CLASSES[0].lower == 0 and SIR_CLASSES[-1].upper == math.inf
    for a, b in zip(SIR_CLASSES, SIR_CLASSES[1:]):
        assert a.upper == b.lower
    assert [c.lower for c in SIR_CLASSES[1:]] == [0.8, 1.25, 1.5, 2.0]


def test_palette_reads_in_greyscale():
    """Lightness falls strictly from class to class, by at least 8 L* units (a step a reader
    tells apart on paper), and the top class is dark."""
    lightness = [_lightness(c.colour) for c in SIR_CLASSES]
    assert all(a - b >= 8 for a, b in zip(lightness, lightness[1:])), lightness
    assert lightness[0] > 90 and lightness[-1] < 35


# --- the geometry ----------------------------------------------------------------------------------

def test_geometry_checks_its_lengths():
    with pytest.raises(ScanParameterError, match=r"parameter 'polygons' must be one polygon per "
                                                 r"id \(2\); got '1 polygons'"):
        ReportGeometry(ids=("a", "b"), polygons=(box(0, 0, 1, 1),), points=[[0, 0], [1, 1]])
    with pytest.raises(ScanParameterError, match=r"parameter 'points' must be an array of shape "
                                                 r"\(2, 2\)"):
        ReportGeometry(ids=("a", "b"), polygons=None, points=[[0, 0]])
    with pytest.raises(ScanParameterError, match=r"parameter 'names' must be one name per id"):
        ReportGeometry(ids=("a",), polygons=None, points=[[0, 0]], names=("x", "y"))


def test_geometry_labels_index_and_union():
    g = borough_geometry()
    assert g.mappable and g.ids[0] == "SYN001" and len(g.ids) == 110
    assert g.index(["SYN038", "nope", "SYN001"]) == [37, 0]
    assert g.label(37) == area_names(g.ids)[37]
    union = g.union(g.index(CLUSTER_IDS))
    # the planted cluster's five areas are adjacent: one polygon, the sum of their areas
    assert union.geom_type == "Polygon"
    assert union.area == pytest.approx(sum(g.polygons[k].area for k in g.index(CLUSTER_IDS)))
    assert not borough_geometry(crs=None).mappable
    assert borough_geometry(names=False).label(37) == "SYN038"


def test_scale_bar_lengths():
    assert carto.nice_length(8_500) == 2000
    assert carto.nice_length(400) == 100
    assert carto.nice_length(60_000) == 10_000
    assert [carto.length_label(v) for v in (250, 1000, 2500)] == ["250 m", "1 km", "2.5 km"]


# --- labels ---------------------------------------------------------------------------------------

def test_labels_fit_or_go_beside_with_a_leader():
    fig, ax = carto.new_map_figure((0, 0, 1000, 1000), width_in=4.0, below_in=0.2)
    big, small = box(0, 0, 600, 600), box(800, 800, 820, 820)
    drawn = place_labels(fig, ax, [Label("Big area", big), Label("Tiny", small),
                                   Label("Forced tiny", small, force=True)],
                         obstacles=[small])
    assert drawn == ["Big area", "Forced tiny"]
    texts = {t.get_text(): t for t in ax.texts}
    renderer = fig.canvas.get_renderer()
    inv = ax.transData.inverted()

    def data_box(t):
        ext = t.get_window_extent(renderer)
        (x0, y0), (x1, y1) = inv.transform([(ext.x0, ext.y0), (ext.x1, ext.y1)])
        return box(x0, y0, x1, y1)

    assert big.contains(data_box(texts["Big area"]))
    forced = data_box(texts["Forced tiny"])
    assert not forced.intersects(small)                      # beside the shape, not on it
    assert box(*ax.get_xlim()[:1], ax.get_ylim()[0], ax.get_xlim()[1],
               ax.get_ylim()[1]).contains(forced)            # inside the frame
    assert len(ax.lines) >= 1                                # the leader line


# --- the SIR map -----------------------------------------------------------------------------------

def _sir(inquiry):
    return {d["id"]: d["sir"] for d in inquiry["locations"]}


def test_sir_map_colours_each_area_by_its_class():
    g = borough_geometry(names=False)
    inquiry = make_inquiry()
    sir = _sir(inquiry)
    fig = sir_map(g, sir=sir, focus_ids=["SYN038"],
                  clusters=[MapCluster("Cluster 1", CLUSTER_IDS)])
    ax = fig.axes[0]
    image = _image(fig)
    from matplotlib.colors import to_rgb
    from shapely.ops import polylabel

    checked = 0
    far = g.union(g.index(CLUSTER_IDS)).buffer(300)
    renderer = fig.canvas.get_renderer()
    labels = [t.get_window_extent(renderer).expanded(1.2, 1.6) for t in ax.texts]
    for k, i in enumerate(g.ids):
        poly = g.polygons[k]
        centre = polylabel(poly, tolerance=5)
        if far.contains(centre) or poly.area < 150_000:  # away from labels; big enough to hit
            continue
        fx, fy = ax.transAxes.inverted().transform(ax.transData.transform((centre.x, centre.y)))
        if (fx > 0.8 and fy > 0.75) or (fx < 0.35 and fy < 0.12):  # north arrow, scale bar
            continue
        px, py = ax.transData.transform((centre.x, centre.y))
        if any(ext.contains(px, py) for ext in labels):
            continue
        r, c = _pixel(fig, ax, centre.x, centre.y)
        expected = np.array(to_rgb(SIR_CLASSES[sir_class_index(sir[i])].colour))
        assert np.abs(image[r, c] - expected).max() < 0.02, (i, sir[i], image[r, c], expected)
        checked += 1
    assert checked >= 30
    legend = _texts(fig)
    assert "2 or more" in legend and "significant cluster, borough-wide scan" in legend
    assert "Cluster 1" in legend and "SYN038" in legend  # no names: the id
    assert any(t.endswith(" km") for t in legend) and "N" in legend
    assert any("contains no OS data" in t for t in legend)  # the attribution


def test_withheld_areas_are_hatched_not_coloured():
    g = borough_geometry(names=False)
    sir = {i: 2.5 for i in g.ids}  # every area dark red
    fig = sir_map(g, sir=sir, withheld=["SYN100"], suppress_below=5)
    ax = fig.axes[0]
    image = _image(fig)
    from shapely.ops import polylabel

    k = g.ids.index("SYN100")
    centre = polylabel(g.polygons[k], tolerance=5)
    r, c = _pixel(fig, ax, centre.x, centre.y)
    patch = image[r - 4:r + 5, c - 4:c + 5].mean(axis=(0, 1))
    assert patch.min() > 0.6  # light (white with grey hatching), not dark red
    other = g.ids.index("SYN001")
    centre = polylabel(g.polygons[other], tolerance=5)
    r, c = _pixel(fig, ax, centre.x, centre.y)
    assert image[r, c].max() < 0.6  # dark red
    assert "not shown: fewer than 5 cases" in _texts(fig)


def test_points_mode_and_point_focus():
    g = borough_geometry(polygons=False)
    fig = sir_map(g, sir=_sir(make_inquiry()),
                  clusters=[MapCluster("Cluster 1", CLUSTER_IDS, (548_000.0, 186_000.0), 600.0)],
                  focus_point=carto.FocusPoint(548_000.0, 186_000.0, 500.0, "500 m around"))
    texts = _texts(fig)
    assert "Cluster 1" in texts and "500 m around" in texts
    assert "the place asked about" in texts
    assert figure_bytes(fig, "png")[:8] == PNG_MAGIC


def test_sir_map_without_values_still_draws_outlines():
    fig = sir_map(borough_geometry(), focus_ids=["SYN038"])
    svg = figure_bytes(fig, "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    assert "SIR: observed ÷ expected cases" not in _texts(fig)


# --- the pollutant map -----------------------------------------------------------------------------

def test_colour_range_reaches_the_uk_limit_when_it_is_near():
    values = np.linspace(20, 35, 101)
    vmin, vmax, dmin, dmax = carto.colour_range(values, 40.0)
    assert (vmin, dmin, dmax) == (20.0, 20.0, 35.0) and vmax >= 40.0
    vmin, vmax, _, _ = carto.colour_range(np.linspace(9, 12, 101), 20.0)   # PM2.5: far below
    assert vmax < 20.0


def test_pollutant_map_marks_the_limits():
    from scan.exposure.synthetic import synthetic_laei

    g = borough_geometry()
    fig = pollutant_map(g, pollutant="NO2", grid=synthetic_laei()["NO2"], uk_limit=40.0,
                        who_guideline=10.0, focus_ids=["SYN038"], source="test grid")
    texts = _texts(fig)
    assert "UK limit 40" in texts                                     # on the colour bar
    assert any("WHO guideline (10): every place on this map is above it" in t for t in texts)
    assert any("Pollution: test grid" in t for t in texts)
    assert any(t.startswith("NO₂, annual mean") for t in texts)


def test_pollutant_map_from_values_per_area():
    g = borough_geometry()
    values = {i: 10.0 + k * 0.01 for k, i in enumerate(g.ids)}   # PM2.5-like, 10 to 11.1
    fig = pollutant_map(g, pollutant="PM25", values=values, uk_limit=20.0, who_guideline=5.0)
    texts = _texts(fig)
    assert any("UK limit (20): every place on this map is below it" in t for t in texts)
    assert any("WHO guideline (5): every place on this map is above it" in t for t in texts)


# --- scan spatial's map with polygons --------------------------------------------------------------

def _fake_result(names=True):
    from scan.datasets import load_borough

    b = load_borough()
    ids = np.array(b.areas["id"])
    area = SimpleNamespace(ids=ids, coords=b.areas[["x", "y"]].to_numpy(),
                           names=np.array(area_names(ids)) if names else None,
                           crs="EPSG:27700", coordinates="cartesian")
    clusters = [SimpleNamespace(rank=1, members=CLUSTER_IDS, p_value=0.001, center_x=548_000.0,
                                center_y=186_000.0, radius=700.0),
                SimpleNamespace(rank=2, members=("SYN090", "SYN091"), p_value=0.5,
                                center_x=547_000.0, center_y=183_000.0, radius=300.0)]
    return SimpleNamespace(area=area, clusters=clusters, analysis="purely spatial",
                           parameters={"model": "poisson"}, significant=lambda: clusters[:1]), b


def test_write_map_with_polygons(tmp_path):
    from matplotlib.image import imread

    from scan.exposure.synthetic import synthetic_laei
    from scan.report.maps import write_map

    result, b = _fake_result()
    path = write_map(result, tmp_path / "map.png", grid=synthetic_laei(), outline=b.outline,
                     polygons=b.polygons, attribution=["Boundaries: test"])
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed away
    image = imread(path)[..., :3]
    assert image.std() > 0.1
    plain = write_map(result, tmp_path / "plain.png", outline=b.outline, polygons=b.polygons)
    assert plain.stat().st_size > 20_000


def test_write_map_polygons_must_match_locations(tmp_path):
    from scan.report.maps import write_map

    result, b = _fake_result()
    with pytest.raises(ScanParameterError, match=r"parameter 'polygons' must be one polygon per "
                                                 r"location \(110\); got '3 polygons'"):
        write_map(result, tmp_path / "bad.png", polygons=b.polygons[:3])


def test_write_map_polygon_mode_draws_the_cluster_union(monkeypatch, tmp_path):
    """The cluster is drawn as the union of its members' polygons (captured at draw time)."""
    from scan.report import maps

    drawn = []
    original = carto.draw_shapes

    def spy(ax, geoms, **kw):
        drawn.append((list(geoms), kw))
        return original(ax, geoms, **kw)

    monkeypatch.setattr(carto, "draw_shapes", spy)
    result, b = _fake_result(names=False)
    maps.write_map(result, tmp_path / "m.png", polygons=b.polygons)
    clusters = [g for geoms, kw in drawn if kw.get("zorder") == 11 for g in geoms]
    assert len(clusters) == 1  # rank 2 is not significant and not the most likely
    g = borough_geometry()
    members = [g.polygons[k] for k in g.index(CLUSTER_IDS)]
    assert clusters[0].area == pytest.approx(sum(p.area for p in members))
    assert all(clusters[0].buffer(1e-6).contains(p) for p in members)
    assert Point(548_000, 186_000).within(clusters[0].buffer(500))
