"""Window build at scale: time and peak memory against same-run baselines, and ellipse counts.

    python benchmarks/bench_scale.py                 # everything (tens of minutes)
    python benchmarks/bench_scale.py --quick         # 1 repeat, no 35,000 legacy run
    python benchmarks/bench_scale.py --json out.json # also keep the raw figures

Part 1 (issue 12): the window build at 5,000, 20,000 and 35,000 random locations (LSOA-like:
one per km^2, populations 1,200-3,000) with circles up to 50% and 10% of the population.  Each
build runs in a fresh process (peak resident memory of that process, ``ru_maxrss``, and the
resident memory before the build), repeated and interleaved; figures are medians.  Baselines in
the same run: (a) the previous build (``tests/legacy_windows.py``, the code of commit f29299b:
a full sort of each centre's candidates, pieces joined at the end), in its own fresh process;
(b) NumPy, one full ``lexsort`` of every distance per centre (exactly the neighbour order), on
a subset of centres and extrapolated per centre, one thread.  Every build's windows are
checked identical to the previous build's (digest of offsets and ids) and the NumPy baseline's
rows equal the build's rows.  The up-front estimate (``scan.windows.estimate_windows``) is
reported beside the real figures.

Part 2 (issue 11): elliptic windows at 5,000 locations with SaTScan's default shapes and
angles (the circle + 46 ellipses per centre): window counts against the circles (about 47x),
build time, and the Monte Carlo kernel's windows per second per core on the penalised windows
against the circles' in the same run (replications on one thread).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from machine import describe  # noqa: E402  (benchmarks/machine.py)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def synthetic(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    side = 1_000.0 * math.sqrt(n)
    xy = np.column_stack([rng.uniform(0, side, n), rng.uniform(0, side, n)])
    weight = rng.integers(1_200, 3_000, n).astype(float)
    return xy, weight


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _digest(offsets, neighbors) -> str:
    import numpy as np

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(offsets, dtype=np.int64).tobytes())
    step = 1 << 24
    for s in range(0, len(neighbors), step):
        h.update(np.ascontiguousarray(neighbors[s:s + step], dtype=np.int32).tobytes())
    return h.hexdigest()[:16]


# --- children: one build in a fresh process ------------------------------------------------------

def child(kind: str, n: int, fraction: float, shape: str = "circle") -> dict:
    import numba

    from scan.windows import build_windows, estimate_windows

    xy, weight = synthetic(n)
    if kind == "legacy":
        from legacy_windows import legacy_build

        legacy_build(xy[:200], weight[:200])            # compiled/loaded outside the timing
    else:
        build_windows(xy[:200], weight[:200], shape=shape)
    before = _rss()
    out: dict = {"kind": kind, "n": n, "fraction": fraction, "shape": shape,
                 "threads": numba.get_num_threads()}
    if kind == "new":
        t0 = time.perf_counter()
        est = estimate_windows(xy, weight, max_population_fraction=fraction, shape=shape)
        out.update(estimate_s=time.perf_counter() - t0, est_windows=est.n_windows,
                   est_bytes=est.bytes, est_seconds=est.seconds)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if kind == "legacy":
        offsets, neighbors = legacy_build(xy, weight, max_population_fraction=fraction)
    else:
        w = build_windows(xy, weight, max_population_fraction=fraction, shape=shape,
                          memory_limit=False)
        offsets, neighbors = w.offsets, w.neighbors
    out.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
               peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, before=before,
               windows=int(offsets[-1]), rows=len(offsets) - 1,
               neighbor_bytes=int(neighbors.nbytes), dtype=str(neighbors.dtype))
    if shape == "circle":
        out["digest"] = _digest(offsets, neighbors)
    if kind == "new" and shape == "circle":
        out["numpy"] = numpy_baseline(xy, weight, fraction, offsets, neighbors)
    del neighbors
    return out


def numpy_baseline(xy, weight, fraction, offsets, neighbors, centres: int = 64) -> dict:
    """A full lexsort of every location per centre (distance, x, y, index: the exact order),
    cumulative weight, cut at the cap; checked equal to the build's rows; one thread."""
    import numpy as np

    n = len(weight)
    cap = fraction * weight.sum()
    pick = np.unique(np.linspace(0, n - 1, min(n, centres)).round().astype(int))
    t0 = time.perf_counter()
    for i in pick:
        dx = xy[:, 0] - xy[i, 0]
        dy = xy[:, 1] - xy[i, 1]
        order = np.lexsort((np.arange(n), xy[:, 1], xy[:, 0], dx * dx + dy * dy))
        k = int(np.searchsorted(np.cumsum(weight[order]) > cap, True))
        row = neighbors[offsets[i]:offsets[i + 1]]
        assert np.array_equal(order[:k], row), "NumPy baseline disagrees with the build"
    per_centre = (time.perf_counter() - t0) / len(pick)
    return {"centres": len(pick), "per_centre_s": per_centre, "seconds": per_centre * n}


def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], check=True,
                         capture_output=True, text=True, env={**os.environ,
                                                             "SCAN_MEMORY_LIMIT": "none"})
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- part 2: ellipses at 5,000 -------------------------------------------------------------------

def ellipse_child(n: int, fraction: float, replications: int) -> dict:
    import numba
    import numpy as np

    from scan import _kernels as K
    from scan import montecarlo as mc
    from scan.windows import build_windows

    xy, weight = synthetic(n)
    rng = np.random.default_rng(1)
    cases = rng.poisson(weight * 0.002)
    C = float(cases.sum())
    expected = weight * C / weight.sum()
    out = {"n": n, "fraction": fraction, "replications": replications}
    for shape in ("circle", "ellipse"):
        build_windows(xy[:200], expected[:200], shape=shape)
        t0 = time.perf_counter()
        w = build_windows(xy, expected, max_population_fraction=fraction, shape=shape,
                          memory_limit=False)
        build_s = time.perf_counter() - t0
        problem = mc.null_problem(w, expected, C, weight, K.POISSON, K.HIGH, 1, 2,
                                  w.penalty("medium"))
        problem.run(0, 8)
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                problem.run(0, replications)
                times.append(time.perf_counter() - t0)
        finally:
            numba.set_num_threads(threads)
        mc_s = statistics.median(times)
        out[shape] = {"rows": w.n_rows, "windows": w.n_windows, "build_s": build_s,
                      "neighbor_bytes": int(w.neighbors.nbytes), "mc_1thread_s": mc_s,
                      "windows_per_s_core": w.n_windows * replications / mc_s}
        del w, problem
    out["ratio"] = out["ellipse"]["windows"] / out["circle"]["windows"]
    return out


# --- report --------------------------------------------------------------------------------------

def machine() -> str:
    return describe() + " (at the end)"


def _gib(b):
    return f"{b / 2**30:.2f}"


def report(builds: list[dict], ellipses: list[dict], repeats: int,
           where: str | None = None) -> str:
    by = {}
    for b in builds:
        by.setdefault((b["n"], b["fraction"], b["kind"]), []).append(b)

    def med(key, rows):
        return statistics.median(r[key] for r in rows)

    lines = [f"Machine: {where or machine()}.", "",
             f"Window build, circles, fresh process per build, {repeats} interleaved repeat(s), "
             "medians; seconds are wall-clock on all threads (CPU seconds of the process in "
             "brackets); speed-up = median over repeats of the same-repeat ratio previous / new, "
             "wall-clock and CPU; peak = the process's maximum resident memory (imports and data "
             "included; 'before' = resident memory just before the build).", "",
             "| locations | max pop. | windows | new build s (CPU s) | previous build s (CPU s) "
             "| speed-up wall (CPU) | NumPy full sort/centre s (1 thread, extrapolated) | new "
             "peak GiB (before) | previous peak GiB | ids | estimate: windows, s | identical |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for (n, f, kind), rows in sorted(by.items()):
        if kind != "new":
            continue
        old = by.get((n, f, "legacy"), [])
        new_s, new_cpu = med("seconds", rows), med("cpu_seconds", rows)
        old_txt = (f"{med('seconds', old):.1f} ({med('cpu_seconds', old):.1f})" if old
                   else "not run")
        pairs = list(zip(rows, old))          # same repeat: adjacent runs
        wall = statistics.median(o["seconds"] / r["seconds"] for r, o in pairs) if old else 0
        cpu = statistics.median(o["cpu_seconds"] / r["cpu_seconds"] for r, o in pairs) \
            if old else 0
        ratio = f"{wall:.1f}x ({cpu:.1f}x)" if old else ""
        old_peak = _gib(med("peak", old)) if old else ""
        numpy_s = statistics.median(r["numpy"]["seconds"] for r in rows)
        same = all(r["digest"] == o["digest"] for r in rows for o in old) if old else "n/a"
        est = rows[0]
        lines.append(
            f"| {n:,} | {f:.0%} | {rows[0]['windows']:,} | {new_s:.1f} ({new_cpu:.1f}) | "
            f"{old_txt} | {ratio} | {numpy_s:.0f} | {_gib(med('peak', rows))} "
            f"({_gib(med('before', rows))}) | {old_peak} | {rows[0]['dtype']} | "
            f"{est['est_windows']:,}, {est['est_seconds']:.1f} (took {est['estimate_s']:.2f} s)"
            f" | {same} |")
    for e in ellipses:
        c, el = e["circle"], e["ellipse"]
        lines += ["", f"Elliptic windows at {e['n']:,} locations, {e['fraction']:.0%} of the "
                  f"population, SaTScan's default shapes and angles (medium penalty); Monte "
                  f"Carlo on 1 thread, {e['replications']} replications, median of 3:", "",
                  "| window set | rows | windows | ids MiB | build s | MC s | windows/s/core |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, d in (("circles", c), ("circle + 46 ellipses", el)):
            lines.append(f"| {name} | {d['rows']:,} | {d['windows']:,} | "
                         f"{d['neighbor_bytes'] / 2**20:.0f} | {d['build_s']:.1f} | "
                         f"{d['mc_1thread_s']:.2f} | {d['windows_per_s_core']:.2e} |")
        lines.append(f"\nEllipse windows / circle windows = **{e['ratio']:.1f}x**; Monte Carlo "
                     f"speed per window, ellipses / circles = "
                     f"{el['windows_per_s_core'] / c['windows_per_s_core']:.2f}.")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--ellipse-child", nargs=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="5000,20000,35000")
    ap.add_argument("--fractions", default="0.5,0.1")
    ap.add_argument("--no-legacy-above", type=int, default=10**9,
                    help="skip the previous build above this many locations")
    ap.add_argument("--json", default=None)
    ap.add_argument("--from-json", default=None, help="only print the report of a saved run")
    args = ap.parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        repeats = len([b for b in saved["builds"] if b["kind"] == "new"]) // max(
            1, len({(b["n"], b["fraction"]) for b in saved["builds"] if b["kind"] == "new"}))
        print(report(saved["builds"], saved["ellipses"], repeats, saved.get("machine")))
        return
    if args.child:
        kind, n, fraction = args.child[:3]
        shape = args.child[3] if len(args.child) > 3 else "circle"
        print(json.dumps(child(kind, int(n), float(fraction), shape)))
        return
    if args.ellipse_child:
        n, fraction, reps = args.ellipse_child
        print(json.dumps(ellipse_child(int(n), float(fraction), int(reps))))
        return
    repeats = 1 if args.quick else args.repeats
    legacy_cap = 20_000 if args.quick else args.no_legacy_above
    sizes = [int(s) for s in args.sizes.split(",")]
    fractions = [float(f) for f in args.fractions.split(",")]
    builds = []
    for rep in range(repeats):
        for n in sizes:
            for f in fractions:
                builds.append(run_child("new", n, f))
                print(f"rep {rep} n={n} f={f} new: {builds[-1]['seconds']:.1f} s, peak "
                      f"{builds[-1]['peak'] / 2**30:.2f} GiB", file=sys.stderr, flush=True)
                if n <= legacy_cap:
                    builds.append(run_child("legacy", n, f))
                    print(f"rep {rep} n={n} f={f} legacy: {builds[-1]['seconds']:.1f} s, peak "
                          f"{builds[-1]['peak'] / 2**30:.2f} GiB", file=sys.stderr, flush=True)
    ellipses = []
    for f in (0.5, 0.1):
        out = subprocess.run([sys.executable, __file__, "--ellipse-child", "5000", str(f),
                              "64"], check=True, capture_output=True, text=True,
                             env={**os.environ, "SCAN_MEMORY_LIMIT": "none"})
        ellipses.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"ellipses f={f}: ratio {ellipses[-1]['ratio']:.1f}", file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"builds": builds, "ellipses": ellipses,
                                               "machine": machine()}, indent=1))
    print(report(builds, ellipses, repeats))


if __name__ == "__main__":
    main()
