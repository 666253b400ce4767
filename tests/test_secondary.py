"""Secondary clusters: SaTScan's six criteria, its order of ties, its cap and its reporting rule,
against the slow reference (exact equality of the kept clusters on random data with ties) and
against SaTScan itself where the build is present."""
from types import SimpleNamespace

import numpy as np
import pytest
import reference
from conftest import SATSCAN_BUILD, random_dataset

import scan
from scan import secondary as sec
from scan.errors import ScanParameterError
from scan.pipeline import Candidates, reportable
from scan.spatial import model_arrays
from scan.windows import Windows

CRITERIA = list(sec.CRITERIA)


# --- against the reference, circles ---------------------------------------------------------

@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("seed", range(24))
def test_kept_clusters_equal_reference(seed, criterion):
    """Random data, integer coordinates (distance ties) every third seed, latlong every fifth,
    three size caps; ties between equally likely clusters ranked by the sorted ids."""
    model = "poisson" if seed % 2 else "bernoulli"
    coordinates = "latlong" if seed % 5 == 4 else "cartesian"
    area = random_dataset(300 + seed, model, coordinates)
    fraction = [0.5, 0.25, 0.1][seed % 3]
    direction = ["high", "both"][seed % 4 == 3]
    result = scan.circular_scan(area, model=model, direction=direction, n_replications=0,
                                max_population_fraction=fraction, secondary=criterion)
    weights, _, _ = model_arrays(area, model)
    want = reference.satscan_clusters(area.coords, area.cases, weights, area.ids, model,
                                      direction, coordinates, fraction, criterion=criterion)
    got = [(c.llr, c.center_index, sorted(c.member_indices.tolist())) for c in result.clusters]
    assert len(got) == len(want)
    for (llr, centre, members), (wl, wc, wm) in zip(got, want):
        assert llr == pytest.approx(wl, rel=1e-9, abs=0)
        assert (centre, members) == (wc, wm)


def test_duplicate_coordinates_are_one_centroid():
    """Locations at the same point are one SaTScan centroid: under "none" the window is
    reported once, and the cap counts centroids."""
    area = scan.study_area(["a", "b", "c", "d"], [0.0, 0.0, 5.0, 9.0], [0.0, 0.0, 0.0, 0.0],
                           [6, 1, 0, 1], [10, 10, 10, 10], crs=None)
    res = scan.circular_scan(area, n_replications=0, secondary="none")
    centres = [c.center for c in res.clusters]
    assert centres.count("a") + centres.count("b") == 1
    windows = scan.windows.build_windows(area.coords, area.expected)
    analysis = SimpleNamespace(data=area, whole_area=False)
    assert sec.n_centres(windows, analysis) == 3
    assert sec.max_kept("no-overlap", windows, analysis) == 3
    assert sec.max_kept("none", windows, analysis) == 4


# --- against the reference, circles and ellipses --------------------------------------------

SHAPES = [(1.0, 0.0), (2.0, 0.0), (2.0, 60.0), (3.0, 30.0), (1.5, 135.0)]


def _elliptic_case(seed, power):
    """Rows for every centre: the circle, then four ellipses (reference windows), with the
    statistic LLR x penalty; Candidates as an elliptic analysis's kernel would give them."""
    area = random_dataset(500 + seed, "poisson", n=16)
    coords = [tuple(p) for p in area.coords]
    weights = area.expected
    per_shape = [reference.windows(area.coords, weights) if s == 1.0 else
                 reference.ellipse_windows(coords, weights, s, a) for s, a in SHAPES]
    members, centre, shape, angle = [], [], [], []
    for i in range(area.n_locations):
        for (s, a), wins in zip(SHAPES, per_shape):
            members.append(wins[i])
            centre.append(i)
            shape.append(s)
            angle.append(a)
    best = reference.best_per_centre(members, area.cases, weights, "poisson", "high")
    scale = np.array([reference.penalty(s, power) for s in shape])
    llr = np.array([b for b, _ in best])
    offsets = np.zeros(len(members) + 1, dtype=np.int64)
    np.cumsum([len(m) for m in members], out=offsets[1:])
    windows = Windows(offsets=offsets, neighbors=np.array(sum(members, []), dtype=np.int32),
                      max_population_fraction=0.5, max_radius=None,
                      centre=np.array(centre, dtype=np.int64),
                      centre_xy=area.coords[np.array(centre)], shape=np.array(shape),
                      angle=np.array(angle))
    cands = Candidates(statistic=llr * scale, size=np.array([s for _, s in best]),
                       scale=None if power == 0 else scale)
    return area, windows, cands, members, shape, angle


@pytest.mark.parametrize("power", [0, 0.5, 1])
@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("seed", range(8))
def test_elliptic_rows_equal_reference(seed, criterion, power):
    area, windows, cands, members, shape, angle = _elliptic_case(seed, power)
    analysis = scan.spatial.SpatialAnalysis(data=area, model=scan.models.get("poisson", "spatial"),
                                            direction="high", min_cases=2)
    got = sec.select(criterion, cands, windows, analysis)
    pts = reference.points(area.coords, "cartesian")
    names = reference.name_rank(area.ids)
    centroids = reference.centroid_rank(area.coords, area.ids)
    k = len(SHAPES)
    ref_cands, seen = [], set()
    for i in range(area.n_locations):
        point = tuple(area.coords[i])
        if point in seen:
            continue
        seen.add(point)
        rows = [(cands.statistic[i * k + j], cands.statistic[i * k + j] / reference.penalty(
            shape[i * k + j], power), shape[i * k + j]) for j in range(k)]
        r = i * k + reference.best_over_shapes(rows, power != 0)
        if cands.statistic[r] <= 0:
            continue
        m = members[r][:int(cands.size[r])]
        c = reference.cluster(pts, [tuple(p) for p in area.coords], pts[i], area.coords[i], m,
                              shape=shape[r], angle=angle[r], statistic=cands.statistic[r],
                              centre=r, central=names[m[0]], centroid=centroids[i])
        ref_cands.append(c)
    cap = area.n_locations if criterion == "none" else min(len(seen), 500)
    want = [c["centre"] for c in reference.secondary_clusters(ref_cands, criterion, pts, cap)]
    assert got == want


# --- the spec's worked examples -------------------------------------------------------------

def _hand_analysis(coords, ids=None):
    coords = np.asarray(coords, dtype=float)
    n = len(coords)
    data = SimpleNamespace(coords=coords, coordinates="cartesian", n_locations=n,
                           ids=np.array(ids or [f"L{i}" for i in range(n)]))
    return SimpleNamespace(data=data, whole_area=False,
                           members=lambda windows, row, size: windows.members(row, size))


def _hand_windows(rows, coords, centres, shape=None, angle=None):
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    return Windows(offsets=offsets, neighbors=np.array(sum(rows, []), dtype=np.int32),
                   max_population_fraction=0.5, max_radius=None,
                   centre=np.array(centres, dtype=np.int64),
                   centre_xy=np.asarray(coords, float)[centres],
                   shape=None if shape is None else np.array(shape, float),
                   angle=None if angle is None else np.array(angle, float))


@pytest.mark.parametrize("criterion,kept", [
    ("no-overlap", False), ("no-centres-in-others", False),
    ("no-centres-in-more-likely", False), ("no-centres-in-less-likely", True),
    ("no-pairs-of-centres", True), ("none", True)])
def test_spec_centre_example(criterion, kept):
    """MLC: circle at (0,0) of radius 5; candidate: circle at (3,0) of radius 1."""
    coords = [(0, 0), (3, 0), (5, 0), (4, 0)]
    windows = _hand_windows([[0, 1, 3, 2], [1, 3]], coords, [0, 1])
    cands = Candidates(statistic=np.array([9.0, 4.0]), size=np.array([4, 2]))
    got = sec.select(criterion, cands, windows, _hand_analysis(coords))
    assert got == ([0, 1] if kept else [0])


def test_spec_ellipse_holds_points_by_its_foci():
    e = sec.Shape(0, np.array([0]), np.zeros(2), np.zeros(2), 1.0, 2.0, 0.0, True, None, None,
                  False)
    assert e.holds(np.array([1.9, 0.0]), np.array([1.9, 0.0]))[0]
    assert not e.holds(np.array([0.0, 1.1]), np.array([0.0, 1.1]))[0]
    # rotated by 90 degrees: the other way round
    e.angle = 90.0
    assert not e.holds(np.array([1.9, 0.0]), np.array([1.9, 0.0]))[0]
    assert e.holds(np.array([0.0, 1.9]), np.array([0.0, 1.9]))[0]


def test_spec_greedy_compares_with_kept_clusters_only():
    """A (kept), B overlaps A (rejected), C overlaps only B: C is kept."""
    coords = [(0, 0), (1, 0), (2, 0), (3, 0), (10, 0)]
    windows = _hand_windows([[0, 1], [2, 1, 3], [3, 2]], coords, [0, 2, 3])
    cands = Candidates(statistic=np.array([9.0, 8.0, 7.0]), size=np.array([2, 3, 2]))
    assert sec.select("no-overlap", cands, windows, _hand_analysis(coords)) == [0, 2]


def test_spec_overlap_counts_a_location_on_the_edge():
    """SaTScan's overlap test: the kept circle at (0,0) holds (-1,0) and (0,-1) at distance 1;
    (1,0), at the same distance, was cut by its population cap.  A candidate holding (1,0)
    shares no location with it, yet SaTScan reports an overlap: (1,0) lies on the edge."""
    coords = [(0, 0), (-1, 0), (0, -1), (1, 0), (2.5, 0)]
    analysis = _hand_analysis(coords)
    windows = _hand_windows([[0, 1, 2], [4, 3]], coords, [0, 4])
    cands = Candidates(statistic=np.array([9.0, 8.0]), size=np.array([3, 2]))
    assert sec.select("no-overlap", cands, windows, analysis) == [0]
    assert sec.select("no-centres-in-others", cands, windows, analysis) == [0, 1]
    cands = Candidates(statistic=np.array([9.0, 8.0]), size=np.array([3, 1]))
    assert sec.select("no-overlap", cands, windows, analysis) == [0, 1]


def test_ties_rank_fewer_locations_then_sorted_ids_then_centre():
    coords = [(0, 0), (10, 0), (20, 0), (30, 0)]
    windows = _hand_windows([[0], [1], [2], [3, 2]], coords, [0, 1, 2, 3])
    cands = Candidates(statistic=np.array([5.0, 5.0 + 1e-10, 5.0, 5.0]),
                       size=np.array([1, 1, 1, 2]))
    analysis = _hand_analysis(coords, ids=["b10", "b2", "b1", "a"])
    # equal within 1e-9: fewer locations first, then the ids in sorted order b1 < b10 < b2
    assert list(sec.ranked(cands, windows, analysis)) == [2, 0, 1, 3]


def test_temporal_overlap_keeps_clusters_disjoint_in_time():
    coords = [(0, 0), (1, 0), (5, 0)]
    windows = _hand_windows([[0, 1], [1, 0], [2]], coords, [0, 1, 2])
    cands = Candidates(statistic=np.array([9.0, 8.0, 7.0]), size=np.array([2, 2, 1]),
                       t1=np.array([2, 6, 5]), t2=np.array([5, 8, 8]))
    analysis = _hand_analysis(coords)
    assert sec.select("no-overlap", cands, windows, analysis) == [0, 2]
    analysis.temporal_overlap = True
    # [6, 8) is one interval clear of [2, 5): kept; [5, 8) against [2, 5) would be adjacent
    assert sec.select("no-overlap", cands, windows, analysis) == [0, 1, 2]
    cands = Candidates(statistic=np.array([9.0, 8.0, 7.0]), size=np.array([2, 2, 1]),
                       t1=np.array([2, 5, 5]), t2=np.array([5, 8, 8]))
    assert sec.select("no-overlap", cands, windows, analysis) == [0, 2]


# --- reporting ------------------------------------------------------------------------------

def test_p_one_rule_with_nine_replications():
    """R = 9: a secondary cluster of rank 10 (p = 1) is not reported; one of rank 9 is."""
    null = np.arange(1.0, 10.0)                       # 1, 2, ..., 9
    mk = lambda t: SimpleNamespace(test_statistic=t)  # noqa: E731
    assert reportable([mk(20.0), mk(1.5), mk(0.5)], null) == [0, 1]
    assert reportable([mk(20.0), mk(2.0), mk(1.0)], null) == [0, 1]   # 2.0 ties: rank 9
    assert reportable([mk(0.0005), mk(0.0004)], np.empty(0)) == [0]
    assert reportable([mk(5.0)] * 12, np.empty(0)) == list(range(10))


def test_drop_p_one_through_the_scan():
    area = random_dataset(3, n=30)
    every = scan.circular_scan(area, n_replications=19, rng=1)
    dropped = scan.circular_scan(area, n_replications=19, rng=1, drop_p_one=True)
    assert dropped.parameters["drop_p_one"] is True
    kept = [c for c in every.clusters if c.rank == 1 or (c.p_value < 1 and
                                                         c.test_statistic >= 0.001)]
    assert [c.members for c in dropped.clusters] == [c.members for c in kept]
    assert len(kept) < len(every.clusters)


def test_bad_criterion_is_refused():
    area = random_dataset(3, n=10)
    with pytest.raises(ScanParameterError, match="parameter 'secondary' \\(--secondary-criterion"
                                                 "\\) must be one of 'no-overlap'"):
        scan.circular_scan(area, n_replications=0, secondary="no-centres")
    with pytest.raises(ValueError, match="needs the data's coordinates"):
        sec.select("no-centres-in-others",
                   Candidates(statistic=np.array([1.0]), size=np.array([1])),
                   _hand_windows([[0]], [(0, 0)], [0]),
                   SimpleNamespace(data=SimpleNamespace(n_locations=1), whole_area=False,
                                   members=lambda w, r, s: w.members(r, s)))


# --- SaTScan itself -------------------------------------------------------------------------

SAMPLES = SATSCAN_BUILD / "samples"


@pytest.mark.parametrize("criterion", CRITERIA)
def test_equals_satscan(satscan, tmp_path, criterion):
    """Purely spatial, no replications (so at most 10 clusters, SaTScan's reporting rule):
    NHumberside (Bernoulli, many ties) and New Mexico (Poisson, latitude/longitude)."""
    code = sec.SATSCAN_CODES[criterion]
    nh = scan.read_satscan(SAMPLES / "NHumberside.cas", geo=SAMPLES / "NHumberside.geo",
                           ctl=SAMPLES / "NHumberside.ctl", model="bernoulli")
    nm = scan.read_satscan(SAMPLES / "nm.cas", geo=SAMPLES / "nm.geo", pop=SAMPLES / "nm.pop",
                           coordinates="latlong", start="1973/1/1", end="1991/12/31")
    for area, prm, model, extra in [
            (nh, "NHumbersideSpatialBernoulli.prm", "bernoulli", {}),
            (nm, "NewMexicoSpaceTimePoisson.prm", "poisson", {"AnalysisType": 1})]:
        ss = satscan(SAMPLES / prm, tmp_path / f"{model}-{code}", MonteCarloReps=0,
                     CriteriaForReportingSecondaryClusters=code, **extra)
        res = scan.circular_scan(area, model=model, n_replications=0, secondary=criterion,
                                 drop_p_one=True)
        assert len(res.clusters) == len(ss["clusters"]) > 1
        for got, want in zip(res.clusters, ss["clusters"]):
            assert got.center == want["centre"]
            assert sorted(got.members) == sorted(want["locations"])
            assert got.llr == pytest.approx(want["llr"], abs=2e-6)


@pytest.mark.skipif(__import__("numba").config.NUMBA_NUM_THREADS < 2,
                    reason="one thread only: thread invariance cannot be shown here")
@pytest.mark.parametrize("criterion", CRITERIA)
def test_identical_for_1_and_2_threads(criterion):
    area = random_dataset(31, "poisson", n=40)
    kw = dict(n_replications=199, rng=2, secondary=criterion, gini=True, drop_p_one=True)
    one = scan.circular_scan(area, threads=1, **kw)
    two = scan.circular_scan(area, threads=2, **kw)
    assert [(c.members, c.llr, c.p_value) for c in one.clusters] == \
        [(c.members, c.llr, c.p_value) for c in two.clusters]
    assert one.gini.to_dict() == two.gini.to_dict()
