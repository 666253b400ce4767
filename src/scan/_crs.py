"""pyproj objects built once per process, and pyproj imported only when a CRS is used.

Building a CRS or a transformer reads PROJ's database (10-20 ms each); a run that validates its
points, writes GeoJSON and prints its radius unit needs the same two or three objects many times
(one transformer per cluster circle before this cache).  pyproj's CRS and Transformer objects are
thread-safe (pyproj >= 3.1), so one cached object serves every thread.
"""
from __future__ import annotations

import functools

WGS84 = "EPSG:4326"


def crs(user_input):
    """``pyproj.CRS.from_user_input(user_input)``, cached for hashable inputs (CRSError as
    pyproj raises it)."""
    try:
        return _crs_cached(user_input)
    except TypeError:  # unhashable input (a dict of PROJ parameters): build it each time
        import pyproj

        return pyproj.CRS.from_user_input(user_input)


@functools.lru_cache(maxsize=32)
def _crs_cached(user_input):
    import pyproj

    return pyproj.CRS.from_user_input(user_input)


def transformer(source, target=WGS84):
    """``pyproj.Transformer.from_crs(source, target, always_xy=True)``, cached."""
    try:
        return _transformer_cached(source, target)
    except TypeError:
        import pyproj

        return pyproj.Transformer.from_crs(crs(source), crs(target), always_xy=True)


@functools.lru_cache(maxsize=32)
def _transformer_cached(source, target):
    import pyproj

    return pyproj.Transformer.from_crs(crs(source), crs(target), always_xy=True)
