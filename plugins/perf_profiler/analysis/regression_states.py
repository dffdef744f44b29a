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
from collections.abc import Mapping, Sequence
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
             params: Params = DEFAULT, additive: bool = False) -> list[Finding]:
    """The findings of one series from its change points (in the order found) and the latest run's
    suspect test (``quantile_ci.suspect`` of run ``latest_index``: +1 above the level).

    ``additive``: the effects are absolute differences (an error rate, minimum effect
    ``min_error_rate_effect``), not relative ones (a latency, on log scale, ``min_effect``)."""
    out: list[Finding] = []
    level = 0.0  # level relative to the first one (log level unless additive)
    levels_before: list[float] = []
    step = (lambda effect: effect) if additive else math.log1p
    floor = params.min_error_rate_effect if additive else params.log_effect
    for change in changes:
        levels_before.append(level)
        level += step(change.effect)
    for i, change in enumerate(changes):
        if not change.regression:
            out.append(Finding(IMPROVEMENT, CONFIRMED, change.index, change.confirmed_at, change.effect, z=change.z))
            continue
        back = next((later.index for j, later in enumerate(changes[i + 1:], start=i + 1)
                     if levels_before[j] + step(later.effect) <= levels_before[i] + floor), None)
        state = CONFIRMED if back is None else RECOVERED
        out.append(Finding(REGRESSION, state, change.index, change.confirmed_at, change.effect, back, change.z))
    if latest_index is not None and latest_suspect > 0 and all(c.index != latest_index for c in changes):
        out.append(Finding(REGRESSION, SUSPECTED, latest_index, None, 0.0))
    return out


def effect_text(metric: str, effect: float) -> str:
    """A finding's effect for people: ``+20.0%`` (a latency, relative) or ``+2.00 pp`` (the error rate, absolute)."""
    return f"{100 * effect:+.2f} pp" if metric == "error_rate" else f"{100 * effect:+.1f}%"


def release_text(finding: Mapping[str, object]) -> str:
    """``release 1.4.2 (was 1.4.1)``, ``release 1.4.2``, or ``release unknown`` (no version stored)."""
    first, previous = finding.get("first_version"), finding.get("previous_version")
    if first is None:
        return "release unknown"
    return f"release {first}" if previous is None or previous == first else f"release {first} (was {previous})"
