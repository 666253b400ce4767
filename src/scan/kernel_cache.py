"""Numba's on-disk cache of scan's kernels: is it warm, and warming it.

Every kernel is compiled with ``cache=True``: the first run after installing (or after a kernel's
source changes) compiles them, which takes tens of seconds, and later runs load the machine code
from the cache in a fraction of a second.  :func:`cold` says cheaply, before a run, whether that
pause is coming (so that the command line can say so in one line instead of a progress bar stuck
at 0%); :func:`warm` runs a tiny analysis of each kind so that the pause happens at install time
(``make setup`` runs ``python -m scan.kernel_cache``).

:func:`cold` reads the cache index of each kernel an analysis calls from Python
(:data:`ENTRY_POINTS`; the functions they call are compiled into them): Numba keeps one index
file per function beside the source (``__pycache__``) or under ``NUMBA_CACHE_DIR``, stamped with
the source file's modification time and size, so an edited kernel reads as cold, as it should.
Limits: an index that holds other argument types than the coming call (say, a new integer type
of the neighbour lists, or writable arrays where the cache holds read-only ones: Numba compiles
each apart) still reads as warm, and the run compiles without a notice; :func:`warm` covers the
types the command line's paths produce (read-only and writable arrays, uint16 and uint32 counts).
A Numba that changes its private cache classes makes
the check answer "unknown", and no notice is given.
"""
from __future__ import annotations

import importlib
import logging
import time
from typing import Callable, Iterable

log = logging.getLogger(__name__)

NOTICE = "scan: compiling kernels (first run only; later runs load them from the cache)"
"""The one line the command line prints on stderr when :func:`cold` says so."""

_WINDOWS = (("scan.windows", "_bound_rows"), ("scan.windows", "_fill_rows"),
            ("scan.windows", "_close_gaps"))

ENTRY_POINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "spatial": _WINDOWS + (("scan._kernels", "best_window_per_centre"),
                           ("scan._kernels", "_replicate_maxima_blocks")),
    "spacetime": _WINDOWS + (("scan._st_kernels", "observed_cylinders"),
                             ("scan._st_kernels", "replicate_maxima_cyl")),
    # the inquiry's focused scan and Stone's test: circles around one point, ordered by the
    # window builder's sort, with the spatial kernels
    "inquiry": (("scan.windows", "_sorted_candidates"),
                ("scan._kernels", "best_window_per_centre"),
                ("scan._kernels", "_replicate_maxima_blocks")),
}
"""The jitted functions each kind of analysis calls from Python, as (module, name)."""

KINDS = tuple(ENTRY_POINTS)


def is_cached(module: str, name: str) -> bool | None:
    """Whether Numba's cache holds compiled code of ``module.name`` for its current source:
    True, False, or None when that cannot be told (not a cached Numba function)."""
    fn = getattr(importlib.import_module(module), name, None)
    cache_file = getattr(getattr(fn, "_cache", None), "_cache_file", None)
    if cache_file is None:
        return None
    try:
        return bool(cache_file._load_index())   # {} when missing or stale
    except Exception:  # a Numba whose private cache classes changed: unknown
        log.debug("cannot read the cache index of %s.%s", module, name, exc_info=True)
        return None


def cold(kinds: Iterable[str] | str = KINDS) -> bool:
    """True when a run of these kinds of analysis ("spatial", "spacetime", "inquiry") will
    compile kernels first, i.e. some entry point has no cached code for its current source."""
    if isinstance(kinds, str):
        kinds = (kinds,)
    points = dict.fromkeys(p for kind in kinds for p in ENTRY_POINTS[kind])
    return any(is_cached(module, name) is False for module, name in points)


# --- warming ----------------------------------------------------------------------------------

def _spatial_csv(folder, n: int = 12, scale: int = 1) -> str:
    """A tiny study area; ``scale`` multiplies the counts (a total above 65,535 cases makes the
    Monte Carlo count in uint32 instead of uint16: another compiled version)."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = f"{folder}/spatial-{scale}.csv"
    with open(path, "w") as fh:
        fh.write("id,x,y,cases,population\n")
        for i in range(n):
            fh.write(f"L{i},{rng.uniform(0, 10):.3f},{rng.uniform(0, 10):.3f},"
                     f"{rng.integers(0, 8) * scale},{rng.integers(20, 60) * scale}\n")
    return path


def _spacetime_csv(folder, n: int = 8, weeks: int = 6) -> str:
    import numpy as np

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 10, (n, 2))
    path = f"{folder}/spacetime.csv"
    with open(path, "w") as fh:
        fh.write("id,x,y,time,cases,population\n")
        for i in range(n):
            for w in range(weeks):
                day = np.datetime64("2024-01-01") + 7 * w
                fh.write(f"L{i},{xy[i, 0]:.3f},{xy[i, 1]:.3f},{day},"
                         f"{rng.integers(0, 5)},1000\n")
    return path


def _warm_spatial(folder) -> None:
    from dataclasses import replace

    from .io.csv import read_csv
    from .spatial import circular_scan

    # Numba compiles one version of a kernel per argument types: read-only arrays (a study area
    # as read: its arrays are frozen) and writable ones (an area derived from another, such as
    # the exposure-adjusted rescan of `scan demo` and --adjust-for); uint16 counts (at most
    # 65,535 cases) and uint32 ones.  Warm each; Poisson and Bernoulli share them.
    for scale in (1, 4_000):
        for model in ("poisson", "bernoulli"):
            area = read_csv(_spatial_csv(folder, scale=scale), model=model, crs=None)
            for a in (area, replace(area, expected=area.expected.copy(),
                                    population=area.population.copy())):
                circular_scan(a, model=model, direction="both", n_replications=9, rng=0)


def _warm_spacetime(folder) -> None:
    from .io.spacetime_csv import read_spacetime_csv
    from .spacetime import spacetime_scan

    data = read_spacetime_csv(_spacetime_csv(folder), time_aggregation="week", crs=None)
    for model, analysis in (("poisson", "retrospective"), ("permutation", "prospective"),
                            ("poisson", "temporal")):
        spacetime_scan(data, model=model, analysis=analysis, n_replications=9, rng=0)


def _warm_inquiry(folder) -> None:
    from dataclasses import replace

    from .inquiry.stats import focused_scan, stone_test
    from .io.csv import read_csv

    area = read_csv(_spatial_csv(folder), crs=None)
    for a in (area, replace(area, expected=area.expected.copy(),
                            population=area.population.copy())):
        focused_scan(a, "L0", n_replications=9, rng=0)
        stone_test(a, "L0", n_replications=9, rng=0)


_WARMERS: dict[str, Callable] = {"spatial": _warm_spatial, "spacetime": _warm_spacetime,
                                 "inquiry": _warm_inquiry}


def warm(kinds: Iterable[str] = KINDS) -> dict[str, float]:
    """Run a tiny analysis of each kind (both spatial models, read-only and writable arrays,
    uint16 and uint32 counts; space-time Poisson, permutation, prospective and purely temporal;
    the inquiry's focused scan and Stone's test) so that every kernel they call is compiled and
    cached; returns the seconds each kind took."""
    import tempfile

    seconds = {}
    with tempfile.TemporaryDirectory(prefix="scan-warm-") as folder:
        for kind in kinds:
            t0 = time.perf_counter()
            _WARMERS[kind](folder)
            seconds[kind] = time.perf_counter() - t0
    return seconds


def main(argv=None) -> int:
    """``python -m scan.kernel_cache``: compile and cache every kernel (``make setup``)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m scan.kernel_cache",
                                     description="Compile scan's kernels into Numba's cache.")
    parser.add_argument("--check", action="store_true",
                        help="only say whether the cache is warm (exit code 1 when cold)")
    args = parser.parse_args(argv)
    if args.check:
        is_cold = cold()
        print("cold" if is_cold else "warm")
        return int(is_cold)
    was_cold = cold()
    if was_cold:
        print("scan: compiling kernels (once, after installing or updating)...", file=sys.stderr)
    seconds = warm()
    what = "compiled and cached" if was_cold else "already cached"
    print(f"scan: kernels {what} ("
          + ", ".join(f"{k} {s:.1f} s" for k, s in seconds.items()) + ")", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
