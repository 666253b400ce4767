"""The whole `scan spatial` process against its own Monte Carlo loop, and against SaTScan.

    python benchmarks/bench_whole.py                 # 5,000 locations, 3 repeats; Markdown
    python benchmarks/bench_whole.py --n 1000 --repeats 1 --satscan-repeats 0

Issue 12's target: `scan spatial` at 5,000 locations, 999 replications, circles up to 50% of
the population: the whole process (start, read, windows, observed scan, replications, outputs)
within 1.5x of the package's own Monte Carlo time, and at least 15x faster than SaTScan on one
thread on the same data in the same run.  Every repeat, interleaved:

* **whole**: `scan spatial data.csv --crs none --replications 999 --seed 1 --formats
  csv,summary --quiet` in a fresh process (wall clock);
* **monte carlo**: the same scan in this process (kernels loaded), its ``monte_carlo_s`` timing
  (seeding, drawing, sweeping 999 replications on every thread);
* **SaTScan**: SaTScan 10.3 (a build outside the project, ``SCAN_SATSCAN_BUILD``, default
  /work/satscan-build) on the same data as .cas/.pop/.geo, purely spatial Poisson, the same
  window, 999 replications, standard Monte Carlo p-values, ``NumberParallelProcesses=1``.
  Skipped when the build is absent.  Its most likely cluster is compared with scan's (LLR
  and members).

The data are bench_spatial.py's: random locations at about one per km^2, populations
1,200-3,000, cases at 0.2%.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


import scan
from bench_spatial import synthetic_area  # noqa: E402  (benchmarks/ is on sys.path)
from bench_startup import FLOOR  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)

SATSCAN_BUILD = Path(os.environ.get("SCAN_SATSCAN_BUILD", "/work/satscan-build"))
R = 999

PRM = """[Input]
CaseFile={d}/d.cas
PrecisionCaseTimes=0
StartDate=2000/1/1
EndDate=2000/12/31
PopulationFile={d}/d.pop
CoordinatesFile={d}/d.geo
CoordinatesType=0
[Analysis]
AnalysisType=1
ModelType=0
ScanAreas=1
TimeAggregationUnits=0
[Spatial Window]
MaxSpatialSizeInPopulationAtRisk=50
[Inference]
PValueReportType=1
MonteCarloReps={r}
[Spatial Output]
CriteriaForReportingSecondaryClusters=0
[Run Options]
NumberParallelProcesses=1
[System]
Version=10.3.1
"""


def write_inputs(area, folder: Path) -> tuple[Path, Path]:
    """The data as scan's CSV and as SaTScan's case, population and coordinates files."""
    ids = [f"L{i}" for i in range(len(area.ids))]
    x, y = area.coords[:, 0], area.coords[:, 1]
    cases, pop = area.cases.astype(int), area.population.astype(int)
    csv = folder / "d.csv"
    csv.write_text("id,x,y,cases,population\n" + "".join(
        f"{ids[i]},{x[i]:.3f},{y[i]:.3f},{cases[i]},{pop[i]}\n" for i in range(len(area.ids))))
    (folder / "d.cas").write_text("".join(f"{ids[i]} {cases[i]}\n" for i in range(len(area.ids))))
    (folder / "d.pop").write_text("".join(f"{ids[i]} 2000 {pop[i]}\n" for i in range(len(area.ids))))
    (folder / "d.geo").write_text("".join(f"{ids[i]} {x[i]:.3f} {y[i]:.3f}\n"
                                          for i in range(len(area.ids))))
    prm = folder / "d.prm"
    prm.write_text(PRM.format(d=folder, r=R))
    return csv, prm


def whole(csv: Path, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scan.cli", "spatial", str(csv), "--out", str(out),
                    "--crs", "none", "--replications", str(R), "--seed", "1", "--formats",
                    "csv,summary", "--quiet"], check=True)
    return time.perf_counter() - t0


def floor(folder: Path) -> float:
    """A process that imports numpy and Numba and calls one cached parallel function: what
    any Numba program pays before its first kernel runs (bench_startup.py's "numba floor")."""
    script = folder / "floor.py"
    script.write_text(FLOOR)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(script)], check=True)
    return time.perf_counter() - t0


def monte_carlo(area) -> tuple[float, object]:
    result = scan.circular_scan(area, n_replications=R, rng=1)
    return result.timings["monte_carlo_s"], result


def satscan(prm: Path, out: Path) -> tuple[float, dict]:
    sys.path.insert(0, str(SATSCAN_BUILD))
    from satscan_results import load_results

    t0 = time.perf_counter()
    subprocess.run([str(SATSCAN_BUILD / "run_satscan.sh"), str(prm), str(out)], check=True,
                   capture_output=True)
    return time.perf_counter() - t0, load_results(str(out))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--satscan-repeats", type=int, default=1,
                    help="SaTScan runs (minutes each at 5,000 locations; 0 to skip)")
    args = ap.parse_args(argv)

    area = synthetic_area(args.n)
    tmp = Path(tempfile.mkdtemp(prefix="scan-bench-whole-"))
    csv, prm = write_inputs(area, tmp)
    have_satscan = (SATSCAN_BUILD / "bin" / "satscan").is_file() and args.satscan_repeats > 0
    whole(csv, tmp / "warm")                # the kernels' cache, the file system's
    monte_carlo(area)
    floor(tmp)
    times = {"whole": [], "monte carlo": [], "numba floor": [], "satscan": []}
    result, sat = None, None
    for rep in range(max(args.repeats, args.satscan_repeats if have_satscan else 0)):
        if rep < args.repeats:
            times["whole"].append(whole(csv, tmp / f"w{rep}"))
            mc, result = monte_carlo(area)
            times["monte carlo"].append(mc)
            times["numba floor"].append(floor(tmp))
        if have_satscan and rep < args.satscan_repeats:
            t, sat = satscan(prm, tmp / f"s{rep}")
            times["satscan"].append(t)
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()
                                                 if len(v) > rep), file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    top = result.most_likely
    lines = [
        "# Whole scan against its Monte Carlo loop and SaTScan (`benchmarks/bench_whole.py`)",
        "",
        f"Machine: {describe()} (at the end).",
        "",
        f"{args.n:,} random locations (bench_spatial.py's data: {int(area.cases.sum()):,} "
        f"cases), Poisson, circles up to 50% of the population, {R} replications; "
        f"medians of {args.repeats} interleaved repeats (SaTScan: {len(times['satscan'])} "
        "run(s)).",
        "",
        "| what | median s | runs |",
        "|---|---:|---:|",
        f"| `scan spatial` whole process (fresh, every thread, csv+summary) | "
        f"{med['whole']:.2f} | {len(times['whole'])} |",
        f"| its Monte Carlo loop (in process, every thread) | {med['monte carlo']:.2f} | "
        f"{len(times['monte carlo'])} |",
        f"| Numba's floor: import numpy and numba, call one cached parallel function | "
        f"{med['numba floor']:.2f} | {len(times['numba floor'])} |",
    ]
    if "satscan" in med:
        lines.append(f"| SaTScan 10.3, 1 thread (`NumberParallelProcesses=1`) | "
                     f"{med['satscan']:.1f} | {len(times['satscan'])} |")
    rest = med["whole"] - med["monte carlo"] - med["numba floor"]
    lines += ["", f"Whole process / Monte Carlo loop = **{med['whole'] / med['monte carlo']:.2f}**"
              f" (target <= 1.5); the rest of the process beyond the Monte Carlo loop and Numba's "
              f"floor (scan's imports, reading, windows, observed scan, outputs): {rest:.2f} s."]
    if "satscan" in med:
        c = sat["clusters"][0] if sat and sat.get("clusters") else {}
        same = sorted(f"L{i}" for i in top.member_indices) == sorted(c.get("locations", []))
        lines.append(f"SaTScan 1 thread / scan whole process = "
                     f"**{med['satscan'] / med['whole']:.1f}x** (target >= 15x).")
        lines.append(f"Most likely cluster: scan {len(top.members)} locations, LLR {top.llr:.6f}; "
                     f"SaTScan {c.get('n_locations')} locations, LLR {c.get('llr')}; same "
                     f"locations: {same}.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
