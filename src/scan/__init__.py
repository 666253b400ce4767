"""scan: Kulldorff scan statistics for disease clusters, with exposure context.

Importing the package compiles nothing and loads no heavy library: the names below load on
first use (Numba kernels compile, or load from the on-disk cache, when first called).
"""
from __future__ import annotations

__version__ = "0.2.0"

_LAZY = {
    # data
    "study_area": ("scan.data", "study_area"),
    "StudyArea": ("scan.data", "StudyArea"),
    "SpaceTimeData": ("scan.data", "SpaceTimeData"),
    # readers
    "read_csv": ("scan.io.csv", "read_csv"),
    "read_satscan": ("scan.io.satscan", "read_satscan"),
    "read_spacetime_csv": ("scan.io.spacetime_csv", "read_spacetime_csv"),
    "read_satscan_spacetime": ("scan.io.satscan", "read_satscan_spacetime"),
    "read_long_csv": ("scan.io.long", "read_long_csv"),
    "read_prm": ("scan.io.prm", "read_prm"),
    # analyses
    "circular_scan": ("scan.spatial", "circular_scan"),
    "spacetime_scan": ("scan.spacetime", "spacetime_scan"),
    "run_batch": ("scan.batch", "run_batch"),
    # results and outputs
    "ScanResult": ("scan.result", "ScanResult"),
    "Cluster": ("scan.result", "Cluster"),
    "write_result": ("scan.io.writers", "write_result"),
    # GeoPandas (pip install scan[geo])
    "from_geodataframe": ("scan.geo", "from_geodataframe"),
    # the embedded borough
    "load_borough": ("scan.datasets", "load_borough"),
    "borough_study_area": ("scan.datasets", "borough_study_area"),
    "borough_spacetime": ("scan.datasets", "borough_spacetime"),
    # errors
    "ScanInputError": ("scan.errors", "ScanInputError"),
    "ScanParameterError": ("scan.errors", "ScanParameterError"),
    "ScanRunError": ("scan.errors", "ScanRunError"),
}

__all__ = sorted(_LAZY) + ["__version__", "version_string"]


def version_string() -> str:
    """The version, with the git commit when running from a clone (``0.2.0+g1a2b3c4``)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
        if commit:
            return f"{__version__}+g{commit}"
    return __version__


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'scan' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
