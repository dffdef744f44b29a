"""One series judged as a whole (issue 15): change points, suspect nights and drift of one percentile
(p50, p95, p99) of one tenant × DAG × service × endpoint, in the form ``perf_trends`` stores them.

Re-running it over the same history gives the same findings (backfills and re-derivations re-evaluate:
the task judges the whole stored history again, not only the new night).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from perf_profiler.analysis import quantile_ci, regression_states
from perf_profiler.analysis.changepoints import DEFAULT, Params, scan
from perf_profiler.analysis.quantile_ci import Interval
from perf_profiler.analysis.regression_states import CONFIRMED, REGRESSION, SUSPECTED, Finding

OUTLIER, DRIFT = "outlier", "drift"


def method(params: Params = DEFAULT) -> str:
    """How a latency series was judged, as ``perf_changepoints.method`` records it."""
    return (f"change points on log percentile: z >= z(p={params.p_value:g}), min effect {params.min_effect:.1%}, "
            f"{params.confirm_runs} runs, history {params.min_history}-{params.window}, drift {params.drift_runs}")


METHOD = method()


@dataclass(frozen=True)
class Level:
    """The level (log mean and spread of the current segment's runs) before run ``index``."""

    log_mean: float
    log_spread: float
    runs: int


def level_before(log_p95: Sequence[float], index: int, segment_start: int, params: Params = DEFAULT) -> Level | None:
    """The level the run ``index`` is judged against (None with fewer than ``min_history`` runs)."""
    window = log_p95[max(segment_start, index - params.window):index]
    if len(window) < params.min_history:
        return None
    mean = math.fsum(window) / len(window)
    spread = math.sqrt(math.fsum((v - mean) ** 2 for v in window) / (len(window) - 1))
    return Level(mean, spread, len(window))


def evaluate(p95_ms: Sequence[float], intervals: Sequence[Interval | None], params: Params = DEFAULT) -> list[Finding]:
    """The findings of one series, oldest run first (``intervals``: each run's p95 interval, or None)."""
    import numpy as np

    log_p95 = [math.log(max(v, 1e-6)) for v in p95_ms]
    if not log_p95:
        return []
    found = scan(np.array(log_p95)[None, :], params)
    out = regression_states.findings(found.changes, params=params)
    starts = sorted(c.index for c in found.changes)
    covered = {i for c in found.changes for i in range(c.index, c.confirmed_at + 1)}
    last = len(log_p95) - 1
    for i, interval in enumerate(intervals):
        if interval is None or i in covered:
            continue
        segment_start = max((s for s in starts if s <= i), default=0)
        level = level_before(log_p95, i, segment_start, params)
        if level is None or quantile_ci.suspect(interval, level.log_mean, level.log_spread) <= 0:
            continue
        pending = last - i < params.confirm_runs - 1  # the runs that could confirm it are still to come
        kind = REGRESSION if pending else OUTLIER
        effect = math.expm1(log_p95[i] - level.log_mean)
        z = (log_p95[i] - level.log_mean) / level.log_spread if level.log_spread > 0 else 0.0
        out.append(Finding(kind, SUSPECTED, i, None, effect, None, z))
    out.extend(Finding(DRIFT, CONFIRMED, d.at, d.at, d.effect, None, d.z) for d in found.drifts)
    return out
