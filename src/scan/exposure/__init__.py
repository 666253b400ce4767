"""Exposure context for clusters: pollution grids (xarray), values per location, per cluster, maps.

Importing this package is cheap: xarray, pandas and matplotlib load when a function is first used.

    grids      read_grid, read_grids, write_netcdf          LAEI CSV, ESRI ASCII, NetCDF -> Dataset
    synthetic  synthetic_laei, ROADS                        deterministic LAEI-like borough grids
    summary    sample_points, polygon_means, read_location_table,
               cluster_exposure, exposure_table, AIR_QUALITY_LIMITS
    adjust     exposure_context, adjusted_scan              join files to a result; adjusted rescan
"""
from __future__ import annotations

_LAZY = {
    "read_grid": "grids", "read_grids": "grids", "write_netcdf": "grids",
    "canonical_pollutant": "grids", "POLLUTANTS": "grids", "UNITS": "grids", "CRS": "grids",
    "synthetic_laei": "synthetic", "ROADS": "synthetic",
    "sample_points": "summary", "polygon_means": "summary", "read_location_table": "summary",
    "cluster_exposure": "summary", "exposure_table": "summary", "AIR_QUALITY_LIMITS": "summary",
    "exposure_context": "adjust", "adjusted_scan": "adjust",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
