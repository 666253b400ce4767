"""Start-up and first-run compilation of `scan`: whole processes, with same-run baselines.

    python benchmarks/bench_startup.py          # 9 rounds + compile; writes RESULTS_startup.md
    python benchmarks/bench_startup.py --rounds 3 --no-compile --out -

Start-up (warm Numba cache): in alternated rounds, so that the load of a shared machine falls
on every command alike, each a fresh process:

  * ``base``: ``python -c "import numpy, numba"`` -- the issue's yardstick;
  * ``numba floor``: import numpy and numba and call one cached ``@njit(parallel=True)``
    function -- what any program pays to run one compiled function (Numba initialises its
    target, importing scipy.linalg for its BLAS check, and loads the cached code);
  * ``parse``: ``import scan.cli`` and parse a ``scan spatial`` command line;
  * ``scan csv,summary``: ``scan spatial`` on 100 locations, 999 replications,
    ``--formats csv,summary``;
  * ``scan default``: the same with the default outputs (csv, geojson, summary, map).

Reported: median wall and CPU seconds, the ratio of medians to ``base`` and the median of the
per-round ratios; which heavy libraries each run imports; where one run's time goes.

Compilation (``--compile``, the default): with ``NUMBA_CACHE_DIR`` pointing at an empty
temporary folder (so nothing is cached): the first ``scan spatial`` run, its compile time per
kernel entry point (Numba's compile events), the one-line notice it prints; then
``python -m scan.kernel_cache`` (what ``make setup`` runs) on an empty cache, every kind.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe  # noqa: E402  (benchmarks/machine.py)

HEAVY = ("pandas", "matplotlib", "xarray", "dask", "distributed", "pyproj", "shapely", "scipy",
         "tqdm", "numba", "h5py", "h5netcdf")

FLOOR = """
import numba, numpy as np
@numba.njit(cache=True, parallel=True)
def total(a):
    s = 0.0
    for i in numba.prange(a.shape[0]):
        s += a[i]
    return s
total(np.ones(10))
"""

PARSE = ("import scan.cli; scan.cli.build_parser().parse_args(['spatial', 'd.csv', '--out', "
         "'o'])")


def write_data(path: Path, n: int = 100, seed: int = 1) -> Path:
    """100 locations in 4 towns of a 20 x 20 km square (British National Grid), populations
    500-3,000, cases at 1% with a planted excess (relative risk 2) in one town's centre."""
    rng = np.random.default_rng(seed)
    towns = rng.uniform([520_000, 170_000], [540_000, 190_000], (4, 2))
    xy = towns[rng.integers(0, 4, n)] + rng.normal(0, 1_500, (n, 2))
    pop = rng.integers(500, 3_000, n)
    rr = np.where(np.hypot(*(xy - towns[0]).T) < 1_000, 2.0, 1.0)
    cases = rng.poisson(pop * 0.01 * rr)
    lines = ["id,x,y,cases,population"] + [
        f"L{i:03d},{xy[i, 0]:.1f},{xy[i, 1]:.1f},{cases[i]},{pop[i]}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(cmd, env=None, cwd=None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds (user + system of the child) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(f"{cmd} failed: {out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def scan_cmd(data: Path, out: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "scan.cli", "spatial", str(data), "--out", str(out),
            "--replications", "999", "--seed", "1", *extra]


def imports_of(code: str) -> list[str]:
    probe = (code + "\nimport sys\nprint('HEAVY', sorted({m.split('.')[0] for m in "
             f"sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    return eval([x for x in out.splitlines() if x.startswith("HEAVY")][-1][6:])


BREAKDOWN = """
import time, json, sys
t = {{}}; t0 = time.perf_counter()
from scan.cli import build_parser
args = build_parser().parse_args({argv!r})
t['import scan.cli + parse'] = time.perf_counter() - t0; t0 = time.perf_counter()
from scan.io.csv import read_csv
area = read_csv(args.data)
t['read CSV (pyproj: CRS check)'] = time.perf_counter() - t0; t0 = time.perf_counter()
from scan.kernel_cache import cold
cold('spatial')
t['import kernels (numba) + cache check'] = time.perf_counter() - t0; t0 = time.perf_counter()
import scan
r = scan.circular_scan(area, n_replications=999, rng=1)
total = time.perf_counter() - t0
for k, v in r.timings.items():
    t['scan: ' + k + (' (Numba target init + cache load)' if k == 'windows_s' else '')] = v
t['scan: clusters, result'] = total - sum(r.timings.values()); t0 = time.perf_counter()
from scan.io.writers import write_result
write_result(r, args.out, formats=('csv', 'summary'))
t['write csv, summary'] = time.perf_counter() - t0; t0 = time.perf_counter()
write_result(r, args.out, formats=('geojson',))
t['write geojson'] = time.perf_counter() - t0; t0 = time.perf_counter()
write_result(r, args.out, formats=('map',))
t['write map (matplotlib)'] = time.perf_counter() - t0; t0 = time.perf_counter()
write_result(r, args.out, formats=('gpkg',))
t['write gpkg (pyogrio, which imports geopandas and pandas when installed)'] = \
    time.perf_counter() - t0
print('BREAKDOWN ' + json.dumps(t))
"""

COMPILE_PROBE = """
import json, sys, time
from numba.core import event
records, stack = [], []
class Listener(event.Listener):
    def on_start(self, ev):
        stack.append(time.perf_counter())
    def on_end(self, ev):
        t0 = stack.pop()
        d = ev.data['dispatcher']
        name = d.py_func.__module__ + '.' + d.py_func.__qualname__
        if name.startswith('scan.'):
            records.append((name, time.perf_counter() - t0, len(stack)))
event.register('numba:compile', Listener())
from scan.cli import main
t0 = time.perf_counter()
rc = main({argv!r})
wall = time.perf_counter() - t0
print('COMPILE ' + json.dumps({{'rc': rc, 'wall': wall, 'records': records}}))
"""


def compile_section(data: Path, tmp: Path) -> dict:
    """First run and warm-up on an empty Numba cache."""
    res = {}
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "cache-first-run")}
    argv = ["spatial", str(data), "--out", str(tmp / "first"), "--replications", "999",
            "--seed", "1", "--formats", "csv,summary", "--quiet"]
    wall, cpu, out = run([sys.executable, "-c", COMPILE_PROBE.format(argv=argv)], env=env)
    probe = json.loads([x for x in out.stdout.splitlines() if x.startswith("COMPILE")][-1][8:])
    top = {}
    for name, seconds, depth in probe["records"]:
        if depth == 0:   # a compile not nested in another compile of scan's
            top[name] = top.get(name, 0.0) + seconds
    notice = [x for x in out.stderr.splitlines() if "compiling kernels" in x]
    wall2, cpu2, _ = run(scan_cmd(data, tmp / "second", "--formats", "csv,summary", "--quiet"),
                         env=env)
    res["first_run"] = {"wall": wall, "cpu": cpu, "compile_top": top,
                        "compile_total": sum(top.values()), "notice": notice,
                        "second_run_wall": wall2, "second_run_cpu": cpu2}
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "cache-warm-up")}
    wall, cpu, out = run([sys.executable, "-m", "scan.kernel_cache"], env=env)
    res["warm_up"] = {"wall": wall, "cpu": cpu, "stderr": out.stderr.strip().splitlines()}
    wall, cpu, out = run([sys.executable, "-m", "scan.kernel_cache"], env=env)
    res["warm_up_again"] = {"wall": wall, "cpu": cpu}
    # `make demo` after `make setup` (cache warmed) against a demo on an empty cache
    demo = [sys.executable, "-m", "scan.cli", "demo", "--quiet", "--out"]
    res["demo_warm"] = [run(demo + [str(tmp / f"demo{i}")], env=env)[0] for i in range(3)]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "cache-demo")}
    res["demo_cold"] = run(demo + [str(tmp / "demo-cold")], env=env)[0]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_startup.md")),
                    help="Markdown report path, or - for stdout only")
    ap.add_argument("--before", default=None, metavar="SRC",
                    help="a src/ folder of an earlier scan (`git archive REV src | tar -x`): "
                         "its two scan commands join the rounds, through PYTHONPATH")
    args = ap.parse_args(argv)

    import scan

    tmp = Path(tempfile.mkdtemp(prefix="scan-bench-startup-"))
    data = write_data(tmp / "d100.csv")
    floor = tmp / "floor.py"
    floor.write_text(FLOOR)
    commands = {
        "base": [sys.executable, "-c", "import numpy, numba"],
        "numba floor": [sys.executable, str(floor)],
        "parse": [sys.executable, "-c", PARSE],
        "scan csv,summary": scan_cmd(data, tmp / "o1", "--formats", "csv,summary"),
        "scan default": scan_cmd(data, tmp / "o2"),
    }
    envs = {}
    if args.before:
        before_env = {**os.environ, "PYTHONPATH": str(Path(args.before).resolve())}
        for key, fmt in (("before: scan csv,summary", ["--formats", "csv,summary"]),
                         ("before: scan default", [])):
            commands[key] = scan_cmd(data, tmp / key.replace(" ", "_"), *fmt)
            envs[key] = before_env
    # warm: the floor's cache, scan's kernels (make setup has done it; this makes sure)
    run(commands["numba floor"])
    subprocess.run([sys.executable, "-m", "scan.kernel_cache"], capture_output=True)
    for key, cmd in commands.items():
        run(cmd, env=envs.get(key))
    walls = {k: [] for k in commands}
    cpus = {k: [] for k in commands}
    for r in range(args.rounds):
        order = list(commands) if r % 2 == 0 else list(commands)[::-1]
        for key in order:
            wall, cpu, _ = run(commands[key], env=envs.get(key))
            walls[key].append(wall)
            cpus[key].append(cpu)
        print(f"round {r + 1}: " + ", ".join(f"{k} {walls[k][-1]:.2f}" for k in commands),
              flush=True)
    audit = {
        "import scan + parse": imports_of(PARSE),
        "scan csv,summary": imports_of(
            f"from scan.cli import main; main({commands['scan csv,summary'][3:] + ['--quiet']!r})"),
        "scan default": imports_of(
            f"from scan.cli import main; main({commands['scan default'][3:] + ['--quiet']!r})"),
    }
    out = subprocess.run([sys.executable, "-c", BREAKDOWN.format(
        argv=["spatial", str(data), "--out", str(tmp / "o3")])], capture_output=True, text=True,
        check=True).stdout
    breakdown = json.loads([x for x in out.splitlines() if x.startswith("BREAKDOWN")][-1][10:])
    comp = compile_section(data, tmp) if args.compile else None

    base_w, base_c = statistics.median(walls["base"]), statistics.median(cpus["base"])
    lines = [
        "# Start-up and first-run benchmark",
        "",
        f"Machine: {describe()} (at the end); scan {scan.__version__}.",
        f"Command: `python benchmarks/bench_startup.py --rounds {args.rounds}"
        + (" --before SRC` (SRC: the src/ folder of the commit before this work, run through "
           "PYTHONPATH with the same environment)" if args.before else "`")
        + f"; {args.rounds} "
        "rounds, commands alternated (forward, then backward); each a fresh process; Numba's "
        "cache warm.  Data: 100 locations (British National Grid, 4 towns), 999 replications.",
        "",
        "| command | median wall s | min | max | x base (medians) | median of per-round "
        "ratios | median CPU s | CPU x base |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in commands:
        w, c = walls[key], cpus[key]
        ratios = [a / b for a, b in zip(w, walls["base"])]
        lines.append(f"| {key} | {statistics.median(w):.2f} | {min(w):.2f} | {max(w):.2f} | "
                     f"{statistics.median(w) / base_w:.2f} | {statistics.median(ratios):.2f} | "
                     f"{statistics.median(c):.2f} | {statistics.median(c) / base_c:.2f} |")
    lines += ["", "Heavy libraries in `sys.modules` at the end of each (numpy aside):", ""]
    lines += [f"- {k}: {', '.join(v) or 'none'}" for k, v in audit.items()]
    lines += ["", "Where one `scan spatial` run's time goes (one in-process run, seconds; the "
              "interpreter's own start is the base process minus its imports):", "",
              "| step | s |", "|---|---:|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in breakdown.items() if not isinstance(v, list)]
    if comp:
        f = comp["first_run"]
        lines += [
            "", "## First run after installing (empty Numba cache)", "",
            f"`NUMBA_CACHE_DIR` = an empty folder; `scan spatial` (csv,summary, --quiet) as "
            f"above: **{f['wall']:.1f} s** wall ({f['cpu']:.1f} s CPU), of which compiling "
            f"**{f['compile_total']:.1f} s** (Numba's compile events of scan's functions, "
            f"outermost only); the next run: {f['second_run_wall']:.2f} s.",
            "Notice on stderr: " + (" / ".join(f"`{x}`" for x in f["notice"]) or "**none**"),
            "", "| compiled entry point (with what it calls) | s |", "|---|---:|"]
        lines += [f"| `{k}` | {v:.1f} |" for k, v in sorted(f["compile_top"].items(),
                                                           key=lambda kv: -kv[1])]
        w = comp["warm_up"]
        lines += [
            "",
            f"`python -m scan.kernel_cache` (what `make setup` runs after installing: tiny "
            f"scans of each kind -- spatial Poisson and Bernoulli with read-only and writable "
            f"arrays and uint16 and uint32 counts, space-time Poisson, permutation, "
            f"prospective, purely temporal) on an empty cache: **{w['wall']:.1f} s**"
            f" wall ({w['cpu']:.1f} s CPU); again on the warm cache: "
            f"{comp['warm_up_again']['wall']:.1f} s.  It said: "
            + " / ".join(f"`{x}`" for x in w["stderr"]),
            "",
            f"`scan demo` (what `make demo` runs) after that warm-up: "
            f"**{statistics.median(comp['demo_warm']):.1f} s** (median of 3); on an empty cache: "
            f"{comp['demo_cold']:.1f} s.",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        path = Path(args.out)
        notes = "<!-- notes: hand-written below this line, kept when the benchmark rewrites " \
                "the file -->"
        if path.exists() and notes in path.read_text():
            text += "\n" + notes + path.read_text().split(notes, 1)[1]
        path.write_text(text)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
