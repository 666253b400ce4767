"""Cluster inquiries for a named area or a point (Stage 2a): SIR with exact interval and
p-value, and focused tests (Stone, the focused Kulldorff scan, Besag-Newell).

Importing this package imports neither scipy nor compiles anything; see :mod:`scan.inquiry.stats`.
"""
from __future__ import annotations

_NAMES = ("sir", "SIR", "stone_test", "StoneResult", "stone_statistic", "focused_scan",
          "FocusedScanResult", "focused_windows", "besag_newell", "BesagNewellResult",
          "internal_expected", "focus_order")

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        from . import stats

        return getattr(stats, name)
    raise AttributeError(f"module 'scan.inquiry' has no attribute {name!r}")
