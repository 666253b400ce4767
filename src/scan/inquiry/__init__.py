"""Cluster inquiries for a named area or a point (Stage 2a): SIR with exact interval and
p-value, focused tests (Stone, the focused Kulldorff scan, Besag-Newell), and the whole inquiry
in one call (:func:`inquiry`, :func:`write_inquiry`: ``scan inquiry``).

Importing this package imports neither scipy nor compiles anything; see
:mod:`scan.inquiry.stats` and :mod:`scan.inquiry.run`.
"""
from __future__ import annotations

_STATS = ("sir", "SIR", "stone_test", "StoneResult", "stone_statistic", "focused_scan",
          "FocusedScanResult", "focused_windows", "besag_newell", "BesagNewellResult",
          "internal_expected", "focus_order")
_RUN = ("inquiry", "run_inquiry", "write_inquiry", "public_inquiry", "select_areas", "verdict",
        "report_geometry", "InquiryRun", "Selection", "INQUIRY_KEYS")

__all__ = sorted(_STATS + _RUN)


def __getattr__(name):
    if name in _STATS:
        from . import stats

        return getattr(stats, name)
    if name in _RUN:
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module 'scan.inquiry' has no attribute {name!r}")
