"""Purely spatial scan: the Monte Carlo kernel against same-run baselines, and scale.

    python benchmarks/bench_spatial.py             # everything, about 3 minutes; Markdown report
    python benchmarks/bench_spatial.py --quick     # 1 repeat, no 20,000-location part
    python benchmarks/bench_spatial.py --asm       # also: the new kernel's vector instructions

Part 1, at 110, 1,000 and 5,000 random locations (Poisson, circles up to 50% of the
population, LSOA-like populations):

* Kernels on the same replicate data sets (the package's first 512 replications, drawn once;
  more on more than 4 threads), each in blocks over a parallel loop, timed on 1 thread and on
  every thread, interleaved within each repeat (medians over repeats), every maximum checked
  equal to the package's:
    - new: ``scan._kernels.block_maxima`` as the package runs it (uint16 counts, blocks of 128);
    - limit: the issue's throwaway kernel, kept here: int32 counts in a fixed block of 64,
      Poisson high-rate only, compiled with Numba's SLP vectoriser on (NUMBA_SLP_VECTORIZE);
    - previous: the package's kernel before issue 12 (int32 counts, blocks of 64), copied here;
    - update floor (not exact, for scale): the new kernel's running-count update alone, with
      no test at all; no exact kernel can beat it;
    - scalar loop: one replicate at a time, a logarithm for every window (a subset of the
      replicates, all threads over replicates).
* The package's whole Monte Carlo loop (seeding, drawing, sweeping) for 999 replications on 1
  thread and on every thread, and a vectorised pure-NumPy reference on a few replicates.

Part 2: 20,000 locations with 10% circles, 999 replications, in a fresh process: window build
time and the peak resident memory of the whole run.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import os
import re
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
from machine import describe  # noqa: E402  (benchmarks/machine.py)

R = 999          # replications of the package's Monte Carlo loop

def kernel_replicates() -> int:
    """Replicates of the kernel comparison: 4 blocks of 128 per thread, at least 512."""
    return K.SPATIAL_BLOCK * max(4, nb.get_num_threads())


def synthetic_area(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    side = 1_000.0 * math.sqrt(n)  # about one location per km^2, like LSOAs in a city
    x, y = rng.uniform(0, side, n), rng.uniform(0, side, n)
    population = rng.integers(1_200, 3_000, n).astype(float)
    cases = rng.poisson(population * 0.002)
    return scan.study_area(np.arange(n), x, y, cases, population, crs=None)


# --- baselines ----------------------------------------------------------------------------------

@nb.njit(cache=True)
def previous_block_maxima(offsets, neighbors, weights, draws, C, W, model, direction, min_cases,
                          scale, out):
    """The package's kernel before issue 12, verbatim (int32 draws, blocks of 64)."""
    B = draws.shape[1]
    c = np.zeros(B, dtype=np.int32)
    m = np.zeros(B)
    m_min = 0.0
    for i in range(offsets.shape[0] - 1):
        c[:] = 0
        w = 0.0
        s = scale[i]
        inv = 1.0 / s
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            w += weights[j]
            row = draws[j]
            c_hi = np.int32(-1)
            c_lo = np.int32(2147483647)
            for b in range(B):
                v = c[b] + row[b]
                c[b] = v
                c_hi = max(c_hi, v)
                c_lo = min(c_lo, v)
            if not K._valid(model, w, C, W):
                continue
            e = K._expected(model, w, C, W)
            if direction != K.LOW and c_hi > e and K._may_beat_high(model, c_hi, w, C, W,
                                                                    m_min * inv):
                for b in range(B):
                    if c[b] > e and c[b] >= min_cases and K._may_beat_high(model, c[b], w, C, W,
                                                                           m[b] * inv):
                        v = K._llr(model, c[b], w, C, W) * s
                        if v > m[b]:
                            m[b] = v
                m_min = m.min()
            if direction != K.HIGH and c_lo < e and K._may_beat_low(model, c_lo, w, C, W,
                                                                    m_min * inv):
                for b in range(B):
                    if c[b] < e and K._may_beat_low(model, c[b], w, C, W, m[b] * inv):
                        v = K._llr(model, c[b], w, C, W) * s
                        if v > m[b]:
                            m[b] = v
                m_min = m.min()
    out[:] = m


LIMIT_BLOCK = 64


@nb.njit(cache=False)
def limit_block_maxima(offsets, neighbors, weights, draws, C, out):
    """The issue's throwaway kernel: Poisson high-rate windows only, a fixed block of 64 int32
    counts (a constant trip count), the quick bound at the block maximum, then per replicate."""
    c = np.zeros(LIMIT_BLOCK, dtype=np.int32)
    m = np.zeros(LIMIT_BLOCK)
    m_min = 0.0
    for i in range(offsets.shape[0] - 1):
        c[:] = 0
        w = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            w += weights[j]
            c_hi = np.int32(-1)
            for b in range(LIMIT_BLOCK):
                c[b] += draws[j, b]
                c_hi = max(c_hi, c[b])
            if not C - w > 0.0:
                continue
            if c_hi > w and K.quick_may_beat(c_hi, w, C, m_min):
                for b in range(LIMIT_BLOCK):
                    x = c[b]
                    if x > w and x >= 2 and K.quick_may_beat(x, w, C, m[b]):
                        v = K.poisson_llr(x, w, C)
                        if v > m[b]:
                            m[b] = v
                m_min = m.min()
    out[:] = m


@nb.njit(cache=True)
def update_floor(offsets, neighbors, weights, draws, out):
    """Not exact, for scale: the new kernel's running-count update and block maximum alone."""
    B = draws.shape[1]
    c = np.zeros(B, dtype=draws.dtype)
    seen = 0
    for i in range(offsets.shape[0] - 1):
        c[:] = 0
        w = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            w += weights[j]
            hi = draws.dtype.type(0)
            for b in range(B):
                c[b] += draws[j, b]
                hi = max(hi, c[b])
            if hi > 1e6 * w:  # never true here; keeps the loop from being optimised away
                seen += 1
    out[:] = seen


@nb.njit(cache=True, parallel=True)
def over_blocks_new(offsets, neighbors, weights, blocks, C, scale, out):
    for i in nb.prange(blocks.shape[0]):
        K.block_maxima(offsets, neighbors, weights, blocks[i], C, C, K.POISSON, K.HIGH, 2, scale,
                       out[i])


@nb.njit(cache=True, parallel=True)
def over_blocks_previous(offsets, neighbors, weights, blocks, C, scale, out):
    for i in nb.prange(blocks.shape[0]):
        previous_block_maxima(offsets, neighbors, weights, blocks[i], C, C, K.POISSON, K.HIGH, 2,
                              scale, out[i])


@nb.njit(cache=False, parallel=True)
def over_blocks_limit(offsets, neighbors, weights, blocks, C, out):
    for i in nb.prange(blocks.shape[0]):
        limit_block_maxima(offsets, neighbors, weights, blocks[i], C, out[i])


@nb.njit(cache=True, parallel=True)
def over_blocks_floor(offsets, neighbors, weights, blocks, out):
    for i in nb.prange(blocks.shape[0]):
        update_floor(offsets, neighbors, weights, blocks[i], out[i])


@nb.njit(cache=True, parallel=True)
def scalar_loop(offsets, neighbors, weights, draws, C):
    """One replicate at a time (replicates over threads), every window's LLR with logarithms.
    ``draws`` is (R, n): each replicate's counts contiguous."""
    R = draws.shape[0]
    out = np.zeros(R)
    for r in nb.prange(R):
        best = 0.0
        for i in range(offsets.shape[0] - 1):
            c = 0.0
            w = 0.0
            for k in range(offsets[i], offsets[i + 1]):
                j = neighbors[k]
                c += draws[r, j]
                w += weights[j]
                if c > w and c >= 2 and C - w > 0:
                    v = K.poisson_llr(c, w, C)
                    if v > best:
                        best = v
        out[r] = best
    return out


def numpy_reference(windows, weights, draws, C):
    """Vectorised NumPy, all replicates of a centre at once."""
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


@contextlib.contextmanager
def slp_vectorize():
    """Numba's SLP vectoriser on while compiling inside the block (restored after)."""
    before = nb.config.SLP_VECTORIZE
    nb.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        nb.config.SLP_VECTORIZE = before


@contextlib.contextmanager
def threads(n):
    before = nb.get_num_threads()
    nb.set_num_threads(n)
    try:
        yield
    finally:
        nb.set_num_threads(before)


def draws_for(problem, start, stop):
    """The package's replicate data sets [start, stop) as an (n, R) int32 matrix."""
    n = len(problem.weights)
    states = mc.replicate_states(problem.entropy, start, stop)
    out = np.zeros((n, stop - start), dtype=np.int32)
    col = np.zeros(n, dtype=np.int32)
    for b, s in enumerate(states):
        rnd._draw_multinomial(s.copy(), int(problem.total_cases), problem.prob, problem.alias, col)
        out[:, b] = col
    return out


def as_blocks(draws, block, dtype):
    """(n, R) -> (R / block, n, block) contiguous, each block one kernel call's draws."""
    n, r = draws.shape
    return np.ascontiguousarray(draws.reshape(n, r // block, block).transpose(1, 0, 2), dtype=dtype)


def clock():
    """Wall clock and this thread's CPU time (1-thread figures run on this thread)."""
    return time.perf_counter(), time.thread_time()


def since(t):
    wall, cpu = clock()
    return wall - t[0], cpu - t[1]


# --- part 1 -------------------------------------------------------------------------------------

def part1(sizes, repeats):
    rows = []
    for n in sizes:
        area = synthetic_area(n)
        t0 = time.perf_counter()
        windows = build_windows(area.coords, area.expected, max_population_fraction=0.5)
        build_s = time.perf_counter() - t0
        weights = np.ascontiguousarray(area.expected, dtype=np.float64)
        C = float(area.total_cases)
        problem = mc.null_problem(windows, weights, C, area.population, K.POISSON, K.HIGH, 1)
        off, nbr, scale = windows.offsets, windows.neighbors, problem.scale
        all_threads = nb.get_num_threads()
        R_KERNEL = kernel_replicates()
        draws = draws_for(problem, 0, R_KERNEL)
        new_blocks = as_blocks(draws, K.SPATIAL_BLOCK, K.count_dtype(C))
        old_blocks = as_blocks(draws, 64, np.int32)
        lim_blocks = as_blocks(draws, LIMIT_BLOCK, np.int32)
        outs = {name: np.zeros(blocks.shape[::2]) for name, blocks in
                (("new", new_blocks), ("previous", old_blocks), ("limit", lim_blocks),
                 ("floor", new_blocks))}
        parallel = {  # blocks over every thread, as the package runs them
            "new": lambda: over_blocks_new(off, nbr, weights, new_blocks, C, scale, outs["new"]),
            "limit": lambda: over_blocks_limit(off, nbr, weights, lim_blocks, C, outs["limit"]),
            "previous": lambda: over_blocks_previous(off, nbr, weights, old_blocks, C, scale,
                                                     outs["previous"]),
            "floor": lambda: over_blocks_floor(off, nbr, weights, new_blocks, outs["floor"]),
        }
        serial = {  # one block after another on this thread: its CPU time is the core's
            "new": lambda: [K.block_maxima(off, nbr, weights, b, C, C, K.POISSON, K.HIGH, 2,
                                           scale, o) for b, o in zip(new_blocks, outs["new"])],
            "limit": lambda: [limit_block_maxima(off, nbr, weights, b, C, o)
                              for b, o in zip(lim_blocks, outs["limit"])],
            "previous": lambda: [previous_block_maxima(off, nbr, weights, b, C, C, K.POISSON,
                                                       K.HIGH, 2, scale, o)
                                 for b, o in zip(old_blocks, outs["previous"])],
            "floor": lambda: [update_floor(off, nbr, weights, b, o)
                              for b, o in zip(new_blocks, outs["floor"])],
        }
        with slp_vectorize():  # the limit (uncached) compiles with SLP on ...
            parallel["limit"]()
            serial["limit"]()
        for fn in (*parallel.values(), *serial.values()):  # ... the others load from the cache
            fn()
        times = {(name, t): [] for name in parallel for t in (1, all_threads)}
        for _ in range(repeats):  # interleaved, so drifting load hits every kernel alike
            for name in parallel:
                t0 = clock()
                serial[name]()
                times[name, 1].append(since(t0))
            for name, fn in parallel.items():
                t0 = clock()
                fn()
                times[name, all_threads].append(since(t0))
        want = problem.run(0, R_KERNEL)
        for name in ("new", "limit", "previous"):
            assert outs[name].ravel().tobytes() == want.tobytes(), f"{name} kernel disagrees"
        # package Monte Carlo loop, 999 replications
        mc_times = {1: [], all_threads: []}
        for _ in range(repeats):
            for t in (1, all_threads):
                with threads(t):
                    t0 = clock()
                    null = problem.run(0, R)
                    mc_times[t].append(since(t0))
        assert null[:R_KERNEL].tobytes() == want.tobytes()
        # scalar loop and NumPy reference on subsets of the same replicates
        sub = max(2, min(R_KERNEL, int(4e8 // max(windows.n_windows, 1))))
        sub_np = max(2, min(R_KERNEL, int(3e7 // max(windows.n_windows, 1))))
        by_replicate = np.ascontiguousarray(draws[:, :sub].T)
        scalar_loop(off, nbr, weights, by_replicate[:2], C)
        scalar = {}
        for t in (1, all_threads):
            with threads(t):
                t0 = clock()
                ref_s = scalar_loop(off, nbr, weights, by_replicate, C)
                scalar[t] = since(t0)
        assert ref_s.tobytes() == want[:sub].tobytes(), "scalar loop disagrees"
        t0 = clock()
        ref_n = numpy_reference(windows, weights, np.ascontiguousarray(draws[:, :sub_np]), C)
        numpy_s = since(t0)
        assert np.allclose(ref_n, want[:sub_np], rtol=1e-9), "NumPy reference disagrees"

        def rate(secs, reps, which=0):  # windows per second from (wall, cpu) pairs
            return windows.n_windows * reps / statistics.median(s[which] for s in secs)

        def cpu_rate(secs, reps):  # a parallel loop on 1 thread: on this thread under OpenMP
            return rate(secs, reps, 1) if nb.threading_layer() == "omp" else math.nan

        row = {"n": n, "windows": windows.n_windows, "build_s": build_s, "threads": all_threads,
               "count_dtype": np.dtype(K.count_dtype(C)).name, "block": K.SPATIAL_BLOCK,
               "repeats": repeats, "load": os.getloadavg()[0], "kernel_reps": R_KERNEL}
        for name in parallel:
            row[name] = {"1": rate(times[name, 1], R_KERNEL),
                         "1_cpu": rate(times[name, 1], R_KERNEL, 1),
                         "all": rate(times[name, all_threads], R_KERNEL)}
        row["scalar"] = {"1": rate([scalar[1]], sub), "1_cpu": cpu_rate([scalar[1]], sub),
                         "all": rate([scalar[all_threads]], sub), "reps": sub}
        row["numpy"] = {"1": rate([numpy_s], sub_np), "reps": sub_np}
        row["mc"] = {"1_s": statistics.median(s[0] for s in mc_times[1]),
                     "all_s": statistics.median(s[0] for s in mc_times[all_threads]),
                     "1": rate(mc_times[1], R), "1_cpu": cpu_rate(mc_times[1], R),
                     "all": rate(mc_times[all_threads], R)}
        rows.append(row)
    return rows


def vector_instructions() -> str:
    """The vector integer instructions of the new kernel for uint16 counts (a fresh, uncached
    compile: Numba cannot inspect cached code)."""
    fresh = nb.njit(K.block_maxima.py_func)
    off = np.array([0, 2, 4])
    fresh(off, np.array([0, 1, 1, 0], dtype=np.uint16), np.array([1.0, 2.0]),
          np.ones((2, K.SPATIAL_BLOCK), dtype=np.uint16), 10.0, 10.0, K.POISSON, K.HIGH, 2,
          np.ones(2), np.zeros(K.SPATIAL_BLOCK))
    asm = fresh.inspect_asm(fresh.signatures[0])
    pattern = r"^\s+(vp(?:add|max|min)[a-z]*)\s[^\n]*?%([xyz]mm)"
    ops = collections.Counter(re.findall(pattern, asm, re.M))
    return ", ".join(f"{op} ({reg}) x{k}" for (op, reg), k in sorted(ops.items()))


# --- part 2 -------------------------------------------------------------------------------------

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


# --- report -------------------------------------------------------------------------------------

def machine() -> str:
    return describe() + " (at the end)"


def report(rows, big, asm) -> str:
    g = lambda x: f"{x:.3g}"  # noqa: E731
    names = ("new", "limit", "previous", "floor", "scalar")
    lines = [f"Machine: {machine()}.", "",
             f"Kernels on the same {rows[-1]['kernel_reps']:,} replicates (the scalar loop on "
             "the number stated), windows per second per core on 1 thread: this thread's CPU "
             "time (wall clock in brackets); medians of interleaved repeats:", "",
             "| locations | windows/replicate | new | limit (issue's throwaway) | previous "
             "| update floor | scalar loop | **new / limit** | new / previous | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = " | ".join(f"{g(r[k]['1_cpu'])} ({g(r[k]['1'])})" for k in names)
        lines.append(
            f"| {r['n']:,} | {r['windows']:,} | {cells} ({r['scalar']['reps']} reps) "
            f"| **{r['new']['1_cpu'] / r['limit']['1_cpu']:.2f}** "
            f"({r['new']['1'] / r['limit']['1']:.2f}) "
            f"| {r['new']['1_cpu'] / r['previous']['1_cpu']:.2f} "
            f"({r['new']['1'] / r['previous']['1']:.2f}) | {r['load']:.1f} |")
    lines += ["", f"The same on all {rows[-1]['threads']} threads (wall clock, windows per "
              "second):", "",
              "| locations | new | limit | previous | update floor | scalar loop | new / limit |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = " | ".join(g(r[k]["all"]) for k in names)
        lines.append(f"| {r['n']:,} | {cells} | {r['new']['all'] / r['limit']['all']:.2f} |")
    lines += ["", f"The package's Monte Carlo loop ({R} replications: seeding, drawing, sweeping; "
              f"counts {rows[-1]['count_dtype']}, blocks of {rows[-1]['block']}):", "",
              "| locations | 1 thread (s) | windows/s/core: CPU (wall) | all threads (s) "
              "| windows/s, all threads | NumPy reference, extrapolated to 999 (s) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        m, npy = r["mc"], r["numpy"]
        lines.append(f"| {r['n']:,} | {m['1_s']:.3f} | {g(m['1_cpu'])} ({g(m['1'])}) "
                     f"| {m['all_s']:.3f} | {g(m['all'])} "
                     f"| {r['windows'] * R / npy['1']:.1f} (from {npy['reps']} reps) |")
    if asm:
        lines += ["", f"New kernel, vector integer instructions (uint16 counts): {asm}."]
    if big:
        lines += ["", f"20,000 locations, 10% circles: {big['windows']:,} windows per replicate; "
                  f"window build {big['build_s']:.2f} s; whole scan with 999 replications "
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
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 repeat, no 20,000-location part")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="110,1000,5000")
    p.add_argument("--skip-big", action="store_true")
    p.add_argument("--asm", action="store_true", help="list the new kernel's vector instructions")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    rows = part1([int(s) for s in args.sizes.split(",")], 1 if args.quick else args.repeats)
    big = None if (args.skip_big or args.quick) else part2()
    asm = vector_instructions() if args.asm else ""
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "big": big, "asm": asm, "machine": machine()}, f, indent=1)
    print(report(rows, big, asm))


if __name__ == "__main__":
    main()
