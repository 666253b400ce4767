"""Inquiry statistics against independent computations: scipy for the SIR, its interval and
p-values; brute force for Stone's statistic and the focused scan's LLR; exact enumeration of
every multinomial allocation for the Monte Carlo p-values; the engine for ordering and seeding."""
from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as ss

import scan
from scan import _kernels as K
from scan.data import indirect_expected
from scan.errors import ScanParameterError
from scan.inquiry import stats as S
from scan.io.long import read_long_csv
from scan.montecarlo import null_problem, replicate_maxima
from scan.windows import Windows, build_windows

# --- SIR ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("o, e", [(0, 2.0), (1, 1.0), (3, 1.2), (10, 4.5), (57, 60.3),
                                  (250, 200.0), (4, 0.01)])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_sir_against_scipy_stats(o, e, confidence):
    r = S.sir(o, e, confidence=confidence)
    alpha = 1 - confidence
    assert r.sir == o / e
    low = ss.chi2.ppf(alpha / 2, 2 * o) / (2 * e) if o > 0 else 0.0
    assert r.ci_low == pytest.approx(low, rel=1e-10, abs=0)
    assert r.ci_high == pytest.approx(ss.chi2.ppf(1 - alpha / 2, 2 * o + 2) / (2 * e), rel=1e-10)
    assert r.p_value == pytest.approx(ss.poisson.sf(o - 1, e), rel=1e-10)
    assert r.mid_p == pytest.approx(ss.poisson.sf(o, e) + 0.5 * ss.poisson.pmf(o, e), rel=1e-10)


def test_sir_by_hand():
    r = S.sir(0, 2.0)
    assert (r.ci_low, r.p_value) == (0.0, 1.0)
    assert r.ci_high == pytest.approx(-math.log(0.025) / 2, rel=1e-12)   # e^{-2u} = 0.025
    assert r.mid_p == pytest.approx(1 - 0.5 * math.exp(-2), rel=1e-12)
    r = S.sir(1, 1.0)
    assert r.ci_low == pytest.approx(-math.log(0.975), rel=1e-12)        # 1 - e^{-u} = 0.025
    u = r.ci_high                                                         # P(X <= 1 | u) = 0.025
    assert math.exp(-u) * (1 + u) == pytest.approx(0.025, rel=1e-10)
    assert r.p_value == pytest.approx(1 - math.exp(-1), rel=1e-12)
    assert r.mid_p == pytest.approx(1 - 1.5 * math.exp(-1), rel=1e-12)
    assert r.to_dict()["sir"] == 1.0


@pytest.mark.parametrize("args, kw, match", [
    ((3, 0.0), {}, r"parameter 'expected' must be a positive finite number of expected cases; "
                   r"got 0\.0\. an area with nothing expected has no SIR"),
    ((3, float("nan")), {}, r"parameter 'expected' must be a positive finite number"),
    ((-1, 2.0), {}, r"parameter 'observed' must be a whole number of cases, zero or more; got -1"),
    ((2.5, 2.0), {}, r"parameter 'observed' must be a whole number of cases"),
    ((2, 2.0), {"confidence": 95}, r"parameter 'confidence' must be a number in \(0, 1\); got 95"),
])
def test_sir_errors(args, kw, match):
    with pytest.raises(ScanParameterError, match=match):
        S.sir(*args, **kw)


# --- ordering as the engine -----------------------------------------------------------------------

def random_area(n=40, seed=3, strata=False, coordinates="cartesian"):
    g = np.random.default_rng(seed)
    if coordinates == "latlong":
        x, y = -0.2 + 0.3 * g.random(n), 51.4 + 0.2 * g.random(n)
    else:
        x, y = np.round(g.random(n) * 10, 1), np.round(g.random(n) * 10, 1)   # many ties
    pop = g.integers(50, 500, n).astype(float)
    cases = g.poisson(pop / pop.sum() * 60)
    cases[0] += 1
    kw = {}
    if strata:
        ps = np.column_stack([pop * 0.6, pop * 0.4])
        cs = np.column_stack([cases // 2, cases - cases // 2])
        kw = dict(case_strata=cs, population_strata=ps, strata_names=["young", "old"])
    return scan.study_area([f"L{i:02d}" for i in range(n)], x, y, cases,
                           None if strata else pop, crs=None, coordinates=coordinates, **kw)


@pytest.mark.parametrize("coordinates", ["cartesian", "latlong"])
def test_focused_windows_are_the_engines_rows(coordinates):
    area = random_area(coordinates=coordinates)
    engine = build_windows(area.coords, area.expected, coordinates=coordinates)
    for i in range(area.n_locations):
        w, _ = S.focused_windows(area, area.ids[i], area.expected)
        size = engine.offsets[i + 1] - engine.offsets[i]
        np.testing.assert_array_equal(w.neighbors, engine.members(i, size))
        # a point at the location orders every area the same way
        order_point, _ = S.focus_order(area, tuple(area.coords[i]))
        np.testing.assert_array_equal(order_point[:size], engine.members(i, size))


def test_ties_ordered_by_coordinates_then_index():
    area = scan.study_area(list("pqrsz"), [1, 0, -1, 0, 0], [0, 1, 0, -1, 0], [1, 1, 1, 1, 1],
                           [1, 1, 1, 1, 1], crs=None)
    order, d2 = S.focus_order(area, (0.0, 0.0))
    assert area.ids[order].tolist() == ["z", "r", "s", "q", "p"]   # (0,0), then x, then y
    np.testing.assert_array_equal(d2, [1, 1, 1, 1, 0])


# --- Stone's test ---------------------------------------------------------------------------------

def brute_stone(cases, e, order):
    best, best_k, o_sum, e_sum = -1.0, 0, 0.0, 0.0
    for k, j in enumerate(order, start=1):
        o_sum += cases[j]
        e_sum += e[j]
        if e_sum > 0 and o_sum / e_sum > best:
            best, best_k = o_sum / e_sum, k
    return best, best_k


@pytest.mark.parametrize("focus", ["L00", "L07", (5.0, 5.0), (0.0, 10.0)])
def test_stone_statistic_is_brute_force(focus):
    area = random_area(strata=True)
    r = S.stone_test(area, focus, n_replications=0, rng=1)
    order, _ = S.focus_order(area, focus)
    e = indirect_expected(area.case_strata, area.population_strata)
    T, k = brute_stone(area.cases, e, order)
    assert r.statistic == pytest.approx(T, rel=1e-12) and r.n_areas == k
    assert r.members == tuple(area.ids[order[:k]])
    assert r.observed == area.cases[order[:k]].sum()
    assert r.expected == pytest.approx(e[order[:k]].sum(), rel=1e-12)
    assert r.p_value == 1.0 and r.statistic >= 1.0


def test_stone_skips_prefixes_with_nothing_expected():
    T, k = S.stone_statistic(np.array([0, 2, 1]), np.cumsum([0.0, 1.0, 2.0]))
    assert (T[0], k[0]) == (2.0, 2)


def test_stone_replicates_come_from_their_own_seed_sequences():
    area = random_area()
    long = S.stone_test(area, "L03", n_replications=300, rng=11)
    short = S.stone_test(area, "L03", n_replications=100, rng=np.random.SeedSequence(11))
    np.testing.assert_array_equal(long.null_distribution[:100], short.null_distribution)
    order, _ = S.focus_order(area, "L03")
    r = 57
    g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(11, spawn_key=(r,))))
    draw = g.multinomial(area.total_cases, area.expected / area.expected.sum())
    assert long.null_distribution[r] == brute_stone(draw, area.expected, order)[0]
    assert long.seed == 11


# --- the focused scan ---------------------------------------------------------------------------

def brute_focused_llr(cases, e, order, fraction=0.5, min_cases=2):
    C, cap = float(cases.sum()), fraction * e.sum()
    best, best_m, c, w = 0.0, 0, 0.0, 0.0
    for m, j in enumerate(order, start=1):
        c += cases[j]
        w += e[j]
        if w > cap:
            break
        if c > w and c >= min_cases:
            llr = c * math.log(c / w) + ((C - c) * math.log((C - c) / (C - w)) if C > c else 0)
            if llr > best:
                best, best_m = llr, m
    return best, best_m


@pytest.mark.parametrize("focus", ["L00", "L05", "L17", (2.0, 8.0), (9.5, 0.5)])
@pytest.mark.parametrize("fraction", [0.5, 0.2])
def test_focused_llr_is_brute_force(focus, fraction):
    area = random_area(strata=True)
    r = S.focused_scan(area, focus, n_replications=0, rng=1, max_population_fraction=fraction)
    order, d2 = S.focus_order(area, focus)
    e = area.expected
    llr, m = brute_focused_llr(area.cases, e, order, fraction)
    assert r.llr == pytest.approx(llr, rel=1e-12, abs=1e-300)
    assert r.members == tuple(area.ids[order[:m]])
    if m:
        assert r.observed == area.cases[order[:m]].sum()
        assert r.expected == pytest.approx(e[order[:m]].sum(), rel=1e-12)
        assert r.radius == pytest.approx(math.sqrt(d2[order[m - 1]]), rel=1e-12)
        inside = r.observed / r.expected
        outside = (area.total_cases - r.observed) / (area.total_cases - r.expected)
        assert r.relative_risk == pytest.approx(inside / outside, rel=1e-12)


def test_focused_replicates_are_the_engines():
    """Replicate r of the focused scan is the engine's replicate r: the same maxima as the
    engine's driver on the engine's row for that centre, and never above the full scan's."""
    area = random_area()
    i = 4
    focused = S.focused_scan(area, area.ids[i], n_replications=256, rng=21)
    engine = build_windows(area.coords, area.expected)
    row = Windows(offsets=np.array([0, engine.offsets[i + 1] - engine.offsets[i]]),
                  neighbors=engine.members(i, engine.offsets[i + 1] - engine.offsets[i]),
                  max_population_fraction=0.5, max_radius=None)
    problem = null_problem(row, area.expected, float(area.total_cases), area.population,
                           K.POISSON, K.HIGH, 21, 2)
    np.testing.assert_array_equal(focused.null_distribution, replicate_maxima(problem, 256))
    full = scan.circular_scan(area, n_replications=256, rng=21)
    assert (focused.null_distribution <= full.null_distribution).all()
    assert focused.seed == 21


# --- exact enumeration of the Monte Carlo p-values -----------------------------------------------

def allocations(total, n):
    """Every way to put ``total`` cases in ``n`` areas."""
    for bars in itertools.combinations(range(total + n - 1), n - 1):
        edges = (-1,) + bars + (total + n - 1,)
        yield np.array([edges[t + 1] - edges[t] - 1 for t in range(n)])


def exact_p(area, order, statistic_of, observed):
    """P(statistic >= observed) under the multinomial null with probabilities E / C."""
    e = area.expected
    probs = e / e.sum()
    total = 0.0
    for alloc in allocations(int(area.total_cases), len(e)):
        if statistic_of(alloc, e, order) >= observed * (1 - 1e-9):
            total += ss.multinomial.pmf(alloc, int(area.total_cases), probs)
    return total


def within_monte_carlo_error(p_mc, p, R):
    """|p_mc - E p_mc| within 3 standard errors, p_mc = (1 + Binomial(R, p)) / (R + 1)."""
    mean = (1 + R * p) / (R + 1)
    se = math.sqrt(R * p * (1 - p)) / (R + 1)
    return abs(p_mc - mean) <= 3 * se + 1e-12, (p_mc, mean, se)


TINY_X, TINY_Y, TINY_POP = [0, 1, 0, 3], [0, 0, 1.5, 3], [12, 18, 15, 15]


@pytest.mark.parametrize("cases", [[3, 1, 1, 1], [3, 2, 0, 1], [2, 1, 2, 1], [4, 0, 1, 1]])
def test_monte_carlo_p_values_match_exact_enumeration(cases):
    R = 9999
    area = scan.study_area(list("abcd"), TINY_X, TINY_Y, cases, TINY_POP, crs=None)
    order, _ = S.focus_order(area, "a")

    stone = S.stone_test(area, "a", n_replications=R, rng=7)
    p = exact_p(area, order, lambda a, e, o: brute_stone(a, e, o)[0], stone.statistic)
    ok, detail = within_monte_carlo_error(stone.p_value, p, R)
    assert ok, detail

    focused = S.focused_scan(area, "a", n_replications=R, rng=7)
    assert focused.llr == pytest.approx(brute_focused_llr(area.cases, area.expected, order)[0],
                                        rel=1e-12)
    p = exact_p(area, order, lambda a, e, o: brute_focused_llr(a, e, o)[0], focused.llr)
    ok, detail = within_monte_carlo_error(focused.p_value, p, R)
    assert ok, detail


# --- Besag-Newell ---------------------------------------------------------------------------------

def test_besag_newell_by_hand():
    area = scan.study_area(list("abcd"), TINY_X, TINY_Y, [1, 2, 0, 3], TINY_POP, crs=None)
    # from 'a': a (1 case), b (3 in all) -> k = 3 needs 2 areas, E = 1.2 + 1.8
    r = S.besag_newell(area, "a", 3)
    assert (r.n_areas, r.members, r.observed) == (2, ("a", "b"), 3.0)
    assert r.expected == pytest.approx(3.0)
    assert r.p_value == pytest.approx(ss.poisson.sf(2, 3.0), rel=1e-12)
    r = S.besag_newell(area, "a", 4)     # c has none: a, b, c, d
    assert r.n_areas == 4 and r.p_value == pytest.approx(ss.poisson.sf(3, 6.0), rel=1e-12)
    r = S.besag_newell(area, "a", 1)
    assert r.n_areas == 1 and r.p_value == pytest.approx(1 - math.exp(-1.2), rel=1e-12)


# --- expected counts used by the focused tests ----------------------------------------------------

def test_focused_tests_standardise_internally_with_reference_rates(tmp_path):
    (tmp_path / "l.csv").write_text("id,x,y\na,0,0\nb,1,0\nc,0,2\n")
    (tmp_path / "c.csv").write_text("id,age,cases,population\na,young,1,100\na,old,3,50\n"
                                    "b,young,1,200\nb,old,1,20\nc,young,2,100\nc,old,0,10\n")
    (tmp_path / "r.csv").write_text("age,rate\nyoung,0.001\nold,0.01\n")
    area = read_long_csv(tmp_path / "c.csv", locations=tmp_path / "l.csv",
                         strata=("age",), crs=None,
                         reference_rates=tmp_path / "r.csv", years=5)
    internal = S.internal_expected(area)
    np.testing.assert_allclose(internal, indirect_expected(area.case_strata,
                                                          area.population_strata))
    assert not np.allclose(internal, area.expected)
    r = S.stone_test(area, "a", n_replications=0)
    assert r.expected == pytest.approx(internal[0])
    # the SIR uses the external expected count, unscaled
    assert S.sir(int(area.cases[0]), area.expected_external[0]).expected == pytest.approx(
        (100 * 0.001 + 50 * 0.01) * 5)


def test_supplied_expected_counts_are_rescaled_to_the_total():
    area = random_area()
    doubled = 2 * area.expected
    a = S.stone_test(area, "L02", n_replications=50, rng=3)
    b = S.stone_test(area, "L02", n_replications=50, rng=3, expected=doubled)
    assert a.statistic == pytest.approx(b.statistic, rel=1e-12)


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda a: S.stone_test(a, "L1", n_replications=0),
     r"parameter 'focus' must be a location id of the study area .* or a point \(x, y\); got "
     r"'L1'\. did you mean 'L\d\d'"),
    (lambda a: S.stone_test(a, "zzz", n_replications=0),
     r"got 'zzz'\. ids look like 'L00', 'L01', 'L02'"),
    (lambda a: S.focused_scan(a, (1.0,), n_replications=0),
     r"parameter 'focus' must be a location id \(str\) or a point \(x, y\) of two finite numbers"),
    (lambda a: S.focused_scan(a, (1.0, float("nan")), n_replications=0),
     r"parameter 'focus' must be a location id"),
    (lambda a: S.focused_scan(a, "L01", max_population_fraction=0.7, n_replications=0),
     r"parameter 'max_population_fraction' must be in \(0, 0\.5\]; got 0\.7"),
    (lambda a: S.focused_scan(a, "L01", min_cases=0, n_replications=0),
     r"parameter 'min_cases' must be a whole number >= 1"),
    (lambda a: S.stone_test(a, "L01", n_replications=-1),
     r"parameter 'n_replications' must be a whole number >= 0; got -1"),
    (lambda a: S.stone_test(a, "L01", n_replications=0, expected=[1.0, 2.0]),
     r"parameter 'expected' must be one non-negative finite expected count per location \(40\)"),
    (lambda a: S.besag_newell(a, "L01", 10_000),
     r"parameter 'k' must be at most the total cases \(\d+\); got 10000"),
    (lambda a: S.besag_newell(a, "L01", 0), r"parameter 'k' must be a whole number of cases >= 1"),
])
def test_errors(call, match):
    with pytest.raises(ScanParameterError, match=match):
        call(random_area())


def test_import_is_light():
    code = ("import sys, scan, scan.inquiry, scan.io.long; "
            "assert 'scipy' not in sys.modules, 'scipy imported'; "
            "assert 'scan.inquiry.stats' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
