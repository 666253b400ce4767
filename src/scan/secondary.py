"""Secondary clusters: which candidates are reported after the most likely one.

Every criterion sees the candidates (:class:`scan.pipeline.Candidates`: the best window of each
row, and any extra ones an analysis adds) ranked most likely first: higher test statistic, then
fewer locations, then the lower candidate (SaTScan's order for equally likely clusters), and
keeps a candidate when it passes the criterion against the ones already kept.  A criterion is
one entry of :data:`CRITERIA`; it returns the kept candidates' indices, most likely first.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Criterion = Callable[..., list[int]]


def ranked(candidates) -> np.ndarray:
    """Rows with a positive test statistic, most likely first (ties: fewer locations, then the
    lower row)."""
    stat, size = candidates.statistic, candidates.size
    order = np.lexsort((np.arange(len(stat)), size, -stat))
    return order[stat[order] > 0]


def no_overlap(candidates, windows, analysis) -> list[int]:
    """SaTScan's default: keep a window when it shares no location with a kept one."""
    taken = np.zeros(analysis.data.n_locations, dtype=bool)
    kept = []
    for k in ranked(candidates):
        members = analysis.members(windows, candidates.row_of(k), int(candidates.size[k]))
        if taken[members].any():
            continue
        taken[members] = True
        kept.append(int(k))
    return kept


CRITERIA: dict[str, Criterion] = {"no-overlap": no_overlap}
"""Secondary-cluster criteria by name (SaTScan's CriteriaForReportingSecondaryClusters)."""


def select(criterion: str, candidates, windows, analysis) -> list[int]:
    """Candidates to report, most likely first, under ``criterion``; analyses whose
    ``temporal_secondary`` is true (retrospective space-time, SaTScan >= 10.2) go through
    :func:`time_aware`."""
    from .errors import check_choice

    check_choice("secondary_criterion", criterion, tuple(CRITERIA))
    if getattr(analysis, "temporal_secondary", False) and candidates.t1 is not None:
        return time_aware(criterion, candidates, windows, analysis)
    return CRITERIA[criterion](candidates, windows, analysis)


# --- SaTScan >= 10.2: secondary clusters of retrospective space-time scans ----------------------
MAX_RETAINED = 500
"""Most clusters SaTScan keeps for a retrospective space-time analysis (MAX_RANKED_CLUSTERS)."""


def overlap_in_time(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """SaTScan's temporal overlap of windows ``[a0, a1)`` and ``[b0, b1)``, tested on the
    exclusive ends as stored: they overlap unless ``b1 < a0`` or ``b0 > a1``, so adjacent
    windows ([2, 5) and [5, 8)) overlap and a gap of one interval ([2, 5) and [6, 8)) does
    not."""
    return not (b[1] < a[0] or b[0] > a[1])


def _pair_keeps(criterion: str, candidates, windows, analysis, y: int, x: int) -> bool:
    """Whether ``criterion`` keeps candidate x beside the more likely y, by itself (the
    criteria compare a candidate with each kept cluster in turn)."""
    from dataclasses import replace

    pick = np.array([y, x])
    row = np.array([candidates.row_of(y), candidates.row_of(x)], dtype=np.int64)
    pair = replace(candidates, statistic=candidates.statistic[pick],
                   size=candidates.size[pick], t1=candidates.t1[pick], t2=candidates.t2[pick],
                   row=row)
    return 1 in CRITERIA[criterion](pair, windows, analysis)


def time_aware(criterion: str, candidates, windows, analysis) -> list[int]:
    """SaTScan's (>= 10.2) rule for retrospective space-time analyses: walking the candidates
    most likely first, a candidate is kept when, against every kept cluster, it passes the
    criterion **or** the two do not overlap in time (:func:`overlap_in_time`); at most
    :data:`MAX_RETAINED` are kept.  Purely temporal clusters (``analysis.whole_area``) are all
    kept.  The criterion's own test is applied pair by pair (a location in common for
    "no-overlap"; other criteria through their :data:`CRITERIA` function on the pair)."""
    order = ranked(candidates)
    if getattr(analysis, "whole_area", False):
        return [int(k) for k in order]
    if criterion == "none":
        return [int(k) for k in order[:MAX_RETAINED]]
    kept: list[int] = []
    holders: dict[int, list[int]] = {}      # location -> kept candidates holding it
    for k in order:
        k = int(k)
        when = candidates.time_window(k)
        members = analysis.members(windows, candidates.row_of(k), int(candidates.size[k]))
        if criterion == "no-overlap":
            ok = all(not overlap_in_time(when, candidates.time_window(y))
                     for loc in members.tolist() for y in holders.get(loc, ()))
        else:
            ok = all(not overlap_in_time(when, candidates.time_window(y))
                     or _pair_keeps(criterion, candidates, windows, analysis, y, k)
                     for y in kept)
        if not ok:
            continue
        kept.append(k)
        for loc in members.tolist():
            holders.setdefault(loc, []).append(k)
        if len(kept) >= MAX_RETAINED:
            break
    return kept
