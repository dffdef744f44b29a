"""The states of one series' change points, as people act on them (issue 15).

``suspected``   one night whose interval separates from the level's (``analysis.quantile_ci``), not yet
                confirmed by the runs after it: shown as an outlier, never notified;
``confirmed``   a change point upwards (``analysis.changepoints``) that persists;
``recovered``   a confirmed regression after which the level came back to within the minimum
                effect of the level before it;
``acknowledged`` a person marked it (kept by storage across re-detection; it stops notifications).

Improvements (change points downwards) are recorded with the kind ``improvement``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from perf_profiler.analysis.changepoints import DEFAULT, Change, Params

SUSPECTED, CONFIRMED, RECOVERED, ACKNOWLEDGED = "suspected", "confirmed", "recovered", "acknowledged"
REGRESSION, IMPROVEMENT = "regression", "improvement"


@dataclass(frozen=True)
class Finding:
    """One change point (or suspect night) of a series: ``index`` is the first run of the new level."""

    kind: str
    state: str
    index: int
    confirmed_at: int | None
    effect: float
    recovered_at: int | None = None
    z: float = 0.0


def findings(changes: Sequence[Change], latest_index: int | None = None, latest_suspect: int = 0,
             params: Params = DEFAULT) -> list[Finding]:
    """The findings of one series from its change points (in the order found) and the latest run's
    suspect test (``quantile_ci.suspect`` of run ``latest_index``: +1 above the level)."""
    out: list[Finding] = []
    level = 0.0  # log level relative to the first one
    levels_before: list[float] = []
    for change in changes:
        levels_before.append(level)
        level += math.log1p(change.effect)
    for i, change in enumerate(changes):
        if not change.regression:
            out.append(Finding(IMPROVEMENT, CONFIRMED, change.index, change.confirmed_at, change.effect, z=change.z))
            continue
        back = next((later.index for j, later in enumerate(changes[i + 1:], start=i + 1)
                     if _level_after(levels_before, changes, j) <= levels_before[i] + params.log_effect), None)
        state = CONFIRMED if back is None else RECOVERED
        out.append(Finding(REGRESSION, state, change.index, change.confirmed_at, change.effect, back, change.z))
    if latest_index is not None and latest_suspect > 0 and all(c.index != latest_index for c in changes):
        out.append(Finding(REGRESSION, SUSPECTED, latest_index, None, 0.0))
    return out


def _level_after(levels_before: Sequence[float], changes: Sequence[Change], j: int) -> float:
    return levels_before[j] + math.log1p(changes[j].effect)
