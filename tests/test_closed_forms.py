"""Log-likelihood ratios against closed forms and published values."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scan
from scan import _kernels as K


def test_satscan_published_poisson_llr():
    # SaTScan's unit tests: with 1,175 cases in all, 10 observed / 1 expected and 2 / 1
    # (published to six decimals, truncated).
    assert K.poisson_llr(10.0, 1.0, 1175.0) == pytest.approx(14.060436, abs=1e-6)
    assert K.poisson_llr(2.0, 1.0, 1175.0) == pytest.approx(0.386720, abs=1e-6)


def test_poisson_llr_zero_at_expected_and_symmetric():
    assert K.poisson_llr(5.0, 5.0, 100.0) == pytest.approx(0.0, abs=1e-12)
    # (c, e) -> (C - c, C - e) leaves the LLR unchanged
    assert K.poisson_llr(12.0, 5.0, 100.0) == pytest.approx(K.poisson_llr(88.0, 95.0, 100.0), rel=1e-12)


def test_bernoulli_llr_closed_form():
    # c = n: every person inside is a case.
    c, n, C, N = 4.0, 4.0, 10.0, 40.0
    want = (C - c) * math.log((C - c) / (N - n)) + (N - n - C + c) * math.log((N - n - C + c) / (N - n)) \
        - C * math.log(C / N) - (N - C) * math.log((N - C) / N)
    assert K.bernoulli_llr(c, n, C, N) == pytest.approx(want, rel=1e-12)
    assert K.bernoulli_llr(2.5, 10.0, 10.0, 40.0) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400), st.floats(0.01, 0.95), st.integers(0, 400))
def test_poisson_bound_is_an_upper_bound(C, share, c):
    c = min(c, C)
    e = share * C
    llr = K.poisson_llr(float(c), e, float(C))
    if c != e:
        assert K._llr_bound(K.POISSON, float(c), e, float(C), float(C)) * K.SAFETY >= llr


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 300), st.integers(1, 299), st.integers(0, 300), st.integers(1, 299))
def test_bernoulli_bound_is_an_upper_bound(N, n, c, C):
    n = min(n, N - 1)
    C = min(C, N - 1)
    c = min(c, C, n)
    if C - c > N - n:
        return
    e = n * C / N
    llr = K.bernoulli_llr(float(c), float(n), float(C), float(N))
    if c != e:
        assert K._llr_bound(K.BERNOULLI, float(c), float(n), float(C), float(N)) * K.SAFETY >= llr - 1e-12


def test_single_location_cluster_by_hand():
    # Three collinear locations; location 0 has all the excess.
    area = scan.study_area(["a", "b", "c"], [0.0, 10.0, 30.0], [0.0, 0.0, 0.0], [9, 1, 2],
                           [100, 100, 100], crs=None)
    res = scan.circular_scan(area, max_population_fraction=0.5, n_replications=0)
    c, e, C = 9.0, 4.0, 12.0
    assert res.most_likely.members == ("a",)
    assert res.most_likely.llr == pytest.approx(c * math.log(c / e) + (C - c) * math.log((C - c) / (C - e)))
    assert res.most_likely.relative_risk == pytest.approx((c / e) / ((C - c) / (C - e)))
    assert res.most_likely.observed_over_expected == pytest.approx(9 / 4)


@settings(max_examples=500, deadline=None)
@given(st.integers(2, 2000), st.floats(0.001, 0.999), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_quick_skip_tests_never_skip_a_winning_window(C, share, u, v):
    """_may_beat_* may only say False when the window's LLR is at most m."""
    e = share * C
    c_high = math.ceil(e + u * (C - e)) if e < C else C
    c_low = math.floor(u * e)
    for c, may_beat in ((c_high, K._may_beat_high), (c_low, K._may_beat_low)):
        if c == e or not 0 <= c <= C:
            continue
        llr = K.poisson_llr(float(c), e, float(C))
        m = v * 2 * llr  # half the time below the LLR, half above
        if llr > m:
            assert may_beat(K.POISSON, float(c), e, float(C), float(C), m)
