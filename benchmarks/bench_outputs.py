"""Writing a result's outputs at 20,000 locations (issue 12: <= 2 s in all).

Each writer of scan.io.writers.WRITERS is timed on one result (20,000 random locations in
British National Grid, 10% circles, every non-overlapping cluster kept: several hundred), and
compared in the same run with a naive baseline doing the same job the obvious way: the cluster
polygons built with a new pyproj Transformer per cluster and the GeoJSON written with
``json.dumps(indent=2)`` (the pure-Python encoder).  Medians of --repeats runs.

    python benchmarks/bench_outputs.py [--n 20000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import tempfile
import time

import numpy as np

import scan
from scan.io import writers


def make_result(n: int):
    rng = np.random.default_rng(1)
    x = rng.uniform(530_000, 560_000, n)
    y = rng.uniform(175_000, 195_000, n)
    pop = rng.integers(1_000, 3_000, n).astype(float)
    area = scan.study_area([f"L{i}" for i in range(n)], x, y, rng.poisson(pop * 0.01), pop)
    return scan.circular_scan(area, n_replications=9, rng=1, max_population_fraction=0.1)


def naive_geojson(result, folder: pathlib.Path) -> None:
    """The obvious way: a Transformer per cluster, an indented pure-Python JSON encoder."""
    import pyproj

    features = []
    for c in result.clusters:
        t = pyproj.Transformer.from_crs(result.area.crs, "EPSG:4326", always_xy=True)
        a = np.linspace(0, 2 * np.pi, 129)
        lon, lat = t.transform(c.center_x + c.radius * np.cos(a), c.center_y + c.radius * np.sin(a))
        features.append({"type": "Feature", "properties": c.to_dict(),
                         "geometry": {"type": "Polygon",
                                      "coordinates": [[[float(u), float(v)]
                                                       for u, v in zip(lon, lat)]]}})
    (folder / "clusters.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                         "features": features}, indent=2))


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        folder = pathlib.Path(tempfile.mkdtemp())
        t0 = time.perf_counter()
        fn(folder)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    result = make_result(args.n)
    context = writers.WriteContext()
    print(f"{args.n:,} locations, {len(result.clusters)} clusters; medians of {args.repeats}")
    for name, writer in writers.WRITERS.items():
        t = timed(lambda f, w=writer: w(result, f, context), args.repeats)
        print(f"  {name:8s} {t:6.2f} s")
    whole = timed(lambda f: scan.write_result(result, f / "out"), args.repeats)
    print(f"  write_result, default formats {writers.DEFAULT_FORMATS}: {whole:.2f} s")
    ours = timed(lambda f: writers.WRITERS["geojson"](result, f, context), args.repeats)
    naive = timed(lambda f: naive_geojson(result, f), args.repeats)
    print(f"  GeoJSON: scan {ours:.2f} s, naive baseline (clusters only) {naive:.2f} s, "
          f"ratio {naive / ours:.1f}x")


if __name__ == "__main__":
    main()
