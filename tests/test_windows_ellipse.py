"""SaTScan's elliptic windows: offsets, transform, order, caps, the penalty, the choice of each
centre's window, what clusters report, every output, the options; against the brute-force
reference (tests/reference.py) and, where a build is present, SaTScan itself."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import reference
from conftest import random_dataset

import scan
from scan.errors import ScanParameterError
from scan.spatial import model_arrays
from scan.windows import (Windows, best_row_per_centre, build_windows, ellipse_offsets,
                          non_compactness_penalty, satscan_degrees, window_geometry)

SHAPES_SMALL = (1.0, 2.5)          # a shape of exactly 1 is allowed (circles again)
ANGLES_SMALL = (3, 2)


def _rows(w, i):
    return w.neighbors[w.offsets[i]:w.offsets[i + 1]].tolist()


# --- offsets, angles, penalty (spec §1.3, §2.2) -------------------------------------------------

def test_default_offsets_are_satscans_46_in_order_with_reported_degrees():
    shape, theta, group = ellipse_offsets((1.5, 2, 3, 4, 5), (4, 6, 9, 12, 15))
    assert len(shape) == 47 and shape[0] == 1 and theta[0] == 0 and group[0] == 0
    degrees = [satscan_degrees(t) for t in theta[1:]]
    table = {1.5: [0, 45, 90, -45], 2: [0, 30, 60, 90, -60, -30],
             3: [0, 20, 40, 60, 80, -80, -60, -40, -20],
             4: [0, 15, 30, 45, 60, 75, 90, -75, -60, -45, -30, -15],
             5: [0, 12, 24, 36, 48, 60, 72, 84, -84, -72, -60, -48, -36, -24, -12]}
    expected = [(s, d) for s, ds in table.items() for d in ds]
    assert [(float(s), round(d, 9)) for s, d in zip(shape[1:], degrees)] == \
        [(float(s), float(d)) for s, d in expected]
    assert satscan_degrees(math.pi / 2) == 90.0        # stays 90, not -90
    assert theta[2] == math.pi * 1 / 4                  # pi k / n computed as (pi k) / n
    assert group.tolist() == [0] + [1] * 4 + [2] * 6 + [3] * 9 + [4] * 12 + [5] * 15


def test_penalty_table():
    s = np.array([1, 1.5, 2, 3, 4, 5])
    np.testing.assert_allclose(non_compactness_penalty(s, "strong"),
                               [1, 0.96, 0.8888889, 0.75, 0.64, 0.5555556], atol=5e-8)
    np.testing.assert_allclose(non_compactness_penalty(s, "medium"),
                               [1, 0.9797959, 0.9428090, 0.8660254, 0.8, 0.7453560], atol=5e-8)
    assert (non_compactness_penalty(s, "none") == 1).all()


# --- transform, order, caps (spec §1.4-1.6) ----------------------------------------------------

def _tiny(points, weights):
    coords = np.array(points, dtype=float)
    return coords, np.array(weights, dtype=float)


def test_transform_orders_along_the_major_axis():
    """§1.4: centre (0,0), shape 2: angle 0 orders A=(3,0) (1.5) before B=(0,2) (2), angle 90
    orders B (1) before A (3); the circle B (2) before A (3)."""
    coords, weight = _tiny([(0, 0), (3, 0), (0, 2), (100, 100)], [1, 1, 1, 100])
    w = build_windows(coords, weight, shape="ellipse", ellipse_shapes=(2,), ellipse_angles=(2,))
    assert w.rows_per_centre == 3 and w.n_rows == 12
    assert _rows(w, 0) == [0, 2, 1]          # circle
    assert _rows(w, 1) == [0, 1, 2]          # shape 2, 0 degrees
    assert _rows(w, 2) == [0, 2, 1]          # shape 2, 90 degrees
    assert w.angle[:3].tolist() == [0.0, 0.0, 90.0] and w.shape[:3].tolist() == [1, 2, 2]
    assert (w.centre[:3] == 0).all() and (w.centre[3:6] == 1).all()


def test_exact_ties_go_to_the_lesser_coordinates():
    """§1.5: at equal distance the lesser x, then the lesser y, comes first (circle and ellipse
    alike)."""
    coords, weight = _tiny([(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (50, 50)],
                           [1, 1, 1, 1, 1, 100])
    w = build_windows(coords, weight, shape="ellipse", ellipse_shapes=(2,), ellipse_angles=(1,))
    assert _rows(w, 0) == [0, 3, 4, 2, 1]    # circle: (-1,0), (0,-1), (0,1), (1,0)
    assert _rows(w, 1) == [0, 3, 1, 4, 2]    # 0 degrees: x/2 ties (-1,0),(1,0) then y ties


def test_max_radius_caps_the_semi_minor_axis():
    """§1.6: max distance 1, shape 2, angle 0: (1.9, 0) has d_e 0.95 and is in, (0, 1.05) is
    out; the circle holds neither."""
    coords, weight = _tiny([(0, 0), (1.9, 0), (0, 1.05), (60, 60)], [1, 1, 1, 100])
    w = build_windows(coords, weight, max_radius=1.0, shape="ellipse", ellipse_shapes=(2,),
                      ellipse_angles=(1,))
    assert _rows(w, 0) == [0]
    assert _rows(w, 1) == [0, 1]


@pytest.mark.parametrize("weights,k", [((10, 20, 30, 40), 2), ((20, 30, 50), 2)])
def test_population_cap_is_inclusive_for_each_ellipse(weights, k):
    """§1.6: cumulative population <= 50% of the total, equality allowed, per ellipse order."""
    coords = np.array([(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0)][:len(weights)])
    w = build_windows(coords, np.array(weights, float), shape="ellipse", ellipse_shapes=(3,),
                      ellipse_angles=(2,))
    assert len(_rows(w, 0)) == k and len(_rows(w, 1)) == k


# --- against the reference: windows ------------------------------------------------------------

@pytest.mark.parametrize("seed", range(24))
def test_windows_equal_reference_membership_and_order(seed):
    area = random_dataset(seed)          # every third seed: integer coordinates, many ties
    fraction = [0.5, 0.25, 0.1][seed % 3]
    radius = 30.0 if seed % 4 == 1 else (2.0 if seed % 4 == 3 else None)
    shapes, angles = ((1.5, 2, 3, 4, 5), (4, 6, 9, 12, 15)) if seed % 2 else \
        (SHAPES_SMALL, ANGLES_SMALL)
    w = build_windows(area.coords, area.population, max_population_fraction=fraction,
                      max_radius=radius, shape="ellipse", ellipse_shapes=shapes,
                      ellipse_angles=angles)
    ref = reference.elliptic_windows(area.coords, area.population, fraction, radius, shapes,
                                     angles)
    assert w.n_rows == len(ref)
    for r, (centre, s, theta, _, members) in enumerate(ref):
        assert _rows(w, r) == members, r
        assert w.centre[r] == centre and w.shape[r] == s
        assert w.angle[r] == pytest.approx(reference.satscan_degrees(theta), abs=1e-12)


def test_the_circle_rows_are_the_circular_windows():
    area = random_dataset(9, n=20)
    circles = build_windows(area.coords, area.population)
    w = build_windows(area.coords, area.population, shape="ellipse")
    for i in range(area.n_locations):
        assert _rows(w, i * 47) == _rows(circles, i)


# --- against the reference: clusters through circular_scan -------------------------------------

CASES = [(seed, model, penalty) for model in ("poisson", "bernoulli")
         for penalty in ("none", "medium", "strong") for seed in range(10)]


@pytest.mark.parametrize("seed,model,penalty", CASES)
def test_clusters_equal_reference(seed, model, penalty):
    area = random_dataset(200 + seed, model)
    direction = ["high", "low", "both"][seed % 3]
    fraction = [0.5, 0.25][seed % 2]
    shapes, angles = ((1.5, 2, 3, 4, 5), (4, 6, 9, 12, 15)) if seed % 2 else \
        (SHAPES_SMALL, ANGLES_SMALL)
    result = scan.circular_scan(area, model=model, direction=direction, n_replications=0,
                                max_population_fraction=fraction, shape="ellipse",
                                ellipse_shapes=shapes, ellipse_angles=angles,
                                non_compactness_penalty=penalty)
    weights, _, _ = model_arrays(area, model)
    expected = reference.elliptic_scan(area.coords, area.cases, weights, model, direction,
                                       shapes, angles, penalty, fraction, ids=area.ids)
    assert len(result.clusters) == len(expected)
    for got, (llr, t, centre, s, degrees, members) in zip(result.clusters, expected):
        assert got.llr == pytest.approx(llr, rel=1e-9, abs=0)
        assert got.test_statistic == pytest.approx(t, rel=1e-9, abs=0)
        assert got.center_index == centre
        assert sorted(got.member_indices.tolist()) == members
        assert got.shape == s and got.angle == pytest.approx(degrees, abs=1e-9)
        assert got.semi_major == pytest.approx(got.semi_minor * s, rel=1e-12)
        assert got.radius == got.semi_minor


def test_circle_wins_a_tie_with_an_ellipse_holding_the_same_locations():
    """§1.7: a circle and an ellipse with the same locations have the same LLR; SaTScan
    reports the circle."""
    coords = np.array([(0.0, 0), (1, 0), (2, 0), (0, 30), (30, 30), (30, 0), (-30, 0)])
    population = np.full(7, 100.0)
    cases = np.array([30.0, 30, 30, 5, 5, 5, 5])
    area = scan.study_area([f"L{i}" for i in range(7)], coords[:, 0], coords[:, 1], cases,
                           population, crs=None)
    for penalty in ("none", "medium"):
        result = scan.circular_scan(area, n_replications=0, shape="ellipse",
                                    non_compactness_penalty=penalty)
        top = result.most_likely
        assert sorted(top.members) == ["L0", "L1", "L2"]
        assert top.shape == 1 and top.angle == 0


def _two_rows(stat, size, penalised, rule="spatial", shapes=(2,)):
    w = Windows(offsets=np.zeros(len(stat) + 1, dtype=np.int64),
                neighbors=np.zeros(0, dtype=np.uint16), max_population_fraction=0.5,
                max_radius=None, ellipse_shapes=shapes, ellipse_angles=(1,) * len(shapes))
    return best_row_per_centre(w, np.array(stat), np.array(size), penalised=penalised,
                               rule=rule)


def test_penalty_decides_between_circle_and_ellipse():
    """§2.3: a circle with LLR 9.5 against a shape-2 ellipse with LLR 10: medium penalty
    T = 9.428 < 9.5 keeps the circle; without a penalty the ellipse wins; strong needs an
    ellipse LLR above 10.6875."""
    med = float(non_compactness_penalty(2, "medium"))
    strong = float(non_compactness_penalty(2, "strong"))
    assert _two_rows([9.5, 10 * med], [3, 3], True).tolist() == [0]
    assert _two_rows([9.5, 10.0], [3, 3], False).tolist() == [1]
    assert _two_rows([9.5, 10.6 * strong], [3, 3], True).tolist() == [0]
    assert _two_rows([9.5, 10.7 * strong], [3, 3], True).tolist() == [1]


def test_a_shape_must_beat_the_best_by_more_than_1e9():
    assert _two_rows([5.0, 5.0 + 5e-10], [3, 3], True).tolist() == [0]
    assert _two_rows([5.0, 5.0 + 2e-9], [3, 3], True).tolist() == [1]
    assert _two_rows([5.0, 5.0 + 5e-10], [3, 3], False).tolist() == [1]   # unpenalised: strict


def test_retrospective_spacetime_rule_prefers_fewer_locations_on_equal_statistics():
    assert _two_rows([5.0, 5.0], [4, 3], True, rule="spacetime").tolist() == [1]
    assert _two_rows([5.0, 5.0], [3, 3], True, rule="spacetime").tolist() == [0]
    assert _two_rows([5.0, 5.0 + 5e-10], [3, 3], True, rule="spacetime").tolist() == [1]


def test_reported_axes_follow_satscan():
    """§1.8: shape 2 at 30 degrees whose farthest member has d_e 2.5: E_MINOR 2.5, E_MAJOR 5."""
    theta = math.radians(30)
    u, v = np.array([math.cos(theta), math.sin(theta)]), np.array([-math.sin(theta),
                                                                   math.cos(theta)])
    coords = np.array([[10.0, 20.0], [10.0, 20.0] + 4.0 * u, [10.0, 20.0] + 1.0 * v])
    w = Windows(offsets=np.array([0, 3]), neighbors=np.array([0, 1, 2], dtype=np.uint16),
                max_population_fraction=0.5, max_radius=None, shape=np.array([2.0]),
                angle=np.array([30.0]), ellipse_shapes=(2,), ellipse_angles=(6,))
    g = window_geometry(w, 0, coords, "cartesian", (10.0, 20.0), np.array([0, 1, 2]))
    assert g["semi_minor"] == pytest.approx(2.0) and g["semi_major"] == pytest.approx(4.0)
    coords[2] = [10.0, 20.0] + 2.5 * v
    g = window_geometry(w, 0, coords, "cartesian", (10.0, 20.0), np.array([0, 1, 2]))
    assert (g["semi_minor"], g["semi_major"], g["radius"]) == pytest.approx((2.5, 5.0, 2.5))


# --- Monte Carlo: the penalised statistic ------------------------------------------------------

def test_replicates_use_the_penalised_statistic():
    """The null problem carries each row's penalty, and the replicate maxima are the maxima
    of LLR x penalty over every row (checked against the reference on the drawn data)."""
    from scan import _kernels as K
    from scan.spatial import SpatialAnalysis

    area = random_dataset(31, n=14)
    w = build_windows(area.coords, area.expected, shape="ellipse", ellipse_shapes=(2, 4),
                      ellipse_angles=(3, 2))
    analysis = SpatialAnalysis(data=area, model=scan.models.get("poisson", "spatial"),
                               direction="high", min_cases=2, scale=w.penalty("strong"))
    problem = analysis.null_problem(w, 7)
    np.testing.assert_array_equal(problem.scale, non_compactness_penalty(w.shape, "strong"))
    rng = np.random.default_rng(3)
    draws = np.ascontiguousarray(rng.multinomial(int(area.total_cases),
                                                 area.expected / area.expected.sum(),
                                                 size=16).T, dtype=np.int32)
    out = np.zeros(16)
    C = float(area.total_cases)
    K.block_maxima(w.offsets, w.neighbors, area.expected, draws, C, C, K.POISSON, K.HIGH, 2,
                   problem.scale, out)
    rows = reference.elliptic_windows(area.coords, area.expected, 0.5, None, (2, 4), (3, 2))
    for b in range(16):
        want = 0.0
        for _, s, _, _, members in rows:
            c = w_ = 0.0
            for j in members:
                c += draws[j, b]
                w_ += area.expected[j]
                want = max(want, reference.window_llr(c, w_, C, C, "poisson", "high")
                           * reference.penalty(s, "strong"))
        assert out[b] == pytest.approx(want, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("penalty", ["none", "medium", "strong"])
def test_null_calibration(penalty):
    """Under the null the test has its size.  200 null data sets of 30 locations, 49
    replications each: p <= 0.05 means a rank of 1 or 2 among 50, so the size is 2/50 = 0.04;
    the binomial 99.9% band for 200 trials at 4% is 1-18 rejections."""
    rng = np.random.default_rng(11)
    x, y = rng.uniform(0, 10, 30), rng.uniform(0, 10, 30)
    population = rng.integers(100, 500, 30).astype(float)
    rejections = 0
    for k in range(200):
        cases = rng.multinomial(60, population / population.sum()).astype(float)
        area = scan.study_area([f"L{i}" for i in range(30)], x, y, cases, population,
                               crs=None)
        result = scan.circular_scan(area, n_replications=49, rng=k, shape="ellipse",
                                    ellipse_shapes=(2, 4), ellipse_angles=(4, 6),
                                    non_compactness_penalty=penalty)
        rejections += result.p_value <= 0.05
    assert 1 <= rejections <= 18, rejections


# --- space-time ----------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["poisson", "permutation"])
@pytest.mark.parametrize("analysis", ["retrospective", "prospective"])
@pytest.mark.parametrize("seed", [1, 2, 4, 5])
def test_spacetime_ellipses_equal_reference(seed, analysis, model):
    """The most likely cylinder over circles and penalised ellipses equals the reference's
    (continuous coordinates: no exact ties between rows)."""
    import reference_spacetime as rst
    from test_spacetime import random_spacetime

    data = random_spacetime(seed, with_population=model == "poisson")
    result = scan.spacetime_scan(data, model=model, analysis=analysis, n_replications=0,
                                 shape="ellipse", ellipse_shapes=(2, 3), ellipse_angles=(4, 3),
                                 non_compactness_penalty="medium")
    table = data.expected if model == "poisson" else rst.permutation_expected(data.cases)
    max_len = result.parameters["max_temporal_intervals"]
    wins = reference.elliptic_windows(data.coords, table.sum(axis=1), 0.5, None, (2, 3), (4, 3))
    best = rst.best_per_centre([r[4] for r in wins], np.asarray(data.cases), table, 1, max_len,
                               analysis == "prospective")
    stat = [best[r][0] * reference.penalty(wins[r][1], "medium") for r in range(len(wins))]
    top = max(range(len(wins)), key=lambda r: stat[r])
    got = result.most_likely
    assert got.test_statistic == pytest.approx(stat[top], rel=1e-9)
    assert got.llr == pytest.approx(best[top][0], rel=1e-9)
    assert sorted(got.member_indices.tolist()) == sorted(wins[top][4][:best[top][1]])
    assert got.shape == wins[top][1]
    assert got.start == str(data.interval_starts[best[top][2]])


# --- options and their messages -----------------------------------------------------------------

def test_latlong_is_refused_with_the_fix():
    area = random_dataset(4, coordinates="latlong")
    with pytest.raises(ScanParameterError, match=r"parameter 'shape' must be "
                       r"'circle' for latitude/longitude coordinates.*Cartesian.*project"):
        scan.circular_scan(area, shape="ellipse", n_replications=0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(ellipse_shapes=(2, 3)), r"'ellipse_angles' \(--ellipse-angles\) must be one number "
                                  r"of angles per ellipse shape \(2 shapes\)"),
    (dict(ellipse_shapes=(0.5,), ellipse_angles=(3,)),
     r"'ellipse_shapes' \(--ellipse-shapes\) must be 1 to 10 numbers, each >= 1"),
    (dict(ellipse_shapes=(2,) * 11, ellipse_angles=(1,) * 11), r"'ellipse_shapes'.*1 to 10"),
    (dict(ellipse_angles=(4, 6, 9, 12, 0)), r"'ellipse_angles'.*each >= 1"),
    (dict(ellipse_angles=(4, 6, 9, 12, 2.5)), r"'ellipse_angles'.*whole numbers"),
    (dict(non_compactness_penalty="harsh"), r"'non_compactness_penalty'.*'none', 'medium', "
                                            r"'strong'"),
    (dict(shape="square"), r"'shape'.*'circle', 'ellipse'"),
])
def test_bad_ellipse_settings_are_refused(kwargs, match):
    area = random_dataset(1)
    with pytest.raises(ScanParameterError, match=match):
        scan.circular_scan(area, shape=kwargs.pop("shape", "ellipse"), n_replications=0,
                           **kwargs)


def test_settings_accept_satscan_style_strings():
    area = random_dataset(2)
    a = scan.circular_scan(area, shape="ellipse", ellipse_shapes="1.5,2",
                           ellipse_angles="4 6", n_replications=0)
    b = scan.circular_scan(area, shape="ellipse", ellipse_shapes=(1.5, 2),
                           ellipse_angles=(4, 6), n_replications=0)
    assert a.parameters["ellipse_shapes"] == [1.5, 2.0] == b.parameters["ellipse_shapes"]
    assert a.statistic == b.statistic


def test_circles_are_unchanged_by_the_ellipse_settings():
    area = random_dataset(5)
    a = scan.circular_scan(area, n_replications=19, rng=1)
    b = scan.circular_scan(area, n_replications=19, rng=1, ellipse_shapes=(3,),
                           ellipse_angles=(2,), non_compactness_penalty="strong")
    assert a.to_json_dict() == b.to_json_dict()
    assert "shape" not in a.parameters and a.most_likely.semi_minor is None


# --- outputs -------------------------------------------------------------------------------------

def _elliptic_result():
    area = scan.borough_study_area("cancer")
    return scan.circular_scan(area, n_replications=19, rng=3, shape="ellipse")


def test_every_output_draws_the_ellipse(tmp_path):
    import pyproj

    result = _elliptic_result()
    top = result.most_likely
    assert top.shape > 1
    result.write(tmp_path / "out")
    geo = json.loads((tmp_path / "out" / "clusters.geojson").read_text())
    props = geo["features"][0]["properties"]
    assert props["shape"] == top.shape and props["angle"] == top.angle
    assert props["semi_minor"] == pytest.approx(top.semi_minor)
    ring = np.array(geo["features"][0]["geometry"]["coordinates"][0])
    back = pyproj.Transformer.from_crs("EPSG:4326", result.area.crs, always_xy=True)
    ex, ey = back.transform(ring[:, 0], ring[:, 1])
    theta = math.radians(top.angle)
    dx, dy = ex - top.center_x, ey - top.center_y
    along = dx * math.cos(theta) + dy * math.sin(theta)
    across = dy * math.cos(theta) - dx * math.sin(theta)
    # the ring's vertices lie on one ellipse of the cluster's shape and angle, drawn just
    # outside the window (the polygon circumscribes it) so every member is strictly inside
    k = np.sqrt((along / top.semi_major) ** 2 + (across / top.semi_minor) ** 2)
    np.testing.assert_allclose(k, k.mean(), rtol=1e-4)   # WGS84 round trip: a few mm
    assert 1.0 <= k.mean() < 1.01
    members = result.area.coords[top.member_indices]
    mx, my = members[:, 0] - top.center_x, members[:, 1] - top.center_y
    inside = ((mx * math.cos(theta) + my * math.sin(theta)) / top.semi_major) ** 2 + \
        ((my * math.cos(theta) - mx * math.sin(theta)) / top.semi_minor) ** 2
    assert (inside <= 1 + 1e-9).all()
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert f"angle {top.angle:g} degrees, shape {top.shape:g}" in summary
    assert "test statistic" in summary
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "clusters.csv")
    assert {"semi_minor", "semi_major", "shape", "angle"} <= set(table.columns)
    assert (tmp_path / "out" / "map.png").stat().st_size > 10_000


def test_the_map_draws_an_ellipse_patch():
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Ellipse

    from scan.report.maps import _draw_circles

    ax = Figure().add_subplot()
    _draw_circles(ax, [(0.0, 0.0, 2.0, "1", 3.0, 30.0), (10.0, 0.0, 1.0, "2")])
    ellipse = next(p for p in ax.patches if isinstance(p, Ellipse) and not isinstance(p, Circle))
    assert (ellipse.width, ellipse.height, ellipse.angle) == (12.0, 4.0, 30.0)
    assert any(isinstance(p, Circle) for p in ax.patches)


def test_cli_runs_an_elliptic_scan(tmp_path, capsys):
    from scan.cli import main

    area = scan.borough_study_area("cancer")
    csv = tmp_path / "data.csv"
    area.to_dataframe()[["id", "x", "y", "cases", "population"]].to_csv(csv, index=False)
    code = main(["spatial", str(csv), "--shape", "ellipse", "--ellipse-shapes", "2,4",
                 "--ellipse-angles", "3,4", "--non-compactness-penalty", "strong",
                 "--replications", "9", "--seed", "1", "--out", str(tmp_path / "o"), "--quiet",
                 "--formats", "csv"])
    assert code == 0
    saved = json.loads((tmp_path / "o" / "result.json").read_text())
    assert saved["parameters"]["ellipse_shapes"] == [2.0, 4.0]
    assert saved["parameters"]["non_compactness_penalty"] == "strong"
    direct = scan.circular_scan(scan.read_csv(csv), shape="ellipse", ellipse_shapes=(2, 4),
                                ellipse_angles=(3, 4), non_compactness_penalty="strong",
                                n_replications=9, rng=1)
    assert saved["clusters"][0]["llr"] == pytest.approx(direct.most_likely.llr, rel=1e-12)
    code = main(["spatial", str(csv), "--shape", "ellipse", "--ellipse-angles", "4,6",
                 "--out", str(tmp_path / "bad"), "--quiet"])
    assert code == 2
    assert "one number of angles per ellipse shape (5 shapes)" in capsys.readouterr().err


# --- SaTScan itself (skips without a build) -----------------------------------------------------

@pytest.mark.parametrize("penalty", [0, 1, 2])
def test_purely_spatial_ellipses_match_satscan(satscan, tmp_path, penalty):
    """NHumberside (Bernoulli, integer coordinates, many distance ties) with SaTScan's default
    ellipses: the same most likely cluster, its LLR and test statistic to 1e-6 (SaTScan
    transforms coordinates in single precision, so its exact ties in ellipse distances may
    differ from ours in the last bits; its files print 6 decimals), shape, angle and axes.

    With the strong penalty two circles tie exactly for the most likely cluster (4 cases among
    4 people each, centres "18" and "170"); SaTScan breaks the tie by its internal location
    index, which follows the ids sorted as strings ("170" < "18"), where ``scan`` uses the
    file order: the tied clusters are compared as a set."""
    from pathlib import Path

    from conftest import SATSCAN_BUILD

    samples = Path(SATSCAN_BUILD) / "samples"
    got = satscan(samples / "NHumbersideSpatialBernoulli.prm", tmp_path,
                  SpatialWindowShapeType=1, NonCompactnessPenalty=penalty, MonteCarloReps=0)
    area = scan.read_satscan(samples / "NHumberside.cas", geo=samples / "NHumberside.geo",
                             ctl=samples / "NHumberside.ctl", model="bernoulli")
    ours = scan.circular_scan(area, model="bernoulli", shape="ellipse", n_replications=0,
                              non_compactness_penalty=["none", "medium", "strong"][penalty])
    top = float(got["clusters"][0]["test_statistic"])
    theirs = {tuple(sorted(str(v) for v in c["locations"])): c for c in got["clusters"]
              if abs(float(c["test_statistic"]) - top) < 1e-6}
    mine = [c for c in ours.clusters if abs(c.test_statistic - top) < 1e-6]
    assert len(mine) == len(theirs) >= 1
    for c in mine:
        t = theirs[tuple(sorted(c.members))]
        assert c.llr == pytest.approx(float(t["llr"]), abs=1e-6)
        assert c.test_statistic == pytest.approx(float(t["test_statistic"]), abs=1e-6)
        assert c.shape == pytest.approx(float(t["ellipse_shape"]))
        assert c.angle == pytest.approx(float(t["ellipse_angle"] or 0), abs=0.01)
        assert c.semi_minor == pytest.approx(float(t["ellipse_minor"]), abs=0.006)
        assert c.semi_major == pytest.approx(float(t["ellipse_major"]), abs=0.006)
    assert ours.most_likely.test_statistic == pytest.approx(top, abs=1e-6)


@pytest.mark.parametrize("penalty", [0, 1, 2])
def test_poisson_ellipses_match_satscan_cluster_by_cluster(satscan, tmp_path, penalty):
    """Random Poisson data with continuous coordinates (no exact ties) and a planted elongated
    cluster, through SaTScan's elliptic scan with its default shapes: every reported cluster
    (most likely and no-overlap secondaries) has the same locations, LLR and test statistic to
    1e-6, shape, angle and axes."""
    from pathlib import Path

    from conftest import SATSCAN_BUILD

    rng = np.random.default_rng(4)
    n = 80
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    population = rng.integers(500, 5000, n)
    risk = np.where((x - 30) ** 2 / 4 + (y - 60) ** 2 < 150, 1.8, 1.0)
    cases = rng.poisson(population * 0.01 * risk)
    ids = [f"L{i:03d}" for i in range(n)]
    (tmp_path / "p.cas").write_text("".join(f"{ids[i]} {cases[i]}\n" for i in range(n)))
    (tmp_path / "p.pop").write_text("".join(f"{ids[i]} 2001 {population[i]}\n"
                                            for i in range(n)))
    (tmp_path / "p.geo").write_text("".join(f"{ids[i]} {x[i]:.4f} {y[i]:.4f}\n"
                                            for i in range(n)))
    prm = Path(SATSCAN_BUILD) / "samples" / "NHumbersideSpatialBernoulli.prm"
    got = satscan(prm, tmp_path / "out", CaseFile=tmp_path / "p.cas", ControlFile="",
                  PopulationFile=tmp_path / "p.pop", CoordinatesFile=tmp_path / "p.geo",
                  ModelType=0, SpatialWindowShapeType=1, NonCompactnessPenalty=penalty,
                  MonteCarloReps=999)   # with 0 SaTScan reports the most likely cluster only
    area = scan.read_satscan(tmp_path / "p.cas", geo=tmp_path / "p.geo",
                             pop=tmp_path / "p.pop", model="poisson")
    ours = scan.circular_scan(area, shape="ellipse", n_replications=0,
                              non_compactness_penalty=["none", "medium", "strong"][penalty])
    theirs = got["clusters"]
    assert len(theirs) >= 1
    for c, t in zip(ours.clusters, theirs):
        assert sorted(c.members) == sorted(str(v) for v in t["locations"])
        assert c.llr == pytest.approx(float(t["llr"]), abs=1e-6)
        assert c.test_statistic == pytest.approx(float(t["test_statistic"]), abs=1e-6)
        assert c.shape == pytest.approx(float(t["ellipse_shape"]))
        assert c.angle == pytest.approx(float(t["ellipse_angle"] or 0), abs=0.01)
        assert c.semi_minor == pytest.approx(float(t["ellipse_minor"]), abs=0.006)
