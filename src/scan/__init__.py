"""scan: Kulldorff scan statistics for disease clusters, with exposure context.

Importing the package compiles nothing: Numba kernels compile (or load from cache) on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "study_area": ("scan.data", "study_area"),
    "StudyArea": ("scan.data", "StudyArea"),
    "ScanInputError": ("scan.errors", "ScanInputError"),
    "ScanParameterError": ("scan.errors", "ScanParameterError"),
    "circular_scan": ("scan.spatial", "circular_scan"),
    "ScanResult": ("scan.result", "ScanResult"),
    "Cluster": ("scan.result", "Cluster"),
    "read_csv": ("scan.io.csv", "read_csv"),
    "read_satscan": ("scan.io.satscan", "read_satscan"),
    "load_borough": ("scan.datasets", "load_borough"),
    "spacetime_scan": ("scan.spacetime", "spacetime_scan"),
    "SpaceTimeData": ("scan.spacetime", "SpaceTimeData"),
    "read_spacetime_csv": ("scan.spacetime", "read_spacetime_csv"),
    "read_satscan_spacetime": ("scan.spacetime", "read_satscan_spacetime"),
    "run_batch": ("scan.batch", "run_batch"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'scan' has no attribute {name!r}")
