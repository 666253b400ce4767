"""Space-time scans: 115 locations × 52 weekly periods × 999 replications, Numba against the
vectorised NumPy reference in the same run.

    python benchmarks/bench_spacetime.py            # prints a Markdown report
    python benchmarks/bench_spacetime.py --quick    # fewer repeats and reference replicates
    python benchmarks/bench_spacetime.py --write    # and write benchmarks/RESULTS_spacetime.md

Timed, for a retrospective and a prospective space-time Poisson scan (50% circles, 50% of the
study period): the whole ``spacetime_scan`` call (windows, observed scan, 999 replications) on
every thread, median of repeats, after one untimed warm-up run (compilation is cached).
Baseline in the same run: ``tests/reference_spacetime.max_llr_numpy`` (for each centre, every
cylinder's counts from prefix sums at once, vectorised LLR) on a few replicate data sets drawn
with NumPy's multinomial; its time per replicate is multiplied by 999 (extrapolated, stated in
the table).  Also timed: the embedded borough's 110 areas × 52 weeks (goal: retrospective in
under 5 s on a 2-core machine).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import reference_spacetime as ref  # noqa: E402

from scan.data import build_spacetime_data  # noqa: E402
from scan.datasets import borough_spacetime  # noqa: E402
from scan.spacetime import spacetime_scan  # noqa: E402
from scan.windows import build_windows  # noqa: E402

R = 999
N_LOCATIONS, N_WEEKS = 115, 52


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


def time_numba(data, analysis, repeats):
    spacetime_scan(data, analysis=analysis, n_replications=R, rng=1)      # warm-up
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        spacetime_scan(data, analysis=analysis, n_replications=R, rng=k + 2)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
    data = synthetic()
    rows = []
    for analysis, n_ref in (("retrospective", 2 if args.quick else 5),
                            ("prospective", 5 if args.quick else 20)):
        numba_s = time_numba(data, analysis, repeats)
        per_rep = time_numpy(data, analysis, n_ref)
        rows.append((analysis, numba_s, per_rep, n_ref))
    borough = borough_spacetime()
    borough_s = time_numba(borough, "retrospective", repeats)

    cpu = platform.processor() or platform.machine()
    lines = [
        "# Space-time scan benchmark",
        "",
        f"Machine: 2 vCPU AMD EPYC (shared with other jobs), {cpu}, Numba threads "
        f"{nb.get_num_threads()}, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"Numba {nb.__version__}; load average at the end {os.getloadavg()[0]:.1f} (other "
        "engineers' jobs share the 2 cores, so absolute times vary by up to 2× between runs; "
        "the ratios are from the same run).",
        "",
        f"Data: {N_LOCATIONS} random locations × {N_WEEKS} weekly periods, Poisson, circles up to "
        f"50% of the population, time windows up to 26 weeks; {R} replications.  Numba: the "
        f"whole `spacetime_scan` call, median of {repeats} run(s) after a warm-up.  NumPy "
        "reference (`tests/reference_spacetime.max_llr_numpy`): timed on the stated number of "
        f"replicate data sets and extrapolated per replication to {R}.",
        "",
        "| analysis | Numba, 999 reps (s) | NumPy reference per rep (s) | NumPy, 999 reps "
        "extrapolated (s) | reference reps timed | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for analysis, numba_s, per_rep, n_ref in rows:
        lines.append(f"| {analysis} | {numba_s:.2f} | {per_rep:.3f} | {per_rep * R:.0f} | "
                     f"{n_ref} | {per_rep * R / numba_s:.0f}× |")
    lines += ["", f"Embedded borough, 110 areas × 52 weeks, retrospective, {R} replications: "
              f"{borough_s:.2f} s (goal: under 5 s) — {'met' if borough_s < 5 else 'NOT met'}.",
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
