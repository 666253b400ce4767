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
    """Candidates to report, most likely first, under ``criterion``."""
    from .errors import check_choice

    check_choice("secondary_criterion", criterion, tuple(CRITERIA))
    return CRITERIA[criterion](candidates, windows, analysis)
