"""Dask backend against the threaded backend, in the same run, on the same null problem.

    python benchmarks/bench_distributed.py                       # 9,999 x 5,000, 3 repeats
    python benchmarks/bench_distributed.py --n 1000 --replications 999 --repeats 1 --out -

Measures, for one Poisson null problem (random locations, windows up to 50% of the population):
  * the threaded backend on all Numba threads, and on 1 thread (the per-core baseline);
  * run_dask on a LocalCluster of 1 worker and of 2 workers (1 thread each), clusters started and
    warmed (scatter + Numba cache load) before timing; the timed run includes its own scatter;
  * the scheduling overhead per block: blocks of zero replications of the real scattered problem,
    and the overhead seen in the real run, (dask 1 worker - threads 1 thread) / blocks;
and checks every null distribution is bit-identical.  Writes a Markdown report (--out).
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

import scan
from scan import _kernels as K
from scan import distributed as sd
from scan import montecarlo as mc
from scan.spatial import model_arrays
from scan.windows import build_windows

MACHINE = ("2 vCPU AMD EPYC shared VM (cores shared with other jobs; about 1.2 cores of real "
           "throughput)")
NOTES = "<!-- notes: hand-written below this line, kept when the benchmark rewrites the file -->"


def random_area(n: int, seed: int):
    """Random locations on a 100 x 100 km square, populations 20-400, cases at about 5%."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    population = rng.integers(20, 400, n).astype(float)
    risk = np.where(rng.random(n) < 0.2, 2.0, 1.0)
    cases = rng.binomial(population.astype(int), 0.05 * risk).astype(float)
    return scan.study_area([f"L{i}" for i in range(n)], x, y, cases, population, crs=None,
                           source=f"bench-random-{seed}")


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def empty_block_overhead(client, problem, k: int) -> float:
    """Seconds per task for ``k`` blocks of zero replications of the scattered problem."""
    from distributed import as_completed

    pf = client.scatter(problem, broadcast=True, hash=False)
    t0 = time.perf_counter()
    futures = [client.submit(sd._run_block, pf, 0, 0, None, pure=False) for _ in range(k)]
    for _ in as_completed(futures):
        pass
    per = (time.perf_counter() - t0) / k
    client.cancel(futures + [pf])
    return per


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--replications", type=int, default=9999)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--empty-blocks", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_distributed.md")),
                    help="Markdown report path, or - for stdout only")
    args = ap.parse_args(argv)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    from distributed import Client, LocalCluster

    R, n = args.replications, args.n
    area = random_area(n, args.seed)
    weights, C, W = model_arrays(area, "poisson")
    t0 = time.perf_counter()
    windows = build_windows(area.coords, weights, coordinates=area.coordinates,
                            max_population_fraction=0.5)
    windows_s = time.perf_counter() - t0
    problem = mc.null_problem(windows, weights, C, area.population, K.POISSON,
                              K.DIRECTION_CODES["high"], args.seed)
    problem.run(0, 1)  # compile or load the cache in this process
    nbytes = sum(getattr(problem, f).nbytes for f in ("offsets", "neighbors", "weights", "prob",
                                                      "alias", "cum_pop"))
    print(f"{n} locations, {windows.n_windows:,} windows, {int(C):,} cases, problem "
          f"{nbytes / 1e6:.1f} MB, windows built in {windows_s:.1f} s", flush=True)

    rows, nulls, setup = [], {}, {}
    all_threads = numba.get_num_threads()

    def run_threads_1():
        numba.set_num_threads(1)
        try:
            return mc.run_threads(problem, R)
        finally:
            numba.set_num_threads(all_threads)

    clusters = {}
    for w in (1, 2):
        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
        client.wait_for_workers(w)
        start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sd.run_dask(problem, 64 * w, client=client, block_size=64)  # scatter + cache load
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pf = client.scatter(problem, broadcast=True, hash=False)
        scatter_s = time.perf_counter() - t0
        client.cancel(pf)
        overhead = empty_block_overhead(client, problem, args.empty_blocks)
        clusters[w] = (cluster, client)
        setup[w] = dict(start_s=start_s, warm_s=warm_s, scatter_s=scatter_s, empty_s=overhead)
        print(f"LocalCluster {w} worker(s): start {start_s:.1f} s, warm-up {warm_s:.1f} s, "
              f"scatter {scatter_s * 1e3:.0f} ms, empty block {overhead * 1e3:.1f} ms",
              flush=True)

    configs = [
        ("threads", f"threads ({all_threads} Numba threads)", lambda: mc.run_threads(problem, R)),
        ("threads-1", "threads (1 Numba thread)", run_threads_1),
    ]
    for w in (1, 2):
        client = clusters[w][1]
        bs = sd.default_block_size(R, w)
        configs.append((f"dask-{w}", f"dask LocalCluster, {w} worker(s) x 1 thread, "
                        f"blocks of {bs}",
                        lambda client=client: sd.run_dask(problem, R, client=client)))
    times = {key: [] for key, _, _ in configs}
    for rep in range(args.repeats):  # interleaved, so load drift on the shared VM hits all alike
        for key, label, fn in configs:
            t, null = timed(fn, 1)
            times[key] += t
            nulls.setdefault(key, []).append(null.tobytes())
            print(f"repeat {rep + 1}: {label}: {t[0]:.1f} s", flush=True)
    for cluster, client in clusters.values():
        client.close()
        cluster.close()

    identical = len({b for runs in nulls.values() for b in runs}) == 1
    base = statistics.median(times["threads"])
    for key, label, _ in configs:
        med = statistics.median(times[key])
        rows.append((label, med, min(times[key]), max(times[key]), R / med, base / med))

    t1 = statistics.median(times["threads-1"])
    per_wr = t1 / (R * windows.n_windows)  # seconds per window x replication, one core
    blocks1 = len(sd.blocks(R, sd.default_block_size(R, 1)))
    real_overhead = (statistics.median(times["dask-1"]) - t1) / blocks1

    lines = [
        "# Dask backend benchmark",
        "",
        f"Machine: {MACHINE}; `{cpu_model()}`, {os.cpu_count()} logical CPUs, Python "
        f"{platform.python_version()}, numba {numba.__version__}, "
        f"dask/distributed {__import__('distributed').__version__}.",
        "",
        f"Problem: {n:,} random locations (100 x 100 km, populations 20-400, ~5% cases: "
        f"{int(C):,} cases), Poisson, windows up to 50% of the population "
        f"({windows.n_windows:,} windows, {windows.n_windows / n:,.0f} per centre), direction "
        f"high, {R:,} replications; problem scattered = {nbytes / 1e6:.1f} MB; windows built in "
        f"{windows_s:.1f} s (not timed below).",
        f"Command: `python benchmarks/bench_distributed.py --n {n} --replications {R} "
        f"--repeats {args.repeats}`; {args.repeats} repeat(s), configurations interleaved; "
        "median, min, max wall-clock seconds.",
        "",
        "| backend | median s | min s | max s | replications/s | speed vs threads |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {label} | {med:.1f} | {lo:.1f} | {hi:.1f} | {rate:.0f} | {ratio:.2f} |"
              for label, med, lo, hi, rate, ratio in rows]
    lines += [
        "",
        f"Null distributions bit-identical across all backends and repeats: **{identical}**.",
        "",
        "Cluster setup (not in the timings above):",
        "",
        "| LocalCluster | start s | first run (scatter + Numba cache load) s | scatter s | "
        "empty block ms |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {w} worker(s) | {s['start_s']:.1f} | {s['warm_s']:.1f} | {s['scatter_s']:.2f} | "
              f"{s['empty_s'] * 1e3:.1f} |" for w, s in setup.items()]
    lines += [
        "",
        f"Scheduling overhead per block: {setup[1]['empty_s'] * 1e3:.1f} ms (1 worker) and "
        f"{setup[2]['empty_s'] * 1e3:.1f} ms (2 workers) per empty block ({args.empty_blocks} "
        "blocks of zero replications of the scattered problem, submitted at once, wall time / "
        f"blocks); in the real run, (dask 1 worker - threads 1 thread) / {blocks1} blocks = "
        f"{real_overhead * 1e3:.0f} ms per block (the scatter, plus the noise of a shared "
        "machine: compare the min-max spread).",
        f"One-core cost: {per_wr * 1e9:.2f} ns per window x replication "
        f"({t1 / R * 1e3:.1f} ms per replication, {t1 / R * 64:.2f} s per 64-replication block).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        out = Path(args.out)
        if out.exists() and NOTES in out.read_text():  # hand-written notes survive a rerun
            text += "\n" + NOTES + out.read_text().split(NOTES, 1)[1]
        out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
