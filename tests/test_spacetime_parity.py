"""SaTScan parity of the space-time scans (issue 11, items 1 and 6): secondary clusters as
SaTScan >= 10.2, low-rate and two-sided scans, prospective analyses adjusted for earlier ones,
covariates of the space-time permutation model, and the kernels that run them, against the
brute-force references of ``reference_spacetime.py``, the rules' worked checks, SaTScan's
published outputs and (when present) the SaTScan binary."""
import json
import math
import sys

import numpy as np
import pytest
import reference
import reference_spacetime as ref
from conftest import REAL, SATSCAN_BUILD, needs_real

from scan import _kernels as K
from scan import _st_kernels as SK
import legacy_st_kernels as legacy  # noqa: E402  (tests/: the previous kernels)
from scan.data import build_spacetime_data
from scan.errors import ScanParameterError
from scan.montecarlo import replicate_states
from scan.secondary import overlap_in_time
from scan.spacetime import recurrence_interval, spacetime_scan

START = np.datetime64("2020-01-01")
SAMPLES = SATSCAN_BUILD / "samples"
VARIANTS = SATSCAN_BUILD / "sample-outputs" / "variants"


def planted(seed, *, with_population=True, T=None):
    """Random space-time data with two planted excesses at one location in different time
    ranges (so centres have extra candidates), sometimes on an integer grid (distance ties)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 10))
    T = T or int(rng.integers(6, 14))
    xy = (rng.integers(0, 5, (n, 2)).astype(float) if seed % 3 == 0
          else rng.uniform(0, 100, (n, 2)))
    pop = rng.integers(50, 400, n).astype(float)
    rate = np.full((n, T), 0.01)
    j = int(rng.integers(n))
    a = int(rng.integers(0, T // 2))
    rate[j, a:a + 2] *= 4.0
    rate[j, min(T - 1, a + 4):] *= 3.0
    rate[int(rng.integers(n)), : T // 3] *= 0.2
    cases = rng.poisson(rate * pop[:, None])
    if cases.sum() < 3:
        cases[0, 0] += 3
    loc, t = np.nonzero(cases)
    census = {}
    if with_population:     # populations that change over time: few exactly tied windows
        census = dict(census_loc=np.r_[np.arange(n), np.arange(n)],
                      census_day=np.r_[np.full(n, START), np.full(n, START + T - 1)],
                      census_value=np.r_[pop, pop * rng.uniform(0.6, 1.6, n)])
    return build_spacetime_data([f"L{i}" for i in range(n)], xy, case_loc=loc,
                                case_day=START + t, case_count=cases[loc, t], start=START,
                                end=START + T - 1, time_unit="day", crs=None,
                                source=f"planted-{seed}", **census)


def window_llr(data, table, members, t1, t2):
    C = float(data.cases.sum())
    return ref.directed_llr(float(data.cases[members, t1:t2].sum()),
                            float(table[members, t1:t2].sum()), C, "both", 0)


def assert_same_clusters(got, want, data, table):
    """Equal LLRs (1e-9), centres, members and time windows; a different time window only when
    it has the same LLR (an exact tie that rounding orders differently)."""
    assert len(got) == len(want)
    for c, (llr, centre, members, t1, t2) in zip(got, want):
        assert c.llr == pytest.approx(llr, rel=1e-9)
        assert c.center_index == centre
        assert sorted(c.member_indices.tolist()) == members
        if (c.start, c.end) != (str(data.interval_starts[t1]), str(data.interval_ends[t2 - 1])):
            a = int(np.searchsorted(data.interval_starts, np.datetime64(c.start)))
            b = int(np.searchsorted(data.interval_ends, np.datetime64(c.end))) + 1
            assert window_llr(data, table, members, a, b) == pytest.approx(llr, rel=1e-9)


def table_of(data, model):
    return data.expected if model == "poisson" else ref.permutation_expected(data.cases)


# ============================================================================ 10.2 secondary

def test_overlap_in_time_uses_exclusive_ends_and_adjacent_windows_overlap():
    assert overlap_in_time((2, 5), (5, 8)) and overlap_in_time((5, 8), (2, 5))
    assert not overlap_in_time((2, 5), (6, 8)) and not overlap_in_time((6, 8), (2, 5))
    assert overlap_in_time((2, 5), (3, 4)) and overlap_in_time((0, 10), (4, 5))
    for a in [(0, 1), (2, 5), (4, 9)]:
        for b in [(0, 2), (5, 6), (7, 9), (3, 4)]:
            assert overlap_in_time(a, b) == ref.overlap_in_time(a, b)


@pytest.mark.parametrize("direction", ["high", "low", "both"])
@pytest.mark.parametrize("mode", ["satscan", "corrected"])
@pytest.mark.parametrize("seed", range(10))
def test_secondary_10_2_matches_the_brute_force_reference(seed, mode, direction):
    model = "poisson" if seed % 2 == 0 else "permutation"
    data = planted(seed, with_population=model == "poisson")
    fraction = [0.5, 0.3, 0.25][seed % 3]
    res = spacetime_scan(data, model=model, direction=direction, n_replications=0,
                         max_population_fraction=fraction, secondary_time=mode)
    max_len = res.parameters["max_temporal_intervals"]
    want = ref.scan_10_2(data.coords, data.cases, table_of(data, model), max_fraction=fraction,
                         max_len=max_len, direction=direction, mode=mode)
    assert_same_clusters(res.clusters, want, data, table_of(data, model))


def test_extra_candidates_appear_and_ignore_mode_drops_them():
    """Across the random sets the 10.2 rule reports clusters the pre-10.2 rule drops, and
    every reported pair that shares a location is disjoint in time with a gap."""
    more = 0
    for seed in range(10):
        data = planted(seed)
        new = spacetime_scan(data, n_replications=0)
        old = spacetime_scan(data, n_replications=0, secondary_time="ignore")
        assert len(new.clusters) >= len(old.clusters)
        more += len(new.clusters) > len(old.clusters)
        iv = {c.rank: (np.datetime64(c.start), np.datetime64(c.end)) for c in new.clusters}
        for a in new.clusters:
            for b in new.clusters:
                if a.rank < b.rank and set(a.members) & set(b.members):
                    (a0, a1), (b0, b1) = iv[a.rank], iv[b.rank]
                    assert b0 > a1 + 1 or a0 > b1 + 1          # at least a day between
    assert more >= 3


@pytest.mark.parametrize("mode", ["satscan", "corrected"])
@pytest.mark.parametrize("seed", range(8))
def test_purely_temporal_extras_match_the_reference(seed, mode):
    data = planted(seed, T=12)
    res = spacetime_scan(data, analysis="temporal", n_replications=0, secondary_time=mode)
    want = ref.temporal_10_2(data.cases, data.expected,
                             max_len=res.parameters["max_temporal_intervals"], mode=mode)
    assert [(round(c.llr, 9), c.start, c.end) for c in res.clusters] == \
        [(round(v, 9), str(data.interval_starts[a]), str(data.interval_ends[b - 1]))
         for v, a, b in want]


def three_locations(extra, days=10):
    """The rules' binary confirmations: A, B, C 100 apart, 1000 people each, 5 cases per
    location-day over 2001/1/1-1/10, plus ``extra`` {day (1-based): cases} at A."""
    start = np.datetime64("2001-01-01")
    cases = np.full((3, days), 5)
    for day, k in extra.items():
        cases[0, day - 1] += k
    loc, t = np.nonzero(cases)
    return build_spacetime_data(["A", "B", "C"], [(0, 0), (100, 0), (200, 0)], case_loc=loc,
                                case_day=start + t, case_count=cases[loc, t], start=start,
                                end=start + days - 1, time_unit="day", census_loc=[0, 1, 2],
                                census_day=[start] * 3, census_value=[1000.0] * 3, crs=None)


def test_satscan_binary_confirmations_of_the_10_2_rule():
    """The rules' confirmations (a)-(c), run with SaTScan 10.3.2: the last interval is never in
    an extra, the interval next to a window is never used, and purely temporal extras are the
    first window met above 1."""
    a = spacetime_scan(three_locations({5: 15, 6: 15, 8: 6, 9: 6, 10: 6}), n_replications=0)
    first, second = a.clusters[:2]
    assert (first.members, first.start, first.end) == (("A",), "2001-01-05", "2001-01-06")
    assert round(first.llr, 2) == 19.59
    assert (second.members, second.start, second.end) == (("A",), "2001-01-08", "2001-01-09")
    assert (second.observed, round(second.expected, 1), round(second.llr, 3)) == (22, 13.2, 2.651)
    fixed = spacetime_scan(three_locations({5: 15, 6: 15, 8: 6, 9: 6, 10: 6}), n_replications=0,
                           secondary_time="corrected").clusters[1]
    assert (fixed.start, fixed.end, fixed.observed) == ("2001-01-08", "2001-01-10", 33)
    assert fixed.llr == pytest.approx(4.16, abs=0.015)          # the rules: "about 4.16"

    b = spacetime_scan(three_locations({5: 45, 6: 45, 7: 12, 8: 12}), n_replications=0)
    assert round(b.clusters[0].llr, 2) == 106.96
    second = b.clusters[1]
    assert (second.start, second.end) == ("2001-01-08", "2001-01-08")
    assert (second.observed, round(second.expected, 1), round(second.llr, 3)) == (17, 8.8, 3.127)

    c = spacetime_scan(three_locations({2: 30, 3: 30, 8: 25, 9: 25}), analysis="temporal",
                       n_replications=0)
    first, second = c.clusters[:2]
    assert (first.start, first.end, round(first.llr, 2)) == ("2001-01-02", "2001-01-03", 15.08)
    assert (second.start, second.end, second.observed, round(second.expected)) == \
        ("2001-01-09", "2001-01-09", 40, 26)
    assert round(second.llr, 3) == 3.659
    best = spacetime_scan(three_locations({2: 30, 3: 30, 8: 25, 9: 25}), analysis="temporal",
                          n_replications=0, secondary_time="corrected").clusters[1]
    assert (best.start, best.end) == ("2001-01-08", "2001-01-09")
    assert best.llr == pytest.approx(8.43, abs=0.015)          # the rules: "about 8.43"


@pytest.mark.parametrize("criterion", ["no-centres-in-others", "no-centres-in-more-likely",
                                       "no-centres-in-less-likely", "no-pairs-of-centres"])
def test_other_criteria_with_the_time_override(criterion):
    """Every criterion gets SaTScan's time override (scan.secondary): of two reported
    space-time clusters, the less likely passes the criterion against the more likely, or
    the two do not overlap in time (reference geometry: SaTScan's single-precision circle
    test on the reported centres and radii)."""
    def circle(c):
        xy = np.array([c.center_x, c.center_y])
        return dict(centre_pt=xy, centre_xy=xy, radius=c.radius, shape=1.0, angle=0.0)

    def inside(a, b):
        return reference.point_inside(circle(a)["centre_pt"], circle(a)["centre_xy"], circle(b))

    fails = {"no-centres-in-others": lambda y, x: inside(x, y) or inside(y, x),
             "no-centres-in-more-likely": lambda y, x: inside(x, y),
             "no-centres-in-less-likely": lambda y, x: inside(y, x),
             "no-pairs-of-centres": lambda y, x: inside(x, y) and inside(y, x)}[criterion]
    index = lambda d, day: int(np.flatnonzero(d.interval_starts == np.datetime64(day))[0])  # noqa: E731
    overridden = 0
    for seed in range(1, 9):
        data = planted(seed)
        res = spacetime_scan(data, n_replications=0, secondary=criterion)
        windows = [(index(data, c.start), 1 + int(np.flatnonzero(
            data.interval_ends == np.datetime64(c.end))[0])) for c in res.clusters]
        for b in range(len(res.clusters)):
            for a in range(b):
                if fails(res.clusters[a], res.clusters[b]):
                    assert not overlap_in_time(windows[a], windows[b])
                    overridden += 1
    assert overridden > 0


def test_prospective_clusters_never_share_a_location():
    for seed in range(6):
        res = spacetime_scan(planted(seed), analysis="prospective", n_replications=0)
        seen: set = set()
        for c in res.clusters:
            assert not seen & set(c.members)
            seen |= set(c.members)


# --- the borough's burglary (issue 11): SaTScan 10.3.2's clusters ---------------------------

# SaTScan 10.3.2, space-time permutation, retrospective, yearly 2011-2021, 50%/50%, PWC
# centroids (x_bng, y_bng), criterion 0, PValueReportType=1, 999 replications: every printed
# cluster as (LLR, number of LSOAs, first year, last year, p-value printed).
BURGLARY = [(15.714412, 6, 2013, 2014, 0.001), (13.709178, 13, 2018, 2021, 0.001),
            (13.705458, 12, 2019, 2019, 0.001), (12.169107, 7, 2011, 2012, 0.002),
            (11.774560, 3, 2015, 2015, 0.002), (10.280894, 10, 2020, 2021, 0.003),
            (10.109789, 4, 2014, 2016, 0.004), (9.466628, 1, 2013, 2014, 0.009),
            (8.721969, 16, 2018, 2018, 0.021), (7.271781, 2, 2015, 2016, 0.165),
            (6.463190, 2, 2019, 2019, 0.349), (6.257643, 2, 2020, 2020, 0.408),
            (6.020586, 1, 2017, 2018, 0.493), (5.025072, 37, 2011, 2011, 0.873),
            (4.858242, 15, 2012, 2012, 0.910), (4.612355, 1, 2016, 2017, 0.958),
            (3.852045, 1, 2013, 2013, 0.999)]
BURGLARY_2015 = {"E01033588", "E01033587", "E01000048"}
BURGLARY_2020 = {"E01000079", "E01000014", "E01000081", "E01000017", "E01000013", "E01000065"}


def burglary_files(folder):
    """The borough's recorded burglary as SaTScan files: .cas (LSOA, count, year), .geo
    (population-weighted centroids), and a .prm for the retrospective permutation scan."""
    import pandas as pd

    crime = pd.read_csv(REAL / "lbbd_lsoa11_crime_counts_2011_2021.csv")
    pwc = pd.read_csv(REAL / "lbbd_lsoa11_pwc.csv").set_index("lsoa11cd")
    rows = crime[(crime["category"] == "major-burglary") & (crime["count"] > 0)]
    ids = sorted(crime["LSOA11CD"].unique())
    (folder / "burglary.cas").write_text("".join(
        f"{r.LSOA11CD} {int(round(r.count))} {r.year}\n" for r in rows.itertuples()))
    (folder / "burglary.geo").write_text("".join(
        f"{i} {pwc.loc[i, 'x_bng']} {pwc.loc[i, 'y_bng']}\n" for i in ids))
    text = (SAMPLES_SHARED / "NYCSpaceTimePermutation.prm").read_text()
    settings = {"CaseFile": "burglary.cas", "CoordinatesFile": "burglary.geo",
                "CoordinatesType": "0", "StartDate": "2011/1/1", "EndDate": "2021/12/31",
                "PrecisionCaseTimes": "1", "AnalysisType": "3", "TimeAggregationUnits": "1",
                "MaxTemporalSizeInterpretation": "0", "MaxTemporalSize": "50",
                "MaxSpatialSizeInPopulationAtRisk": "50", "UseDistanceFromCenterOption": "n",
                "PValueReportType": "1"}
    lines = [f"{k}={settings[k]}" if (k := line.partition("=")[0]) in settings else line
             for line in text.splitlines()]
    (folder / "burglary.prm").write_text("\n".join(lines) + "\n")
    return folder / "burglary.prm"


SAMPLES_SHARED = REAL.parent / "reference" / "satscan_samples"


@needs_real
def test_burglary_secondary_clusters_as_satscan(tmp_path, request):
    """Issue 11: SaTScan reports two significant secondary clusters that the pre-10.2 rule
    drops (three LSOAs in 2015, p = 0.002; ten LSOAs in 2020-21, p = 0.003): all 17 printed
    clusters are reproduced (LLR to 1e-6, sizes, time frames; p-values within Monte Carlo
    error), and with SaTScan's binary when present, the same members too."""
    from scan.io.prm import satscan_prm_spacetime

    prm = burglary_files(tmp_path)
    data, kw = satscan_prm_spacetime(prm)
    assert kw["model"] == "permutation" and kw["analysis"] == "retrospective"
    res = spacetime_scan(data, rng=20261129, **kw)
    shown = [c for c in res.clusters if c.p_value < 1]          # SaTScan does not print p = 1
    assert len(shown) == len(BURGLARY)
    for c, (llr, n, y0, y1, p) in zip(shown, BURGLARY):
        assert c.llr == pytest.approx(llr, abs=1e-6)
        assert (c.n_locations, c.start[:4], c.end[:4]) == (n, str(y0), str(y1))
        # both p-values are estimates from 999 replicates: 4 standard errors of the difference
        q = min(max(p, 0.002), 0.998)
        assert abs(c.p_value - p) <= 4 * math.sqrt(2 * q * (1 - q) / 1000) + 0.001
    fifth, sixth = shown[4], shown[5]
    assert set(fifth.members) == BURGLARY_2015 and fifth.p_value < 0.05
    assert BURGLARY_2020 <= set(sixth.members) and sixth.p_value < 0.05
    old = spacetime_scan(data, n_replications=0, secondary_time="ignore", **{
        k: v for k, v in kw.items() if k != "n_replications"})
    assert not any(set(c.members) == BURGLARY_2015 for c in old.clusters)
    assert not any(round(c.llr, 6) == 10.280894 for c in old.clusters)

    if not (SATSCAN_BUILD / "bin" / "satscan").is_file():
        return
    sat = request.getfixturevalue("satscan")(prm, tmp_path / "satscan")["clusters"]
    assert len(sat) == len(shown)
    for c, s in zip(shown, sat):
        assert c.llr == pytest.approx(s["statistic"], abs=1e-6)
        assert sorted(c.members) == sorted(s["locations"])
        assert c.start.replace("-", "/").replace("/0", "/") == s["start_date"]


# ============================================================================ low / both

def _draws_at_points(tables, tw):
    """(n, P, B) prefix sums from the first point of each table's counts."""
    n = tables[0].shape[0]
    out = np.zeros((n, tw.n_points, len(tables)), dtype=np.int32)
    for b, tab in enumerate(tables):
        cum = np.zeros((n, tab.shape[1] + 1), dtype=np.int64)
        cum[:, 1:] = np.cumsum(tab, axis=1)
        at = cum[:, tw.points]
        out[:, :, b] = at - at[:, :1]
    return out


@pytest.mark.parametrize("direction", ["high", "low", "both"])
@pytest.mark.parametrize("windows", ["retrospective", "prospective", "adjusted"])
@pytest.mark.parametrize("seed", range(4))
def test_block_kernel_is_exact_for_every_direction_and_window_set(seed, windows, direction):
    """The bound-skipping replicate kernel gives each replicate's exhaustive maximum (the
    reference enumerates every circle and window)."""
    from scan.windows import build_windows

    data = planted(seed)
    T, n = data.n_intervals, data.n_locations
    rng = np.random.default_rng(200 + seed)
    p = (data.expected / data.expected.sum()).ravel()
    tables = [np.asarray(data.cases)] + [rng.multinomial(data.total_cases, p).reshape(n, T)
                                         for _ in range(6)]
    max_len = max(1, T // 2)
    ends = None
    if windows == "retrospective":
        tw = SK.TimeWindows(T, 1, max_len, 1)
    elif windows == "prospective":
        tw = SK.TimeWindows(T, 1, max_len, T)
    else:
        ends = np.zeros(T + 1, dtype=np.int64)
        ends[T - 3:] = [1, 2, 3, max_len]
        tw = SK.TimeWindows(T, 1, max_len, T - 3, ends)
    assert list(zip(tw.t1.tolist(), tw.t2.tolist())) == ref.window_list(
        T, 1, max_len, {"retrospective": 1, "prospective": T, "adjusted": T - 3}[windows], ends)
    w = build_windows(data.coords, data.expected.sum(axis=1))
    cum_e = np.zeros((n, T + 1))
    cum_e[:, 1:] = np.cumsum(data.expected, axis=1)
    code = K.DIRECTION_CODES[direction]
    out = np.zeros(len(tables))
    SK.block_maxima_cyl(w.offsets, w.neighbors, _draws_at_points(tables, tw),
                        np.ascontiguousarray(cum_e[:, tw.points]), float(data.total_cases),
                        tw.lo, tw.hi, code, 2, np.ones(w.n_rows), out)
    circles = reference.windows(data.coords, data.expected.sum(axis=1))
    pairs = ref.window_list(T, 1, max_len, tw.t2.min() if len(tw) else T, ends)
    for b, tab in enumerate(tables):
        want = ref.max_llr_windows(circles, tab, data.expected, pairs, direction)
        assert out[b] == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("model,analysis", [("poisson", "retrospective"),
                                            ("permutation", "prospective"),
                                            ("poisson", "prospective")])
def test_both_is_the_larger_of_high_and_low(model, analysis):
    """SaTScan's ScanAreas=3: one maximum over high and low cylinders, so the statistic and
    every replicate maximum are the element-wise larger of the one-sided runs (same draws)."""
    data = planted(5, with_population=model == "poisson")
    kw = dict(model=model, analysis=analysis, n_replications=70, rng=11)
    runs = {d: spacetime_scan(data, direction=d, **kw) for d in ("high", "low", "both")}
    np.testing.assert_array_equal(runs["both"].null_distribution,
                                  np.maximum(runs["high"].null_distribution,
                                             runs["low"].null_distribution))
    assert runs["both"].statistic == max(runs["high"].statistic, runs["low"].statistic)
    low = runs["low"].clusters[0]
    assert low.observed < low.expected and low.relative_risk < 1


def test_low_rate_cylinder_without_cases():
    """The rules' check: c = 0, mu = 3, C = U = 100 has LLR -100 ln(97/100) = 3.046; a
    cylinder with no cases is a low-rate cluster (no minimum)."""
    assert ref.directed_llr(0, 3.0, 100.0, "low") == pytest.approx(-100 * math.log(0.97))
    assert K.poisson_llr(0.0, 3.0, 100.0) == pytest.approx(3.0459207, abs=1e-7)
    start = np.datetime64("2021-01-01")
    cases = np.full((3, 6), 6)
    cases[1, 2:4] = 0
    loc, t = np.nonzero(cases)
    data = build_spacetime_data(["A", "B", "C"], [(0, 0), (10, 0), (20, 0)], case_loc=loc,
                                case_day=start + t, case_count=cases[loc, t], start=start,
                                end=start + 5, time_unit="day", census_loc=[0, 1, 2],
                                census_day=[start] * 3, census_value=[100.0] * 3, crs=None)
    res = spacetime_scan(data, direction="low", n_replications=0, max_population_fraction=0.34)
    top = res.clusters[0]
    assert top.members == ("B",) and top.observed == 0
    assert (top.start, top.end) == ("2021-01-03", "2021-01-04")
    C = data.total_cases
    assert top.llr == pytest.approx(-C * math.log((C - top.expected) / C), rel=1e-12)


# ============================================================================ earlier analyses

def daily(days, n=3, seed=0):
    rng = np.random.default_rng(seed)
    cases = rng.poisson(3.0, (n, days))
    loc, t = np.nonzero(cases)
    return build_spacetime_data([f"L{i}" for i in range(n)], [(10.0 * i, 0.0) for i in range(n)],
                                case_loc=loc, case_day=START + t, case_count=cases[loc, t],
                                start=START, end=START + days - 1, time_unit="day",
                                census_loc=np.arange(n), census_day=[START] * n,
                                census_value=[100.0] * n, crs=None)


def test_analyses_since_the_prospective_start():
    """N = 10 and a start inside interval 6: P = 7 and n = 4 analyses; the replicates' windows
    end at 7, 8, 9 and 10, the observed ones at 10 only."""
    from scan.spacetime import _prospective_windows

    data = daily(10)
    P, lengths = _prospective_windows(data, str(START + 6), 1, 0.5, None)
    assert P == 7 and lengths[:7].sum() == 0 and (lengths[7:] > 0).all()
    res = spacetime_scan(data, model="permutation", analysis="prospective", max_radius=5.0,
                         adjust_earlier_analyses=True, prospective_start=str(START + 6),
                         n_replications=19, rng=1)
    assert res.parameters["n_analyses"] == 4
    assert all(c.end == str(data.study_end) for c in res.clusters)
    tw = SK.TimeWindows(10, 1, 5, P, lengths)
    assert sorted(set(tw.t2.tolist())) == [7, 8, 9, 10]


def test_percent_window_per_analysis():
    """The rules' check: 100 days, daily, 50%, first analysis at day 91: L_91 = 45, ..., L_100
    = 50 (each analysis's percentage of the study period up to its end)."""
    from scan.spacetime import _prospective_windows

    P, lengths = _prospective_windows(daily(100), str(START + 90), 1, 0.5, None)
    assert P == 91
    assert lengths[91:].tolist() == [e // 2 for e in range(91, 101)]      # 45, 46, ..., 50
    _, fixed = _prospective_windows(daily(100), str(START + 90), 1, 0.5, 7.0)
    assert set(fixed[91:].tolist()) == {7}


def test_a_spike_in_an_earlier_analysis_counts_for_replicates_not_for_the_data():
    """Windows of one day: a spike on day 8 of 10 is counted by the replicates' statistic (an
    analysis ended there) but not by the observed one (alive windows end on day 10)."""
    T = 10
    tw_null = SK.TimeWindows(T, 1, 1, 7, np.full(T + 1, 1))
    tw_obs = SK.TimeWindows(T, 1, 1, T)
    expected = np.full((2, T), 1.0)
    spike = np.ones((2, T), dtype=np.int64)
    spike[0, 7] = 9
    cum_e = np.zeros((2, T + 1))
    cum_e[:, 1:] = np.cumsum(expected, axis=1)
    offsets, neighbors = np.array([0, 1, 2]), np.array([0, 1], dtype=np.int32)
    got = {}
    for name, tw in (("null", tw_null), ("alive", tw_obs)):
        out = np.zeros(1)
        SK.block_maxima_cyl(offsets, neighbors, _draws_at_points([spike], tw),
                            np.ascontiguousarray(cum_e[:, tw.points]), 20.0, tw.lo, tw.hi, 0,
                            2, np.ones(2), out)
        got[name] = out[0]
    assert got["null"] == pytest.approx(ref.directed_llr(9, 1.0, 20.0), rel=1e-12)
    assert got["alive"] == 0.0
    start = START
    loc, t = np.nonzero(spike)
    data = build_spacetime_data(["A", "B"], [(0, 0), (50, 0)], case_loc=loc, case_day=start + t,
                                case_count=spike[loc, t], start=start, end=start + T - 1,
                                time_unit="day", census_loc=[0, 1], census_day=[start] * 2,
                                census_value=[100.0] * 2, crs=None)
    kw = dict(analysis="prospective", max_temporal_length=1, max_radius=1.0,
              n_replications=0)
    adjusted = spacetime_scan(data, adjust_earlier_analyses=True, prospective_start="2020/1/8",
                              **kw)
    assert adjusted.statistic == spacetime_scan(data, **kw).statistic


def test_adjusted_p_values_and_recurrence_intervals_count_every_analysis():
    data = daily(20, n=5, seed=3)
    kw = dict(model="permutation", analysis="prospective", max_radius=15.0,
              max_temporal_length=3, n_replications=199, rng=5)
    one = spacetime_scan(data, **kw)
    many = spacetime_scan(data, adjust_earlier_analyses=True, prospective_start=str(START + 10),
                          **kw)
    assert many.parameters["n_analyses"] == 10
    # the replicate maxima range over ten analyses: stochastically larger
    assert np.median(many.null_distribution) > np.median(one.null_distribution)
    for c in many.clusters:
        assert c.recurrence_interval == pytest.approx(
            max(1.0, 1.0 / -math.expm1(math.log1p(-c.p_value) / 10)) if c.p_value < 1 else 1.0)


def test_recurrence_interval_as_satscan_prints_it():
    """The rules' checks: daily, p = 0.01, 10 analyses: 995.5 days (2.7 years); weekly, p =
    0.05: 140 days; NYC with adjustment (5 analyses): p 0.63 -> 6 days, 0.90 -> 3 days."""
    assert recurrence_interval(0.01, "day", 1, 10) == pytest.approx(995.5, abs=0.05)
    assert recurrence_interval(0.05, "week") == pytest.approx(140.0)
    assert round(recurrence_interval(0.63, "day", 1, 5)) == 6
    assert round(recurrence_interval(0.90, "day", 1, 5)) == 3


def test_adjustment_errors():
    data = daily(10)
    base = dict(analysis="prospective", n_replications=0)
    with pytest.raises(ScanParameterError, match=r"'max_radius' \(--max-radius\) must be a "
                                                 r"distance when adjusting"):
        spacetime_scan(data, adjust_earlier_analyses=True, prospective_start="2020/1/5", **base)
    with pytest.raises(ScanParameterError, match=r"'prospective_start' \(--prospective-start\) "
                                                 r"must be a date \(the first analysis\)"):
        spacetime_scan(data, adjust_earlier_analyses=True, max_radius=5.0, **base)
    with pytest.raises(ScanParameterError, match=r"must be None unless adjust_earlier_analyses"):
        spacetime_scan(data, prospective_start="2020/1/5", **base)
    with pytest.raises(ScanParameterError, match=r"must be a date in the study period "
                                                 r"2020-01-01 to 2020-01-10"):
        spacetime_scan(data, adjust_earlier_analyses=True, max_radius=5.0,
                       prospective_start="2021/1/5", **base)
    with pytest.raises(ScanParameterError, match=r"'adjust_earlier_analyses' .* must be False "
                                                 r"unless analysis is 'prospective'"):
        spacetime_scan(data, adjust_earlier_analyses=True, max_radius=5.0,
                       prospective_start="2020/1/5", n_replications=0)
    with pytest.raises(ScanParameterError, match=r"'n_earlier_analyses' .* must be 0 when "
                                                 r"adjusting"):
        spacetime_scan(data, adjust_earlier_analyses=True, max_radius=5.0,
                       prospective_start="2020/1/5", n_earlier_analyses=3, **base)


def _nyc_prm(folder, **settings):
    text = (SAMPLES_SHARED / "NYCSpaceTimePermutation.prm").read_text()
    lines = [f"{k}={settings[k]}" if (k := line.partition("=")[0]) in settings else line
             for line in text.splitlines()]
    path = folder / "nyc.prm"
    path.write_text("\n".join(lines) + "\n")
    return path


NYC_ADJUSTED = dict(AdjustForEarlierAnalyses="y", ProspectiveStartDate="2001/11/20",
                    UseDistanceFromCenterOption="y", MaxSpatialSizeInDistanceFromCenter="3")


@pytest.mark.skipif(not SAMPLES_SHARED.is_dir(), reason="../shared/data/reference absent")
def test_nyc_adjusted_for_earlier_analyses_as_satscan(tmp_path, request):
    """NYC fever with AdjustForEarlierAnalyses from 2001/11/20 (5 analyses), 3 km: the clusters
    SaTScan 10.3.2 printed (sample-outputs/variants/NYC_adjust_earlier); with the binary, the
    replicate maxima have SaTScan's distribution (two-sample Kolmogorov-Smirnov test on 999
    each) and the p-value is within Monte Carlo error."""
    from scan.io.prm import satscan_prm_spacetime

    for name in ("NYCfever.cas", "NYCfever.geo"):
        (tmp_path / name).write_bytes((SAMPLES_SHARED / name).read_bytes())
    prm = _nyc_prm(tmp_path, **NYC_ADJUSTED)
    data, kw = satscan_prm_spacetime(prm)
    assert kw["adjust_earlier_analyses"] and kw["max_radius"] == 3.0
    assert kw["prospective_start"] == "2001-11-20" and "max_population_fraction" not in kw
    kw["n_replications"] = 999
    res = spacetime_scan(data, rng=3, **kw)
    assert res.parameters["n_analyses"] == 5
    first, second = res.clusters[:2]
    assert first.llr == pytest.approx(3.845418, abs=1e-6)
    assert sorted(first.members) == sorted(["11418", "11415", "11419", "11435", "11416",
                                            "11421", "11451", "11375", "11417"])
    assert (first.start, first.end, first.observed) == ("2001-11-22", "2001-11-24", 4)
    assert second.members == ("11372",) and second.llr == pytest.approx(3.164201, abs=1e-6)
    unadjusted = spacetime_scan(data, **{**kw, "adjust_earlier_analyses": False,
                                         "prospective_start": None})
    assert first.p_value > unadjusted.clusters[0].p_value

    if not (SATSCAN_BUILD / "bin" / "satscan").is_file():
        return
    from scipy.stats import ks_2samp

    sat = request.getfixturevalue("satscan")(prm, tmp_path / "satscan", PValueReportType=1)
    sims = np.asarray(sat["simulated_llrs"], dtype=float)
    assert len(sims) == 999
    assert ks_2samp(sims, res.null_distribution).pvalue > 0.001
    plain = request.getfixturevalue("satscan")(
        _nyc_prm(tmp_path, UseDistanceFromCenterOption="y",
                 MaxSpatialSizeInDistanceFromCenter="3"), tmp_path / "plain", PValueReportType=1)
    assert ks_2samp(sims, np.asarray(plain["simulated_llrs"], float)).pvalue < 1e-6
    p_sat = sat["clusters"][0]["p_value"]
    assert abs(first.p_value - p_sat) <= 4 * math.sqrt(2 * p_sat * (1 - p_sat) / 1000)


# ============================================================================ covariates

def strata_data(seed, K=3):
    rng = np.random.default_rng(seed)
    n, T = int(rng.integers(4, 8)), int(rng.integers(5, 10))
    counts = rng.poisson(rng.uniform(0.3, 3.0, (1, 1, K)) * np.ones((n, T, K)))
    counts[0, : T // 2, 0] += 3
    loc, t, s = np.nonzero(counts)
    return build_spacetime_data([f"L{i}" for i in range(n)], rng.uniform(0, 50, (n, 2)),
                                case_loc=loc, case_day=START + t, case_count=counts[loc, t, s],
                                case_stratum=s, n_strata=K, start=START, end=START + T - 1,
                                time_unit="day", crs=None, strata_names=[f"k{k}" for k in range(K)])


@pytest.mark.parametrize("seed", range(5))
def test_permutation_expected_with_covariates_matches_the_reference(seed):
    data = strata_data(seed)
    mu = data.model_expected("permutation")
    np.testing.assert_allclose(mu, ref.permutation_expected_strata(data.cases_by_stratum),
                               rtol=1e-12)
    assert mu.sum() == pytest.approx(data.total_cases)
    res = spacetime_scan(data, model="permutation", n_replications=0)
    want = ref.scan_10_2(data.coords, data.cases, mu, max_len=res.parameters[
        "max_temporal_intervals"])
    assert [(round(c.llr, 9), c.center_index) for c in res.clusters] == \
        [(round(v, 9), i) for v, i, *_ in want]


def test_covariate_edge_cases():
    """One category: the plain formula.  Every case its own category: mu = the observed
    counts, every LLR 0, no cluster."""
    data = strata_data(1, K=1)
    assert data.cases_by_stratum is None
    c = data.cases.astype(float)
    np.testing.assert_allclose(data.permutation_expected(),
                               np.outer(c.sum(axis=1), c.sum(axis=0)) / c.sum())
    rng = np.random.default_rng(4)
    cases = rng.poisson(1.0, (4, 6))
    loc, t = np.nonzero(cases)
    loc, t = np.repeat(loc, cases[loc, t]), np.repeat(t, cases[loc, t])
    own = build_spacetime_data([f"L{i}" for i in range(4)], rng.uniform(0, 9, (4, 2)),
                               case_loc=loc, case_day=START + t, case_count=np.ones(len(loc)),
                               case_stratum=np.arange(len(loc)), n_strata=len(loc), start=START,
                               end=START + 5, time_unit="day", crs=None)
    np.testing.assert_allclose(own.permutation_expected(), own.cases)
    res = spacetime_scan(own, model="permutation", n_replications=9, rng=1)
    assert res.clusters == () and (res.null_distribution == 0).all()


def test_stratified_permutation_keeps_each_stratum_s_margins():
    data = strata_data(2)
    case_loc, case_time, strata = data.permutation_cases()
    T = data.n_intervals
    bin_of = np.arange(1, T + 1, dtype=np.int64)
    labels = np.empty(len(case_time), dtype=np.int64)
    binned = np.zeros(data.n_locations * (T + 1), dtype=np.int32)
    changed = 0
    for state in replicate_states(9, 0, 20):
        SK._permute_binned(state.copy(), case_loc, case_time, strata, labels, bin_of, T + 1,
                           binned)
        for k in range(len(strata) - 1):
            a, b = strata[k], strata[k + 1]
            np.testing.assert_array_equal(np.sort(labels[a:b]), np.sort(case_time[a:b]))
        table = binned.reshape(data.n_locations, T + 1)[:, 1:]
        np.testing.assert_array_equal(table.sum(axis=1), data.cases.sum(axis=1))
        np.testing.assert_array_equal(table.sum(axis=0), data.cases.sum(axis=0))
        changed += not np.array_equal(labels, case_time)
    assert changed >= 18


def test_inside_draws_have_the_full_draws_distribution():
    """Drawing only the cases a window counts: the permutation (Floyd subset + shuffle) and the
    Poisson (geometric gaps + alias) generators give each counted cell the mean of the full
    generators (the permutation model's mu, C x share); tolerance 5 standard errors."""
    data = strata_data(3)
    T, n = data.n_intervals, data.n_locations
    tw = SK.TimeWindows(T, 1, 2, T)                 # prospective: the last 2 intervals count
    P = tw.n_points
    case_loc, case_time, strata = data.permutation_cases()
    keep = tw.bin_of[case_time] >= 0
    cum = np.concatenate([[0], np.cumsum(keep)])
    in_strata, in_times = cum[strata], case_time[keep]
    draws = 4000
    total = np.zeros(n * P)
    marks = np.zeros(len(case_loc), dtype=np.bool_)
    picked, times = np.empty(len(in_times), np.int64), np.empty(len(in_times), np.int64)
    binned = np.zeros(n * P, dtype=np.int32)
    for state in replicate_states(1, 0, draws):
        SK._permute_inside(state.copy(), case_loc, strata, in_times, in_strata, marks, picked,
                           times, tw.bin_of, P, binned)
        total += binned
        assert binned.sum() == len(in_times) and not marks.any()
    mu = data.permutation_expected()
    want = np.zeros((n, P))
    for t in range(T):
        if tw.bin_of[t] >= 0:
            want[:, tw.bin_of[t]] += mu[:, t]
    got = (total / draws).reshape(n, P)
    assert np.abs(got - want).max() <= 5 * np.sqrt(want.max() / draws) + 1e-9

    from scan._random import alias_table

    expected = np.random.default_rng(0).uniform(0.5, 2.0, (n, T))
    counted = tw.bin_of >= 0
    cells = np.where(counted[None, :], expected, 0.0)
    loc, t = np.nonzero(cells > 0)
    prob, alias = alias_table(cells[loc, t])
    p_in = cells.sum() / expected.sum()
    C = 500
    total[:] = 0
    for state in replicate_states(2, 0, draws):
        SK._draw_multinomial_inside(state.copy(), C, p_in, prob, alias,
                                    (loc * P + tw.bin_of[t]).astype(np.int64), binned)
        total += binned
    want = np.zeros((n, P))
    for tt in range(T):
        if counted[tt]:
            want[:, tw.bin_of[tt]] += C * expected[:, tt] / expected.sum()
    got = (total / draws).reshape(n, P)
    assert np.abs(got - want).max() <= 5 * np.sqrt(want.max() / draws)


def test_covariates_from_satscan_case_file_and_csv(tmp_path):
    from scan.cli import main
    from scan.io.satscan import read_satscan_spacetime
    from scan.io.spacetime_csv import read_spacetime_csv

    (tmp_path / "a.cas").write_text("A 3 2020/1/1 m\nB 1 2020/1/2 f\nC 2 2020/1/2 m\n"
                                    "A 1 2020/1/3 f\nB 2 2020/1/3 m\n")
    (tmp_path / "a.geo").write_text("A 0 0\nB 1 0\nC 0 1\n")
    data = read_satscan_spacetime(tmp_path / "a.cas", geo=tmp_path / "a.geo")
    assert data.cases_by_stratum.shape == (3, 3, 2)
    assert data.extra["strata_names"] == ("m", "f")
    rows = ["id,x,y,time,sex,cases", "A,0,0,2020-01-01,m,3", "B,1,0,2020-01-02,f,1",
            "C,0,1,2020-01-02,m,2", "A,0,0,2020-01-03,f,1", "B,1,0,2020-01-03,m,2"]
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n")
    csv = read_spacetime_csv(tmp_path / "a.csv", crs=None, strata=("sex",))
    np.testing.assert_array_equal(csv.cases_by_stratum, data.cases_by_stratum)
    np.testing.assert_allclose(csv.permutation_expected(), data.permutation_expected())
    plain = read_spacetime_csv(tmp_path / "a.csv", crs=None)
    assert plain.cases_by_stratum is None
    assert main(["spacetime", str(tmp_path / "a.csv"), "--crs", "none", "--strata", "sex",
                 "--model", "permutation", "--replications", "9", "--seed", "1", "--out",
                 str(tmp_path / "out"), "--quiet"]) == 0
    res = json.loads((tmp_path / "out" / "result.json").read_text())
    assert res["parameters"]["covariate_strata"] == ["m", "f"]


# ============================================================================ kernels, estimate

@pytest.mark.parametrize("model", ["poisson", "permutation"])
def test_new_null_equals_the_previous_kernel_when_every_interval_counts(model):
    """Retrospective windows use every interval: the replicate data sets are the previous
    kernel's, draw for draw, and so are the maxima."""
    from scan.windows import build_windows

    data = planted(7, with_population=model == "poisson")
    res = spacetime_scan(data, model=model, n_replications=130, rng=5)
    T = data.n_intervals
    expected = data.model_expected(model)
    w = build_windows(data.coords, expected.sum(axis=1))
    cum_e = np.zeros((data.n_locations, T + 1))
    cum_e[:, 1:] = np.cumsum(expected, axis=1)
    from scan._random import alias_table

    if model == "poisson":
        prob, alias = alias_table(expected.ravel())
        loc = tim = np.zeros(0, np.int64)
    else:
        prob, alias = np.ones(1), np.zeros(1, np.int64)
        loc, tim, _ = data.permutation_cases()
    old = np.zeros(130)
    legacy.replicate_maxima_st(w.offsets, w.neighbors, cum_e, float(data.total_cases), 1,
                           res.parameters["max_temporal_intervals"], 1, 2, np.ones(w.n_rows),
                           replicate_states(res.seed, 0, 130),
                           SK.MULTINOMIAL if model == "poisson" else SK.PERMUTATION, prob,
                           alias, loc, tim, 64, old)
    np.testing.assert_array_equal(res.null_distribution, old)


def test_estimate_is_reported_and_a_scan_that_does_not_fit_is_refused(monkeypatch):
    from scan import spacetime

    data = planted(2)
    notes = []

    def progress(done, total):
        pass

    progress.describe = notes.append
    res = spacetime_scan(data, n_replications=20, rng=1, progress=progress)
    assert len(notes) == 1 and "cylinders observed" in notes[0] and "of memory" in notes[0]
    assert res.parameters["estimated_memory_bytes"] > 0
    est = spacetime.estimate_work(
        spacetime.SpaceTimeAnalysis(data=data, model=__import__("scan").models.get(
            "poisson", "spacetime"), analysis="retrospective", cases=data.cases.astype(float),
            expected=data.expected, min_len=1, max_len=3, min_cases=2, n_earlier_analyses=0),
        __import__("scan").windows.build_windows(data.coords, data.expected.sum(axis=1)), 99)
    assert est.cylinders == est.replicate_cylinders > 0 and est.seconds >= 0
    monkeypatch.setattr(spacetime, "available_memory", lambda: 1000)
    with pytest.raises(ScanParameterError, match=r"must be a window set that fits in memory: "
                                                 r"this scan needs about .* and 0 MiB is "
                                                 r"available.*use smaller windows"):
        spacetime_scan(data, n_replications=20, rng=1)


# ============================================================================ CLI and .prm

def test_cli_direction_adjustment_and_secondary_time(tmp_path):
    from scan.cli import main

    data = daily(12, n=4, seed=1)
    rows = ["id,x,y,time,cases,population"]
    for i in range(data.n_locations):
        for t in range(data.n_intervals):
            rows.append(f"{data.ids[i]},{data.coords[i, 0]},{data.coords[i, 1]},"
                        f"{data.interval_starts[t]},{data.cases[i, t]},100")
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "o1"
    assert main(["spacetime", str(tmp_path / "d.csv"), "--crs", "none", "--direction", "both",
                 "--secondary-time", "corrected", "--replications", "9", "--seed", "2",
                 "--out", str(out), "--quiet"]) == 0
    p = json.loads((out / "result.json").read_text())["parameters"]
    assert p["direction"] == "both" and p["secondary_time"] == "corrected"
    out = tmp_path / "o2"
    assert main(["spacetime", str(tmp_path / "d.csv"), "--crs", "none", "--analysis",
                 "prospective", "--adjust-earlier-analyses", "--prospective-start",
                 "2020/1/9", "--max-radius", "15", "--replications", "9", "--seed", "2",
                 "--out", str(out), "--quiet"]) == 0
    p = json.loads((out / "result.json").read_text())["parameters"]
    assert p["n_analyses"] == 4 and p["prospective_start"] == "2020/1/9"


@pytest.mark.skipif(not SAMPLES_SHARED.is_dir(), reason="../shared/data/reference absent")
def test_prm_scan_areas_and_adjustment_are_read(tmp_path):
    from scan.io.prm import satscan_prm_spacetime

    text = (SAMPLES_SHARED / "NewMexicoSpaceTimePoisson.prm").read_text()
    for value, direction in (("2", "low"), ("3", "both")):
        prm = tmp_path / f"nm{value}.prm"
        prm.write_text(text.replace("ScanAreas=1", f"ScanAreas={value}")
                       .replace("AdjustForEarlierAnalyses=n", "AdjustForEarlierAnalyses=y"))
        _, kw = satscan_prm_spacetime(prm, base_dir=SAMPLES_SHARED)
        assert kw["direction"] == direction
        assert "adjust_earlier_analyses" not in kw      # retrospective: SaTScan ignores it
    for name in ("NYCfever.cas", "NYCfever.geo"):
        (tmp_path / name).write_bytes((SAMPLES_SHARED / name).read_bytes())
    no_radius = _nyc_prm(tmp_path, AdjustForEarlierAnalyses="y",
                         ProspectiveStartDate="2001/11/20", UseDistanceFromCenterOption="n")
    with pytest.raises(ScanParameterError, match="set UseDistanceFromCenterOption=y"):
        satscan_prm_spacetime(no_radius)


@pytest.mark.skipif(not (VARIANTS / "NewMexico_scanareas_both").is_dir(),
                    reason="SaTScan sample outputs absent")
def test_new_mexico_both_directions_as_satscan_printed():
    """SaTScan 10.3.2's NewMexico ScanAreas=3 variant: the same clusters (LLR, counties, time
    frame) in the same order, high and low together."""
    sys.path.insert(0, str(SATSCAN_BUILD))
    from satscan_results import load_results

    from scan.io.prm import satscan_prm_spacetime

    folder = VARIANTS / "NewMexico_scanareas_both"
    sat = load_results(str(folder))["clusters"]
    prm = next(folder.glob("*.run.prm"))
    data, kw = satscan_prm_spacetime(prm)
    assert kw["direction"] == "both"
    kw["n_replications"] = 0
    res = spacetime_scan(data, **kw)
    for c, s in zip(res.clusters, sat):
        assert c.llr == pytest.approx(s["statistic"], abs=1e-6)
        assert sorted(c.members) == sorted(s["locations"])
    assert any(c.observed < c.expected for c in res.clusters[:len(sat)])
