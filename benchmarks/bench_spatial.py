"""Purely spatial scan: Monte Carlo speed against same-run baselines, and scale.

    python benchmarks/bench_spatial.py            # all parts; prints a Markdown report
    python benchmarks/bench_spatial.py --quick    # smaller repeats

Part 1: 999 replications of a Poisson scan (50% circles) at 110, 1,000 and 5,000 random
locations.  Timed: the package's Monte Carlo loop on one thread (windows per second per core)
and on every thread; baselines in the same run: (a) a plain scalar Numba loop, one replicate at a
time, a logarithm for every window; (b) a vectorised pure-NumPy reference (all replicates of a
centre at once).  Baselines run on a subset of the replications and are scaled per replication
(stated in the table).  Medians of repeated runs.

Part 2: 20,000 locations with 10% circles, 999 replications, in a fresh process: neighbour-list
build time and the peak resident memory of the whole run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numba as nb
import numpy as np

import scan
from scan import _kernels as K
from scan import _random as rnd
from scan import montecarlo as mc
from scan.windows import build_windows

R = 999


def synthetic_area(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    side = 1_000.0 * math.sqrt(n)  # about one location per km^2, like LSOAs in a city
    x, y = rng.uniform(0, side, n), rng.uniform(0, side, n)
    population = rng.integers(1_200, 3_000, n).astype(float)
    cases = rng.poisson(population * 0.002)
    return scan.study_area(np.arange(n), x, y, cases, population, crs=None)


@nb.njit(cache=True)
def scalar_loop(offsets, neighbors, weights, draws, C):
    """Baseline (a): one replicate at a time, every window's LLR with logarithms."""
    R = draws.shape[1]
    out = np.zeros(R)
    for r in range(R):
        best = 0.0
        for i in range(offsets.shape[0] - 1):
            c = 0.0
            w = 0.0
            for k in range(offsets[i], offsets[i + 1]):
                j = neighbors[k]
                c += draws[j, r]
                w += weights[j]
                if c > w and c >= 2 and C - w > 0:
                    v = K.poisson_llr(c, w, C)
                    if v > best:
                        best = v
        out[r] = best
    return out


def numpy_reference(windows, weights, draws, C):
    """Baseline (b): vectorised NumPy, all replicates of a centre at once."""
    out = np.zeros(draws.shape[1])
    for i in range(len(windows.offsets) - 1):
        members = windows.neighbors[windows.offsets[i]:windows.offsets[i + 1]]
        if len(members) == 0:
            continue
        c = np.cumsum(draws[members], axis=0, dtype=np.float64)
        e = np.cumsum(weights[members])[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            llr = (np.where(c > 0, c * np.log(c / e), 0.0)
                   + np.where(C - c > 0, (C - c) * np.log((C - c) / (C - e)), 0.0))
        llr = np.where((c > e) & (c >= 2) & (C - e > 0), llr, 0.0)
        np.maximum(out, llr.max(axis=0), out=out)
    return out


def draws_for(problem, start, stop):
    """The replicate data sets the package draws, as an (n, R) matrix (for the baselines)."""
    n = len(problem.weights)
    states = mc.replicate_states(problem.entropy, start, stop)
    out = np.zeros((n, stop - start), dtype=np.int32)
    col = np.zeros(n, dtype=np.int32)
    for b, s in enumerate(states):
        rnd._draw_multinomial(s.copy(), int(problem.total_cases), problem.prob, problem.alias, col)
        out[:, b] = col
    return out


def timed(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def part1(sizes, repeats):
    rows = []
    for n in sizes:
        area = synthetic_area(n)
        t0 = time.perf_counter()
        windows = build_windows(area.coords, area.expected, max_population_fraction=0.5)
        build_s = time.perf_counter() - t0
        problem = mc.null_problem(windows, area.expected, area.total_cases, area.population,
                                  K.POISSON, K.HIGH, 1)
        problem.run(0, 64)  # compile / load from cache outside the timings
        threads = nb.get_num_threads()
        nb.set_num_threads(1)
        try:
            t1, null1 = timed(lambda: problem.run(0, R), repeats)
        finally:
            nb.set_num_threads(threads)
        tall, null_all = timed(lambda: problem.run(0, R), repeats)
        assert null1.tobytes() == null_all.tobytes()
        # baselines on a subset of replications, same data sets
        sub = max(2, min(R, int(2e8 // max(windows.n_windows, 1))))
        sub_np = max(2, min(R, int(3e7 // max(windows.n_windows, 1))))
        draws = draws_for(problem, 0, max(sub, sub_np))
        scalar_loop(windows.offsets, windows.neighbors, area.expected, draws[:, :2], float(area.total_cases))
        ts, ref_s = timed(lambda: scalar_loop(windows.offsets, windows.neighbors, area.expected,
                                              draws[:, :sub], float(area.total_cases)), 1)
        tn, ref_n = timed(lambda: numpy_reference(windows, area.expected, draws[:, :sub_np],
                                                  float(area.total_cases)), 1)
        assert np.allclose(ref_s, null1[:sub], rtol=1e-12), "scalar baseline disagrees"
        assert np.allclose(ref_n, null1[:sub_np], rtol=1e-9), "NumPy baseline disagrees"
        per_rep_scalar = ts / sub
        per_rep_numpy = tn / sub_np
        rows.append({
            "n": n, "windows": windows.n_windows, "build_s": build_s,
            "mc_1thread_s": t1, "mc_all_s": tall, "threads": threads,
            "win_per_s_core": windows.n_windows * R / t1,
            "scalar_s_999": per_rep_scalar * R, "scalar_reps": sub,
            "scalar_win_per_s": windows.n_windows / per_rep_scalar,
            "numpy_s_999": per_rep_numpy * R, "numpy_reps": sub_np,
            "speedup_vs_scalar": per_rep_scalar * R / t1,
            "speedup_vs_numpy": per_rep_numpy * R / t1,
        })
    return rows


def part2_child():
    """Run in a fresh process: 20,000 locations, 10% circles, 999 replications."""
    t0 = time.perf_counter()
    area = synthetic_area(20_000, seed=5)
    t_area = time.perf_counter() - t0
    t0 = time.perf_counter()
    windows = build_windows(area.coords, area.expected, max_population_fraction=0.1)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = scan.circular_scan(area, max_population_fraction=0.1, n_replications=R, rng=1,
                             windows=windows)
    scan_s = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": 20_000, "windows": windows.n_windows, "area_s": t_area,
                      "build_s": build_s, "scan_s": scan_s, "peak_mib": peak_kib / 1024,
                      "neighbors_mib": windows.neighbors.nbytes / 2**20,
                      "p_value": res.p_value}))


def part2():
    # the build once more in this process would include compile time; run it warm in a child
    subprocess.run([sys.executable, __file__, "--warm"], check=True, capture_output=True)
    out = subprocess.run([sys.executable, __file__, "--child"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{model}, {os.cpu_count()} vCPUs, {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, numba {nb.__version__}, "
            f"numpy {np.__version__}")


def report(rows, big) -> str:
    lines = [f"Machine: {machine()}", "",
             "| locations | windows/replicate | MC 999 reps, 1 thread (s) | MC 999 reps, all threads (s) "
             "| windows/s/core | scalar Numba loop, 999 reps (s) | NumPy reference, 999 reps (s) "
             "| speed-up vs scalar | speed-up vs NumPy |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['windows']:,} | {r['mc_1thread_s']:.3f} | {r['mc_all_s']:.3f} "
            f"({r['threads']} threads) | {r['win_per_s_core']:.3g} | {r['scalar_s_999']:.2f} "
            f"(from {r['scalar_reps']} reps; {r['scalar_win_per_s']:.3g} windows/s) | "
            f"{r['numpy_s_999']:.1f} (from {r['numpy_reps']} reps) | {r['speedup_vs_scalar']:.1f}x "
            f"| {r['speedup_vs_numpy']:.0f}x |")
    if big:
        lines += ["", f"20,000 locations, 10% circles: {big['windows']:,} windows per replicate; "
                  f"neighbour-list build {big['build_s']:.2f} s; whole scan with 999 replications "
                  f"{big['scan_s']:.1f} s; peak resident memory of the whole run "
                  f"{big['peak_mib']:.0f} MiB (neighbour list {big['neighbors_mib']:.0f} MiB)."]
    return "\n".join(lines)


def main():
    if "--child" in sys.argv:
        return part2_child()
    if "--warm" in sys.argv:  # compile/load every kernel once so the child's timings are warm
        a = synthetic_area(300)
        scan.circular_scan(a, max_population_fraction=0.1, n_replications=64, rng=1)
        return None
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sizes", default="110,1000,5000")
    p.add_argument("--skip-big", action="store_true")
    args = p.parse_args()
    rows = part1([int(s) for s in args.sizes.split(",")], 1 if args.quick else 3)
    big = None if args.skip_big else part2()
    print(report(rows, big))


if __name__ == "__main__":
    main()
