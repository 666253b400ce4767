"""The window build (issue 12): the two-pass partial-selection build gives exactly the windows
of the previous build (tests/legacy_windows.py: same rows, same order), in the smallest id type,
with an up-front estimate that bounds the real size and a refusal, with figures and a fix, when
memory is short."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_dataset
from legacy_windows import legacy_build

from scan import _kernels as K
import legacy_st_kernels as legacy  # noqa: E402  (tests/: the previous kernels)
from scan.errors import ScanParameterError
from scan.windows import (Windows, build_windows, estimate_windows, index_dtype,
                          memory_budget)


def _assert_same(new, old):
    offsets, neighbors = old
    np.testing.assert_array_equal(new.offsets, offsets)
    assert new.neighbors.dtype == index_dtype(int(neighbors.max()) + 1 if neighbors.size else 1)
    np.testing.assert_array_equal(new.neighbors.astype(np.int64), neighbors.astype(np.int64))


@pytest.mark.parametrize("seed", range(40))
def test_identical_to_the_previous_build_on_small_random_data(seed):
    coordinates = "latlong" if seed % 5 == 4 else "cartesian"
    area = random_dataset(seed, coordinates=coordinates)   # every 3rd: integer grid, ties
    for fraction in (0.5, 0.25, 0.1, 0.01):
        for radius in (None, 2.0, 30.0):
            kw = dict(coordinates=coordinates, max_population_fraction=fraction,
                      max_radius=radius)
            _assert_same(build_windows(area.coords, area.population, **kw),
                         legacy_build(area.coords, area.population, **kw))


def _grid_area(n, seed, ties=True):
    """n locations; with ties, on a small integer grid (many equal distances and duplicate
    points), populations with repeats (equal cumulative sums at the cap)."""
    rng = np.random.default_rng(seed)
    side = max(3, int(math.sqrt(n) / 2))
    xy = rng.integers(0, side, (n, 2)).astype(float) if ties else rng.uniform(0, 100, (n, 2))
    weight = rng.choice([1.0, 2.0, 5.0, 0.0, 0.5], n) if ties else rng.uniform(1, 9, n)
    return xy, weight


@pytest.mark.parametrize("n,seed,ties", [(300, 1, True), (300, 2, False), (1000, 3, True),
                                         (2000, 4, True), (2000, 5, False)])
@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.02])
def test_identical_to_the_previous_build_at_several_sizes(n, seed, ties, fraction):
    xy, weight = _grid_area(n, seed, ties)
    _assert_same(build_windows(xy, weight, max_population_fraction=fraction),
                 legacy_build(xy, weight, max_population_fraction=fraction))


def test_identical_for_focus_centres_and_a_radius():
    xy, weight = _grid_area(800, 7)
    centres = np.array([[1.5, 2.0], [0.0, 0.0], [7.0, 3.0]])
    _assert_same(build_windows(xy, weight, centres=centres, max_radius=3.0),
                 legacy_build(xy, weight, centres=centres, max_radius=3.0))


def test_ids_are_uint16_up_to_65536_locations_else_int32():
    assert index_dtype(1) == np.uint16 and index_dtype(65_536) == np.uint16
    assert index_dtype(65_537) == np.int32
    rng = np.random.default_rng(0)
    n = 70_000
    xy = rng.uniform(0, 1000, (n, 2))
    weight = rng.uniform(1, 2, n)
    centres = xy[[3, 60_000, 69_999]]
    w = build_windows(xy, weight, centres=centres, max_population_fraction=0.001)
    assert w.neighbors.dtype == np.int32 and w.neighbors.max() >= 65_536
    _assert_same(w, legacy_build(xy, weight, centres=centres, max_population_fraction=0.001))
    assert Windows.single([0]).neighbors.dtype == np.uint16


def test_the_neighbour_array_is_one_allocation_owned_by_the_windows():
    xy, weight = _grid_area(500, 9)
    w = build_windows(xy, weight)
    assert w.neighbors.flags.owndata and w.neighbors.base is None
    assert len(w.neighbors) == w.n_windows


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
def test_kernels_agree_across_id_types(model):
    """The kernels compile for uint16 and int32 ids and give the same numbers."""
    area = random_dataset(12, model, n=20)
    weights = area.expected if model == "poisson" else area.population
    C, W = float(area.total_cases), float(weights.sum())
    w16 = build_windows(area.coords, weights)
    n32 = w16.neighbors.astype(np.int32)
    scale = np.linspace(0.5, 1.0, w16.n_rows)
    for neighbors in (w16.neighbors, n32):
        llr, size = np.zeros(w16.n_rows), np.zeros(w16.n_rows, dtype=np.int64)
        K.best_window_per_centre(w16.offsets, neighbors, weights, area.cases.astype(float), C, W,
                                 K.MODEL_CODES[model], K.BOTH, 2, scale, llr, size)
        if neighbors is w16.neighbors:
            first = (llr.copy(), size.copy())
        else:
            np.testing.assert_array_equal(llr, first[0])
            np.testing.assert_array_equal(size, first[1])
    rng = np.random.default_rng(1)
    draws = np.ascontiguousarray(rng.poisson(2.0, (20, 8)), dtype=np.int32)
    outs = []
    for neighbors in (w16.neighbors, n32):
        out = np.zeros(8)
        K.block_maxima(w16.offsets, neighbors, weights, draws, float(draws[:, 0].sum()), W,
                       K.MODEL_CODES[model], K.HIGH, 2, scale, out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_spacetime_kernels_agree_across_id_types():
    area = random_dataset(13, n=15)
    w = build_windows(area.coords, area.population)
    T = 5
    rng = np.random.default_rng(2)
    cases = rng.poisson(1.0, (15, T)).astype(float)
    expected = np.full((15, T), cases.sum() / (15 * T))
    cum = lambda a: np.concatenate([np.zeros((15, 1)), np.cumsum(a, axis=1)], axis=1)  # noqa
    results = []
    for neighbors in (w.neighbors, w.neighbors.astype(np.int32)):
        out = [np.zeros(w.n_rows), np.zeros(w.n_rows, dtype=np.int64),
               np.zeros(w.n_rows, dtype=np.int64), np.zeros(w.n_rows, dtype=np.int64)]
        legacy.best_cylinder_per_centre(w.offsets, neighbors, cum(cases), cum(expected),
                                    float(cases.sum()), 1, 3, 1, 2, np.ones(w.n_rows), *out)
        results.append(out)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# --- the estimate --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["circle", "ellipse"])
@pytest.mark.parametrize("seed", range(6))
def test_the_estimate_bounds_the_real_size(seed, shape):
    """Every row sampled (small data): the estimate is pass 1's count, which can only count
    too many (the whole tie group at the cap; without ties at most one location per row); with
    fewer rows sampled than built the strict bound (every row holding the most locations that
    fit under the cap) still bounds it."""
    xy, weight = _grid_area(60 + 20 * seed, seed, ties=seed % 2 == 0)
    fraction = [0.5, 0.2, 0.05][seed % 3]
    kw = dict(max_population_fraction=fraction, shape=shape, ellipse_shapes=(2, 3),
              ellipse_angles=(3, 2))
    w = build_windows(xy, weight, **kw)
    full = estimate_windows(xy, weight, sample=10**9, **kw)
    assert full.sampled == w.n_rows == full.n_rows
    assert w.n_windows <= full.n_windows
    if seed % 2:
        assert full.n_windows <= w.n_windows + w.n_rows
    assert full.n_windows_bound >= w.n_windows
    some = estimate_windows(xy, weight, sample=16, **kw)
    assert some.sampled == 16 and some.n_windows_bound >= w.n_windows
    assert some.bytes > some.n_windows * some.itemsize and some.seconds >= 0


def test_the_estimate_is_close_on_uniform_data():
    """Uniform data: the windows of the 128 sampled rows differ little from row to row, so the
    estimate is within a few percent (a check of the scaling, not a timing)."""
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (3000, 2))
    weight = rng.uniform(1000, 2000, 3000)
    w = build_windows(xy, weight, max_population_fraction=0.1)
    est = estimate_windows(xy, weight, max_population_fraction=0.1)
    assert abs(est.n_windows - w.n_windows) < 0.1 * w.n_windows


# --- memory: the refusal --------------------------------------------------------------------------

def _area(n=3000):
    rng = np.random.default_rng(8)
    return rng.uniform(0, 100, (n, 2)), rng.uniform(1, 2, n)


def test_refuses_with_the_figures_and_the_fix():
    xy, weight = _area()
    with pytest.raises(ScanParameterError, match=(
            r"parameter 'max_population_fraction' \(--max-population-fraction\) must be small "
            r"enough for the windows to fit in memory \(about [\d,]+ windows in 3,000 rows "
            r"\([\d.]+ MiB with 2-byte neighbour ids\), about [\d.]+ s to build, with 1 MiB "
            r"available\); got 0.5\. Use a smaller window \(--max-population-fraction [\d.e-]+ "
            r"would fit about\), a --max-radius, fewer ellipse shapes or angles, or the Dask "
            r"centre-partitioned mode.*SCAN_MEMORY_LIMIT")):
        build_windows(xy, weight, memory_limit=2**20)


def test_refuses_after_the_exact_count_when_the_sample_underestimates():
    """Few rows (no sample): the exact count of pass 1 decides, before the allocation."""
    xy, weight = _area(100)
    with pytest.raises(ScanParameterError, match=r"about [\d,]+ windows in 100 rows \([\d]+ "
                                                 r"KiB with 2-byte neighbour ids\).*with 1 "
                                                 r"KiB available"):
        build_windows(xy, weight, memory_limit=1024)


def test_memory_limit_overrides(monkeypatch):
    xy, weight = _area()
    monkeypatch.setenv("SCAN_MEMORY_LIMIT", "1M")
    with pytest.raises(ScanParameterError, match="with 1 MiB available"):
        build_windows(xy, weight)
    assert build_windows(xy, weight, memory_limit=False).n_windows > 0
    monkeypatch.setenv("SCAN_MEMORY_LIMIT", "none")
    assert build_windows(xy, weight).n_windows > 0
    monkeypatch.setenv("SCAN_MEMORY_LIMIT", "lots")
    with pytest.raises(ScanParameterError, match=r"'SCAN_MEMORY_LIMIT' must be a size such "
                                                 r"as 8G"):
        build_windows(xy, weight)


def test_memory_budget_reads_sizes_and_meminfo(monkeypatch):
    monkeypatch.delenv("SCAN_MEMORY_LIMIT", raising=False)
    assert memory_budget("8G") == 8 * 2**30 and memory_budget("512MiB") == 512 * 2**20
    assert memory_budget(12345) == 12345 and memory_budget(False) is None
    assert memory_budget("none") is None
    if Path("/proc/meminfo").is_file():
        assert memory_budget() > 0


def test_the_scan_refuses_before_any_work(monkeypatch):
    import scan

    monkeypatch.setenv("SCAN_MEMORY_LIMIT", "8K")
    area = scan.borough_study_area("cancer")
    with pytest.raises(ScanParameterError, match="fit in memory"):
        scan.circular_scan(area, n_replications=0)


# --- scale: 35,000 locations at 50% ------------------------------------------------------------

PEAK = """
import math, sys, numpy as np, psutil, threading, time
from scan.windows import build_windows
n = 35_000
rng = np.random.default_rng(0)
side = 1000.0 * math.sqrt(n)
xy = np.column_stack([rng.uniform(0, side, n), rng.uniform(0, side, n)])
weight = rng.integers(1200, 3000, n).astype(float)
proc, peak, done = psutil.Process(), [0], []
def watch():
    while not done:
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.02)
t = threading.Thread(target=watch); t.start()
w = build_windows(xy, weight, max_population_fraction=0.5)
done.append(1); t.join()
peak[0] = max(peak[0], proc.memory_info().rss)
print(w.n_windows, w.neighbors.dtype, peak[0])
"""


@pytest.mark.slow
def test_35000_locations_at_50_percent_peak_under_2_gib():
    """England-sized: 35,000 locations, 50% circles, about 612 million windows: the whole
    process peaks under 2 GiB (the previous build: 5.1 GiB)."""
    env = {**os.environ, "SCAN_MEMORY_LIMIT": "none"}
    out = subprocess.run([sys.executable, "-c", PEAK], capture_output=True, text=True,
                         check=True, env=env, timeout=3600).stdout.split()
    n_windows, dtype, peak = int(out[0]), out[1], int(out[2])
    assert dtype == "uint16" and n_windows > 6e8
    assert peak <= 2 * 2**30


@pytest.mark.parametrize("coordinates", ["cartesian", "latlong"])
def test_large_groups_of_equal_distances(coordinates):
    """Hundreds of locations at one point, or on one circle around the centres: long tie
    groups are ordered by the coordinates, then the index, as short ones are."""
    rng = np.random.default_rng(6)
    xy = np.zeros((600, 2))
    xy[:250] = [0.5, 51.5]                                     # one point, 250 times
    angle = rng.choice(np.arange(0, 360, 1.5), 200, replace=False)
    xy[250:450] = np.column_stack([0.5 + np.cos(np.radians(angle)),   # one circle, exact
                                   51.5 + np.sin(np.radians(angle))]) if coordinates == \
        "cartesian" else np.column_stack([rng.choice([0.4, 0.6], 200), np.full(200, 51.5)])
    xy[450:] = rng.uniform([-1, 50], [2, 53], (150, 2))
    weight = rng.choice([1.0, 2.0, 3.0], 600)
    for fraction in (0.5, 0.2):
        kw = dict(coordinates=coordinates, max_population_fraction=fraction)
        _assert_same(build_windows(xy, weight, **kw), legacy_build(xy, weight, **kw))
