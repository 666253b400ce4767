"""Dask backend against the threaded backend, in the same run, on the same null problem.

    python benchmarks/bench_distributed.py                       # 9,999 x 5,000, 3 repeats
    python benchmarks/bench_distributed.py --n 1000 --replications 999 --repeats 1 --out -

    python benchmarks/bench_distributed.py --england              # England-sized, centres mode
    python benchmarks/bench_distributed.py --england --replications 128 --out -

Measures, for one Poisson null problem (random locations, windows up to 50% of the population):
  * the threaded backend on all Numba threads, and on 1 thread (the per-core baseline);
  * run_dask on a LocalCluster of 1 worker and of 2 workers (1 thread each), clusters started and
    warmed (scatter + Numba cache load) before timing; the timed run includes its own scatter;
  * the scheduling overhead per block: blocks of zero replications of the real scattered problem,
    and the overhead seen in the real run, (dask 1 worker - threads 1 thread) / blocks;
and checks every null distribution is bit-identical.  Writes a Markdown report (--out).

``--england`` measures the centre-partitioned mode instead (``dask_mode="centres"``) on
England-sized synthetic data (33,755 LSOA-like centroids clustered around towns, 50% windows):
a single-process build and Monte Carlo as the same-run baseline (time, CPU, peak memory), then
a 2-worker LocalCluster (memory and CPU per worker, build and Monte Carlo time, results checked
bit-identical to the single process on the replications both ran), then 16 partitions on the
same 2 workers (what splitting the centres 16 ways costs in CPU) for the 16-node projection.
Its section of RESULTS_distributed.md sits between ``<!-- england:start -->`` and
``<!-- england:end -->`` and is replaced on a rerun.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

import scan
from scan import _kernels as K
from scan import distributed as sd
from scan import models as scan_models
from scan import montecarlo as mc
from scan.spatial import model_arrays
from scan.windows import build_windows
from machine import describe  # noqa: E402  (benchmarks/machine.py)

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


# --- England: the centre-partitioned mode ------------------------------------------------------

ENGLAND_N = 33_755
"""LSOAs in England (2011 census geography)."""

ENGLAND_OUTLINE = [  # British National Grid metres, a coarse coastline and Welsh/Scottish border
    (135_000, 30_000), (250_000, 50_000), (370_000, 70_000), (450_000, 80_000),
    (530_000, 100_000), (635_000, 140_000), (640_000, 175_000), (655_000, 290_000),
    (620_000, 345_000), (560_000, 340_000), (557_000, 363_000), (540_000, 420_000),
    (525_000, 470_000), (490_000, 510_000), (440_000, 570_000), (400_000, 655_000),
    (360_000, 600_000), (330_000, 560_000), (320_000, 470_000), (330_000, 400_000),
    (340_000, 365_000), (330_000, 300_000), (320_000, 250_000), (355_000, 200_000),
    (320_000, 170_000), (290_000, 145_000), (250_000, 140_000), (220_000, 125_000)]

CITIES = [  # (x, y, LSOAs): the largest places, at their real positions and about their size
    (530_000, 180_000, 4_835), (407_000, 287_000, 639), (430_000, 433_000, 482),
    (435_000, 387_000, 345), (416_000, 433_000, 310), (384_000, 398_000, 282),
    (335_000, 390_000, 298), (359_000, 173_000, 263), (425_000, 565_000, 175),
    (457_000, 339_000, 182), (433_000, 117_000, 150), (463_000, 103_000, 125),
    (290_000, 90_000, 160), (389_000, 344_000, 160), (433_000, 336_000, 185)]


def england_like(seed: int = 2011, n: int = ENGLAND_N):
    """England-sized synthetic LSOA centroids: 18% rural, spread over a coarse outline of
    England; the rest in towns -- the largest cities at their places and sizes, then ~350
    towns with Zipf sizes at random places -- each a Gaussian blob of centroids whose spread
    grows with the square root of its size (160 m x sqrt(LSOAs): London's 4,835 spread over
    ~11 km).  Populations 1,000-3,200 (mean ~1,650); cases Poisson at 0.6% with three planted
    excess areas (relative risk 1.25 within 3 km).  Deterministic for a seed."""
    import shapely

    rng = np.random.default_rng(seed)
    outline = shapely.Polygon(ENGLAND_OUTLINE)
    x0, y0, x1, y1 = outline.bounds

    def inside(k):
        pts = np.empty((0, 2))
        while len(pts) < k:
            c = np.column_stack([rng.uniform(x0, x1, 2 * k), rng.uniform(y0, y1, 2 * k)])
            pts = np.vstack([pts, c[shapely.contains_xy(outline, c[:, 0], c[:, 1])]])
        return pts[:k]

    scale = n / ENGLAND_N
    n_rural = int(0.18 * n)
    sizes = [max(1, int(round(s * scale))) for _, _, s in CITIES]
    centres = [(x, y) for x, y, _ in CITIES]
    left = n - n_rural - sum(sizes)
    zipf = 1.0 / np.arange(1, 351)
    town_sizes = np.maximum(1, np.floor(zipf / zipf.sum() * left)).astype(int)
    town_sizes[0] += left - town_sizes.sum()
    sizes += town_sizes.tolist()
    centres += [tuple(c) for c in inside(len(town_sizes))]
    blobs = [np.asarray(c) + rng.normal(0.0, 160.0 * np.sqrt(k), (k, 2))
             for c, k in zip(centres, sizes)]
    xy = np.vstack(blobs + [inside(n_rural)])[:n]
    population = np.clip(rng.normal(1_650, 300, n), 1_000, 3_200).round()
    rr = np.ones(n)
    for cx, cy in xy[rng.choice(n, 3, replace=False)]:
        rr[np.hypot(xy[:, 0] - cx, xy[:, 1] - cy) <= 3_000] = 1.25
    cases = rng.poisson(population * 0.006 * rr).astype(float)
    return scan.study_area([f"E{i:08d}" for i in range(n)], xy[:, 0], xy[:, 1], cases,
                           population, crs="EPSG:27700", source=f"england-like-{seed}")


def _memory() -> dict:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) * 1024
    return {"rss": out.get("VmRSS", 0), "peak": out.get("VmHWM", 0)}


def _reset_peak() -> dict:
    """Reset the peak resident memory (Linux: clear_refs 5) and return memory and CPU now."""
    import contextlib

    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return {**_memory(), "cpu": time.process_time()}


def _now() -> dict:
    return {**_memory(), "cpu": time.process_time()}


def _result_digest(result) -> dict:
    c = result.most_likely
    return {"null": [float(v) for v in result.null_distribution],
            "most_likely": None if c is None else
            {"center": c.center, "n": c.n_locations,
             "members": hashlib.sha256(" ".join(c.members).encode()).hexdigest()[:16],
             "llr": c.llr, "observed": c.observed},
            "clusters": [(c.center, c.n_locations, c.llr) for c in result.clusters[:20]]}


def england_single(seed: int, n: int, R: int) -> dict:
    """The same-run baseline, in its own process: one process builds every window and runs R
    replications on all its Numba threads (the threaded backend)."""
    area = england_like(seed, n)
    scan.circular_scan(random_area(200, 1), n_replications=1, rng=1)  # kernels loaded
    before = _reset_peak()
    t0 = time.perf_counter()
    windows = build_windows(area.coords, model_arrays(area, "poisson")[0],
                            coordinates=area.coordinates, max_population_fraction=0.5)
    built = _now()
    build_s = time.perf_counter() - t0
    result = scan.circular_scan(area, n_replications=R, rng=seed, windows=windows)
    wall = time.perf_counter() - t0
    after = _now()
    timings = {**result.timings, "windows_s": build_s}
    return {"wall_s": wall, "cpu_s": after["cpu"] - before["cpu"],
            "build_cpu_s": built["cpu"] - before["cpu"], "scan_cpu_s": after["cpu"] - built["cpu"],
            "peak_extra": after["peak"] - before["rss"], "rss_before": before["rss"],
            "timings": timings, "n_windows": result.parameters["n_windows"],
            "threads": numba.get_num_threads(), "cases": int(area.total_cases),
            "digest": _result_digest(result)}


def _run_single(seed: int, n: int, R: int) -> dict:
    import json
    import subprocess

    code = ("import json, sys; sys.path.insert(0, %r); import bench_distributed as b; "
            "print('RESULT ' + json.dumps(b.england_single(%d, %d, %d)))"
            % (str(Path(__file__).parent), seed, n, R))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _centres_run(client, area, R: int, seed: int, partitions: int | None = None) -> dict:
    from scan.spatial import SpatialAnalysis

    before = client.run(_reset_peak)
    me = _reset_peak()
    t0 = time.perf_counter()
    if partitions is None:
        result = scan.circular_scan(area, n_replications=R, rng=seed, backend="dask",
                                    dask_mode="centres", client=client)
    else:
        analysis = SpatialAnalysis(data=area, model=scan_models.get("poisson", "spatial"),
                                   direction="high", min_cases=2)
        result = sd.centre_partitioned_scan(
            analysis, n_replications=R, seed=seed, parameters={"model": "poisson"},
            max_population_fraction=0.5, max_radius=None, client=client,
            partitions=partitions)
    wall = time.perf_counter() - t0
    after = client.run(_now)
    driver = _now()
    workers = {w: {"peak_extra": after[w]["peak"] - before[w]["rss"],
                   "rss_before": before[w]["rss"], "cpu_s": after[w]["cpu"] - before[w]["cpu"]}
               for w in before}
    return {"wall_s": wall, "timings": result.timings, "workers": workers,
            "driver_peak_extra": driver["peak"] - me["rss"],
            "partition_windows": result.parameters["partition_windows"],
            "n_windows": result.parameters["n_windows"], "digest": _result_digest(result)}


def _gb(b) -> str:
    return f"{b / 2**30:.2f}"


def england(args) -> int:
    """The centre-partitioned mode on England-sized data; writes its section of the report."""
    import json

    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    n, R, Rb, seed = args.england_n, args.replications, args.baseline_replications, args.seed
    area = england_like(seed, n)
    print(f"England-like: {n:,} centroids, {int(area.total_cases):,} cases; single process, "
          f"{Rb} replications...", flush=True)
    single = _run_single(seed, n, Rb)
    single["load"] = os.getloadavg()[0]
    print(json.dumps({k: v for k, v in single.items() if k != "digest"}), flush=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(2)

        def fresh_workers():
            """New worker processes (the memory a run freed stays in a process's RSS), with
            the kernels loaded from the cache before the timed run."""
            client.restart()
            client.wait_for_workers(2)
            scan.circular_scan(random_area(200, 1), n_replications=64, rng=1, backend="dask",
                               dask_mode="centres", client=client)

        fresh_workers()
        print(f"2 workers, centres mode, {R} replications...", flush=True)
        two = _centres_run(client, area, R, seed)
        two["load"] = os.getloadavg()[0]
        print(json.dumps({k: v for k, v in two.items() if k != "digest"}), flush=True)
        fresh_workers()
        print(f"2 workers, 16 partitions, {Rb} replications...", flush=True)
        sixteen = _centres_run(client, area, Rb, seed, partitions=16)
        sixteen["load"] = os.getloadavg()[0]
        print(json.dumps({k: v for k, v in sixteen.items() if k != "digest"}), flush=True)
    same_prefix = two["digest"]["null"][:Rb] == single["digest"]["null"][:Rb]
    same_16 = sixteen["digest"]["null"] == single["digest"]["null"][:Rb]
    same_cluster = (two["digest"]["most_likely"] == single["digest"]["most_likely"] ==
                    sixteen["digest"]["most_likely"])
    # the neighbour lists' integer type, as the builder chooses it for this many locations
    itemsize = build_windows(area.coords, model_arrays(area, "poisson")[0],
                             centres=area.coords[:1]).neighbors.itemsize
    text = england_report(args, area, single, two, sixteen,
                          identical=(same_prefix, same_16, same_cluster), itemsize=itemsize)
    print(text)
    if args.out != "-":
        out = Path(args.out)
        old = out.read_text() if out.exists() else ""
        start, end = "<!-- england:start -->", "<!-- england:end -->"
        block = f"{start}\n{text}{end}\n"
        if start in old and end in old:
            old = old.split(start, 1)[0] + block + old.split(end, 1)[1].lstrip("\n")
        else:
            old = old.rstrip("\n") + "\n\n" + block
        out.write_text(old)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all((same_prefix, same_16, same_cluster)) else 1


def england_report(args, area, single, two, sixteen, *, identical, itemsize: int = 4) -> str:
    n, R, Rb = args.england_n, args.replications, args.baseline_replications
    W = single["n_windows"]
    st = single["timings"]
    tt = two["timings"]
    w2 = list(two["workers"].values())
    w16 = list(sixteen["workers"].values())
    # CPU seconds: the single process's build and scan (observed + Monte Carlo) measured
    # apart; the workers' per-partition build and Monte Carlo CPU from the partitions
    single_mc_cpu = single["scan_cpu_s"]
    two_build_cpu = sum(tt["partition_build_cpu_s"])
    two_mc_cpu = sum(tt["partition_monte_carlo_cpu_s"])
    two_cpu = sum(w["cpu_s"] for w in w2)
    six_build_cpu = sum(sixteen["timings"]["partition_build_cpu_s"])
    six_mc_cpu = sum(sixteen["timings"]["partition_monte_carlo_cpu_s"])
    six_cpu = sum(w["cpu_s"] for w in w16)
    per_wr_single = single_mc_cpu / (W * Rb)
    per_wr_two = two_mc_cpu / (W * R)
    per_wr_16 = six_mc_cpu / (W * Rb)
    neighbors_single = W * itemsize
    kind = {2: "uint16", 4: "int32"}.get(itemsize, f"{itemsize}-byte")
    lines = [
        "## England-sized data: the centre-partitioned mode (`dask_mode=\"centres\"`)",
        "",
        f"Machine: {describe(dask=True)}.  The load average counts the benchmark's own busy "
        "threads (about 2 while it runs); other jobs would inflate wall times, CPU seconds much "
        "less so.",
        "",
        f"Data: {n:,} synthetic LSOA-like centroids (`england_like(seed={args.seed})`: 18% rural "
        "over a coarse outline of England, the rest in towns -- the 15 largest cities at their "
        "places and about their LSOA counts, London 4,835, then 350 towns of Zipf sizes -- "
        f"populations 1,000-3,200), {int(area.total_cases):,} cases, Poisson, windows up to "
        f"50% of the population: **{W:,} windows** ({W / n:,.0f} per centre), direction high.",
        f"Command: `python benchmarks/bench_distributed.py --england --replications {R} "
        f"--baseline-replications {Rb}`.",
        "",
        "| run | replications | windows built s | observed + secondary s | Monte Carlo s | "
        "wall s | CPU s | peak memory above start, GiB | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| single process, threaded backend ({single['threads']} Numba threads) | {Rb} | "
        f"{st['windows_s']:.0f} | {st['observed_s']:.1f} | {st['monte_carlo_s']:.0f} | "
        f"{single['wall_s']:.0f} | {single['cpu_s']:.0f} | **{_gb(single['peak_extra'])}** | "
        f"{single.get('load', float('nan')):.1f} |",
        f"| 2-worker LocalCluster, centres mode, 2 partitions | {R} | {tt['windows_s']:.0f} | "
        f"{tt['observed_s']:.1f} | {tt['monte_carlo_s']:.0f} | {two['wall_s']:.0f} | "
        f"{two_cpu:.0f} (workers) | **"
        + " / ".join(_gb(w["peak_extra"]) for w in w2) + "** per worker; driver "
        f"{_gb(two['driver_peak_extra'])} | {two.get('load', float('nan')):.1f} |",
        f"| same cluster, 16 partitions (8 per worker) | {Rb} | "
        f"{sixteen['timings']['windows_s']:.0f} | {sixteen['timings']['observed_s']:.1f} | "
        f"{sixteen['timings']['monte_carlo_s']:.0f} | {sixteen['wall_s']:.0f} | "
        f"{six_cpu:.0f} (workers) | "
        + " / ".join(_gb(w["peak_extra"]) for w in w16) + " per worker | "
        f"{sixteen.get('load', float('nan')):.1f} |",
        "",
        "Windows per partition (2 partitions): "
        f"{', '.join(f'{v:,}' for v in two['partition_windows'])}"
        f" ({kind} neighbour lists: "
        f"{', '.join(_gb(itemsize * v) for v in two['partition_windows'])} GiB;"
        f" the whole: {_gb(neighbors_single)} GiB).  Per-partition build times (2 partitions): "
        + ", ".join(f"{v:.0f} s" for v in tt["partition_build_s"]) + ".",
        f"Bit-identical to the single process: the first {Rb} replicate maxima of the {R}-"
        f"replication run: **{identical[0]}**; all {Rb} of the 16-partition run: "
        f"**{identical[1]}**; the most likely cluster (centre, members, LLR) in all three: "
        f"**{identical[2]}**.",
        f"CPU seconds, Monte Carlo per window x replication: single process "
        f"{per_wr_single * 1e9:.2f} ns (its observed scan included), 2 partitions "
        f"{per_wr_two * 1e9:.2f} ns, 16 partitions {per_wr_16 * 1e9:.2f} ns (every partition "
        f"draws every replication's data set).  Build: single process "
        f"{single['build_cpu_s']:.0f} s, 2 partitions {two_build_cpu:.0f} s, 16 partitions "
        f"{six_build_cpu:.0f} s (each with its observed scan).",
        "",
    ]
    # projection: 16 nodes x 16 cores, one worker of 16 threads per node, 16 partitions
    nodes, cores = 16, 16
    mc_999 = per_wr_16 * W * 999 / (nodes * cores)
    build_16 = six_build_cpu / (nodes * cores)
    mem_node = itemsize * W / nodes
    observed_16 = sixteen["timings"]["observed_s"]
    lines += [
        f"### Projection: 16 nodes x 16 cores, {999:,} replications",
        "",
        "Measured inputs: the 16-partition run's CPU seconds above (Monte Carlo per window x "
        "replication with every partition drawing every data set; the build of 16 shares), and "
        "the 2-partition run's memory per worker.  Assumptions: (1) cores like this VM's; (2) "
        "one Dask worker per node with `threads_per_worker=16`, 16 partitions (one per node); "
        "(3) a node's 16 threads share one block of replications (the default block for 16 "
        "threads is 1,024 replications, and the kernel splits a block into groups of 128 "
        "replications, halved down to 16 until every thread has one: 999 replications are "
        "16 groups of 64), and the build's prange over centres likewise; (4) the driver "
        "sends "
        "each worker the study data (a few MB) and receives maxima (8 bytes per replication "
        "and partition): network time is negligible; (5) cluster start and Numba cache load "
        "~2 s per node, in parallel.",
        "",
        "| quantity | 2-worker VM here (measured) | 16 nodes x 16 cores (projected) |",
        "|---|---:|---:|",
        f"| windows held per worker | {max(two['partition_windows']):,} | {W // nodes:,} |",
        f"| neighbour lists per worker ({kind}) | "
        f"{_gb(itemsize * max(two['partition_windows']))} GiB | "
        f"{_gb(mem_node)} GiB |",
        f"| build (with the observed scan) | {tt['windows_s']:.0f} s | {build_16:.1f} s |",
        f"| secondary clusters: members fetched from the workers | {tt['observed_s']:.0f} s | "
        f"{observed_16:.0f} s (as measured here: bound by the driver) |",
        f"| Monte Carlo | {tt['monte_carlo_s']:.0f} s ({R:,} replications) | {mc_999:.1f} s "
        "(999 replications) |",
        f"| total (plus ~2 s start) | {two['wall_s']:.0f} s | "
        f"{build_16 + observed_16 + mc_999 + 2:.0f} s |",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--replications", type=int, default=None,
                    help="default 9,999 (999 with --england)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--empty-blocks", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_distributed.md")),
                    help="Markdown report path, or - for stdout only")
    ap.add_argument("--england", action="store_true",
                    help="the centre-partitioned mode on England-sized data (see above)")
    ap.add_argument("--baseline-replications", type=int, default=128,
                    help="--england: replications of the single-process baseline and of the "
                         "16-partition run (default 128)")
    ap.add_argument("--england-n", type=int, default=ENGLAND_N,
                    help="--england: number of centroids (default 33,755; smaller for a trial)")
    args = ap.parse_args(argv)
    if args.england:
        if args.replications is None:
            args.replications = 999
        return england(args)
    if args.replications is None:
        args.replications = 9999
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
        f"Machine: {describe(dask=True)}.",
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
