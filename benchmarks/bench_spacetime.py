"""Space-time scans: the cylinder kernel against the spatial kernel, the previous cylinder
kernel and the vectorised NumPy reference, all in the same run; and the surveillance target of
issue 12 (5,000 locations x 520 weeks, prospective, circles up to 10% of the population,
windows of at most 4 weeks, 999 replications).

    python benchmarks/bench_spacetime.py            # prints a Markdown report
    python benchmarks/bench_spacetime.py --quick    # one repeat, fewer reference replicates
    python benchmarks/bench_spacetime.py --write    # and write benchmarks/RESULTS_spacetime.md

Measured (the machine is shared: medians of repeats, and ratios from the same run):

1. **Kernel throughput, one core**: evaluations per second of one block of 64 replicates
   (cylinders x replicates for the space-time kernels, windows x replicates for the spatial
   kernel) on the same circles: the cylinder kernel (``block_maxima_cyl``), the previous one
   (``block_maxima_st``, every prefix index kept; blocks of 8 as it ran them for large tables)
   and the spatial kernel (``_kernels.block_maxima``, the circles' total counts).  Replicate
   data: Poisson draws around the expected counts.  Cases: the surveillance target and the
   115 x 52-week retrospective scan.
2. **Whole scans** (``spacetime_scan``, every thread, after an untimed warm-up): the
   surveillance target for both models (with the up-front estimate beside it), and 115
   locations x 52 weeks retrospective / prospective Poisson against the NumPy reference
   (``tests/reference_spacetime.max_llr_numpy``) timed on a few replicates and extrapolated.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import reference_spacetime as ref  # noqa: E402

from scan import _kernels as K  # noqa: E402
from scan import _st_kernels as SK  # noqa: E402
import legacy_st_kernels as legacy  # noqa: E402  (tests/: the previous kernels)
from scan.data import build_spacetime_data  # noqa: E402
from scan.datasets import borough_spacetime  # noqa: E402
from scan.spacetime import spacetime_scan  # noqa: E402
from scan.windows import build_windows  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)

R = 999
N_LOCATIONS, N_WEEKS = 115, 52
BIG = dict(n=5_000, weeks=520, fraction=0.1, max_weeks=4)


def synthetic(n=N_LOCATIONS, weeks=N_WEEKS, seed=0):
    rng = np.random.default_rng(seed)
    side = 1_000.0 * math.sqrt(n)
    xy = rng.uniform(0, side, (n, 2))
    pop = rng.integers(1_200, 3_000, n).astype(float)
    start = np.datetime64("2023-01-02")
    cases = rng.poisson(pop[:, None] * 0.0005 * np.ones(weeks))
    loc, t = np.nonzero(cases)
    return build_spacetime_data(np.arange(n), xy, case_loc=loc, case_day=start + 7 * t,
                                case_count=cases[loc, t], start=start,
                                end=start + 7 * weeks - 1, time_unit="week",
                                census_loc=np.arange(n), census_day=np.full(n, start),
                                census_value=pop, crs=None, source="synthetic")


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# --- 1. kernels, one core ---------------------------------------------------------------------

def kernel_rates(data, fraction, max_len, prospective, repeats, previous=True):
    """Evaluations per second of the three kernels on the same circles, one block each."""
    n, T = data.n_locations, data.n_intervals
    w = build_windows(data.coords, data.expected.sum(axis=1), max_population_fraction=fraction)
    tw = SK.TimeWindows(T, 1, max_len, T if prospective else 1)
    cum_e = np.zeros((n, T + 1))
    cum_e[:, 1:] = np.cumsum(data.expected, axis=1)
    C = float(data.total_cases)
    rng = np.random.default_rng(1)
    B = 64
    cells = rng.poisson(data.expected[:, :, None] * np.ones(B)).astype(np.int32)
    full = np.zeros((n, T + 1, B), dtype=np.int32)
    np.cumsum(cells, axis=1, out=full[:, 1:, :])
    at = full[:, tw.points, :]
    draws = np.ascontiguousarray(at - at[:, :1, :])
    ce = np.ascontiguousarray(cum_e[:, tw.points])
    ones = np.ones(w.n_rows)
    out = np.zeros(B)
    cylinders = w.n_windows * len(tw)

    def new():
        SK.block_maxima_cyl(w.offsets, w.neighbors, draws, ce, C, tw.lo, tw.hi, K.HIGH, 2, ones,
                            out)

    new()
    t_new = median_time(new, repeats)
    spatial = np.ascontiguousarray(full[:, T, :])
    weights = np.ascontiguousarray(data.expected.sum(axis=1))

    def flat():
        K.block_maxima(w.offsets, w.neighbors, weights, spatial, C, C, K.POISSON, K.HIGH, 2,
                       ones, out)

    flat()
    t_spatial = median_time(flat, repeats)
    rates = {"cylinders": cylinders, "circles": w.n_windows, "time_windows": len(tw),
             "points": tw.n_points, "new": cylinders * B / t_new,
             "spatial": w.n_windows * B / t_spatial}
    if previous:
        b_old = 8
        old_draws = np.ascontiguousarray(full[:, :, :b_old])
        out8 = np.zeros(b_old)

        def old():
            legacy.block_maxima_st(w.offsets, w.neighbors, old_draws, cum_e, C, 1, max_len,
                               T if prospective else 1, 2, ones, out8)

        old()
        rates["previous"] = cylinders * b_old / median_time(old, 1)
    return rates


# --- 2. whole scans ---------------------------------------------------------------------------

def whole_scan(data, repeats, **kw):
    spacetime_scan(data, n_replications=R, rng=1, **kw)                  # warm-up
    results = []

    def one():
        results.append(spacetime_scan(data, n_replications=R, rng=len(results) + 2, **kw))

    seconds = median_time(one, repeats)
    return seconds, results[-1]


def time_numpy(data, analysis, n_reps):
    w = build_windows(data.coords, data.expected.sum(axis=1))
    circles = [w.neighbors[w.offsets[i]:w.offsets[i + 1]].astype(int)
               for i in range(data.n_locations)]
    max_len = N_WEEKS // 2
    rng = np.random.default_rng(0)
    p = (data.expected / data.expected.sum()).ravel()
    tables = [rng.multinomial(data.total_cases, p).reshape(data.cases.shape)
              for _ in range(n_reps)]
    t0 = time.perf_counter()
    for tab in tables:
        ref.max_llr_numpy(circles, tab, data.expected, 1, max_len, analysis == "prospective")
    return (time.perf_counter() - t0) / n_reps


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", action="store_true",
                    help="also write the report to benchmarks/RESULTS_spacetime.md")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else 3
    big = synthetic(BIG["n"], BIG["weeks"])
    small = synthetic()
    k_big = kernel_rates(big, BIG["fraction"], BIG["max_weeks"], True, repeats)
    k_small = kernel_rates(small, 0.5, N_WEEKS // 2, False, repeats)
    surveillance = {}
    for model in ("poisson", "permutation"):
        surveillance[model] = whole_scan(big, repeats, model=model, analysis="prospective",
                                         max_population_fraction=BIG["fraction"],
                                         max_temporal_length=BIG["max_weeks"])
    rows = []
    for analysis, n_ref in (("retrospective", 2 if args.quick else 5),
                            ("prospective", 5 if args.quick else 20)):
        seconds, _ = whole_scan(small, repeats, analysis=analysis)
        rows.append((analysis, seconds, time_numpy(small, analysis, n_ref), n_ref))
    borough_s, _ = whole_scan(borough_spacetime(), repeats)

    lines = [
        "# Space-time scan benchmark",
        "",
        f"Machine: {describe()} (at the end); Numba threads {nb.get_num_threads()}. Speed "
        "drifts by up to 1.5x over minutes on this machine, so absolute times vary between "
        f"runs; medians of {repeats} run(s), ratios from the same run.",
        "",
        "Targets of issue 12: the cylinder kernel within 2x of the spatial kernel's evaluations "
        f"per second - {'met' if k_big['new'] >= 0.5 * k_big['spatial'] else 'NOT met'} "
        f"(ratio {k_big['new'] / k_big['spatial']:.2f} on the surveillance circles, "
        f"{k_big['new'] / k_big['previous']:.0f}x the previous kernel); 5,000 x 520 weeks "
        "prospective with 999 replications in about a minute - "
        f"{'met' if max(v[0] for v in surveillance.values()) < 90 else 'NOT met'} "
        f"({', '.join(f'{m} {v[0]:.0f} s' for m, v in surveillance.items())}).",
        "",
        "## Kernel throughput, one core (one block of replicates)",
        "",
        "Evaluations per second: cylinders x replicates for the space-time kernels, windows x "
        "replicates for the spatial kernel on the same circles (the circles' total counts).  "
        "\"previous\" is the kernel before this change (every prefix index of the circle kept "
        "up to date, blocks of 8 replicates at this size).",
        "",
        "| case | circles | time windows (points) | cylinder kernel | spatial kernel | "
        "cylinder / spatial | previous kernel | cylinder / previous |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, k in (("5,000 x 520 weeks, prospective, 10%, <= 4 weeks", k_big),
                    ("115 x 52 weeks, retrospective, 50%, <= 26 weeks", k_small)):
        lines.append(f"| {name} | {k['circles']:,} | {k['time_windows']:,} ({k['points']}) | "
                     f"{k['new']:.3g}/s | {k['spatial']:.3g}/s | "
                     f"{k['new'] / k['spatial']:.2f} | {k['previous']:.3g}/s | "
                     f"{k['new'] / k['previous']:.0f}x |")
    lines += [
        "",
        "## Surveillance: 5,000 locations x 520 weeks, prospective, 999 replications",
        "",
        f"Circles up to 10% of the population, windows of at most 4 weeks ending in the last "
        f"week: {k_big['cylinders']:,} cylinders per data set.  Whole `spacetime_scan` call "
        "(window build, observed scan, replications) on every thread; the up-front estimate is "
        "what the scan logged (and gives to the progress bar) before starting.",
        "",
        "| model | whole scan (s) | windows (s) | Monte Carlo (s) | estimate (s) | "
        "estimated memory |",
        "|---|---|---|---|---|---|",
    ]
    for model, (seconds, res) in surveillance.items():
        lines.append(f"| {model} | {seconds:.1f} | {res.timings['windows_s']:.1f} | "
                     f"{res.timings['monte_carlo_s']:.1f} | "
                     f"{res.parameters['estimated_seconds']:.0f} | "
                     f"{res.parameters['estimated_memory_bytes'] / 2**20:.0f} MiB |")
    lines += [
        "",
        "## 115 locations x 52 weeks, Poisson, against the NumPy reference",
        "",
        f"Circles up to 50% of the population, windows up to 26 weeks, {R} replications; the "
        "NumPy reference is timed on the stated number of replicate data sets and extrapolated.",
        "",
        "| analysis | Numba, 999 reps (s) | NumPy reference per rep (s) | NumPy, 999 reps "
        "extrapolated (s) | reference reps timed | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for analysis, numba_s, per_rep, n_ref in rows:
        lines.append(f"| {analysis} | {numba_s:.2f} | {per_rep:.3f} | {per_rep * R:.0f} | "
                     f"{n_ref} | {per_rep * R / numba_s:.0f}x |")
    lines += ["", f"Embedded borough, 110 areas x 52 weeks, retrospective, {R} replications: "
              f"{borough_s:.2f} s (goal: under 5 s) - {'met' if borough_s < 5 else 'NOT met'}.",
              ""]
    report = "\n".join(lines)
    print(report)
    if args.write:
        (Path(__file__).parent / "RESULTS_spacetime.md").write_text(
            report + "\nReproduce: `python benchmarks/bench_spacetime.py --write`.\n")
    return report


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
