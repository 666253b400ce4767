"""The Numba scan against the slow pure-Python reference: same LLRs, same clusters."""
import numpy as np
import pytest
import reference
from conftest import random_dataset

import scan
from scan import _kernels as K
from scan.spatial import model_arrays
from scan.windows import build_windows

CASES = [(seed, model, direction)
         for model in ("poisson", "bernoulli")
         for direction in ("high", "low", "both")
         for seed in range(60)]


def _reference_clusters(area, model, direction, max_fraction=0.5, max_radius=None):
    """SaTScan's secondary clusters (ties ranked by the ids' sorted order, overlap as SaTScan
    decides it: :func:`reference.satscan_clusters`)."""
    weights, _, _ = model_arrays(area, model)
    return reference.satscan_clusters(area.coords, area.cases, weights, area.ids, model,
                                      direction, area.coordinates, max_fraction, max_radius)


@pytest.mark.parametrize("seed,model,direction", CASES)
def test_clusters_equal_reference(seed, model, direction):
    coordinates = "latlong" if seed % 5 == 4 else "cartesian"
    area = random_dataset(seed, model, coordinates)
    max_fraction = [0.5, 0.25, 0.1][seed % 3]
    result = scan.circular_scan(area, model=model, direction=direction,
                                max_population_fraction=max_fraction, n_replications=0)
    expected = _reference_clusters(area, model, direction, max_fraction)
    assert len(result.clusters) == len(expected)
    for got, (llr, centre, members) in zip(result.clusters, expected):
        assert got.llr == pytest.approx(llr, rel=1e-9, abs=0)
        assert got.center_index == centre
        assert sorted(got.member_indices.tolist()) == members


@pytest.mark.parametrize("seed", range(12))
def test_max_radius_equals_reference(seed):
    area = random_dataset(100 + seed)
    radius = 35.0
    result = scan.circular_scan(area, max_radius=radius, n_replications=0)
    expected = _reference_clusters(area, "poisson", "high", 0.5, radius)
    assert [(c.center_index, sorted(c.member_indices.tolist())) for c in result.clusters] == \
        [(i, m) for _, i, m in expected]
    assert all(c.radius <= radius for c in result.clusters)


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
@pytest.mark.parametrize("direction", ["high", "low", "both"])
@pytest.mark.parametrize("block", [1, 7, 64])
def test_replicate_kernel_max_equals_exhaustive_max(model, direction, block):
    """The bound-skipping block kernel returns the exact maximum over all windows."""
    area = random_dataset(7, model, n=18)
    weights, C, W = model_arrays(area, model)
    wins = build_windows(area.coords, weights, max_population_fraction=0.5)
    rng = np.random.default_rng(block)
    if model == "poisson":
        draws = rng.multinomial(int(C), weights / weights.sum(), size=block).T
    else:
        draws = np.stack([rng.multivariate_hypergeometric(area.population.astype(np.int64), int(C))
                          for _ in range(block)], axis=1)
    draws = np.ascontiguousarray(draws, dtype=np.int32)
    out = np.zeros(block)
    K.block_maxima(wins.offsets, wins.neighbors, weights, draws, C, W, K.MODEL_CODES[model],
                   K.DIRECTION_CODES[direction], 2, np.ones(wins.n_rows), out)
    ref_wins = reference.windows(area.coords, weights)
    for b in range(block):
        want = reference.max_llr(ref_wins, draws[:, b], weights, model, direction)
        assert out[b] == pytest.approx(want, rel=1e-12, abs=1e-300)


def test_windows_equal_reference_order():
    area = random_dataset(3, n=20)  # integer coordinates: many distance ties
    wins = build_windows(area.coords, area.population, max_population_fraction=0.5)
    ref = reference.windows(area.coords, area.population)
    for i, members in enumerate(ref):
        assert wins.neighbors[wins.offsets[i]:wins.offsets[i + 1]].tolist() == members


def test_equal_llr_clusters_rank_fewer_locations_first():
    """SaTScan's ranking of equally likely clusters: fewer locations, then lower centre."""
    from types import SimpleNamespace

    from scan.pipeline import Candidates
    from scan.secondary import no_overlap
    from scan.windows import Windows

    w = Windows(offsets=np.array([0, 2, 3, 4]), neighbors=np.array([0, 1, 1, 2], dtype=np.int32),
                max_population_fraction=0.5, max_radius=None)
    analysis = SimpleNamespace(data=SimpleNamespace(n_locations=3),
                               members=lambda windows, row, size: windows.members(row, size))
    kept = no_overlap(Candidates(statistic=np.array([5.0, 5.0, 5.0]), size=np.array([2, 1, 1])), w,
                      analysis)
    assert kept == [1, 2]


@pytest.mark.parametrize("model", ["poisson", "bernoulli"])
@pytest.mark.parametrize("direction", ["high", "low", "both"])
def test_row_scales_multiply_the_statistic_exactly(model, direction):
    """Per-row multipliers (the non-compactness penalty of ellipses): the observed kernel and
    the bound-skipping replicate kernel both give max over windows of LLR x scale[row]."""
    area = random_dataset(11, model, n=16)
    weights, C, W = model_arrays(area, model)
    wins = build_windows(area.coords, weights, max_population_fraction=0.5)
    rng = np.random.default_rng(3)
    scale = rng.uniform(0.3, 1.0, wins.n_rows)
    ref_wins = reference.windows(area.coords, weights)
    best_llr = np.zeros(wins.n_rows)
    best_size = np.zeros(wins.n_rows, dtype=np.int64)
    K.best_window_per_centre(wins.offsets, wins.neighbors, weights, area.cases.astype(float), C,
                             W, K.MODEL_CODES[model], K.DIRECTION_CODES[direction], 2, scale,
                             best_llr, best_size)
    for i, members in enumerate(ref_wins):
        want = max([reference.window_llr(area.cases[members[:k + 1]].sum(),
                                         weights[members[:k + 1]].sum(), C, W, model, direction)
                    for k in range(len(members))], default=0.0) * scale[i]
        assert best_llr[i] == pytest.approx(want, rel=1e-9, abs=1e-300)
    if model == "poisson":
        draws = rng.multinomial(int(C), weights / weights.sum(), size=32).T
    else:
        draws = np.stack([rng.multivariate_hypergeometric(area.population.astype(np.int64), int(C))
                          for _ in range(32)], axis=1)
    draws = np.ascontiguousarray(draws, dtype=np.int32)
    out = np.zeros(32)
    K.block_maxima(wins.offsets, wins.neighbors, weights, draws, C, W, K.MODEL_CODES[model],
                   K.DIRECTION_CODES[direction], 2, scale, out)
    for b in range(32):
        want = max(max([reference.window_llr(draws[members[:k + 1], b].sum(),
                                             weights[members[:k + 1]].sum(), C, W, model,
                                             direction) for k in range(len(members))],
                       default=0.0) * scale[i] for i, members in enumerate(ref_wins))
        assert out[b] == pytest.approx(want, rel=1e-9, abs=1e-300)
