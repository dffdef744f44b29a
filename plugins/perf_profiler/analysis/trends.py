"""Regression and daily-rollup maths for the DAG ``perf_trends`` (the SQL: ``storage.trends_repo``).

Method (robust baseline, documented in the README): for each new perf_metrics row, take the p95
of the same tenant × service × endpoint in the last ``WINDOW`` earlier runs. With at least
``MIN_HISTORY`` of them, the baseline is their median and the spread their MAD (median absolute
deviation, scaled by 1.4826 so it estimates a standard deviation for normal data). The row
regressed when

    p95 > median + max(K · 1.4826 · MAD, MIN_RELATIVE · median, MIN_ABSOLUTE_MS)

The median and MAD ignore a few outliers in the history (unlike mean ± k·σ), and the relative
and absolute floors keep a perfectly flat history (MAD = 0) from flagging noise.
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WINDOW = 20
MIN_HISTORY = 5
K = 3.0
MAD_SCALE = 1.4826
MIN_RELATIVE = 0.10
MIN_ABSOLUTE_MS = 1.0
METHOD = f"median+max({K:g}*1.4826*MAD,{MIN_RELATIVE:.0%},{MIN_ABSOLUTE_MS:g}ms) over last {WINDOW} runs"


@dataclass(frozen=True)
class Baseline:
    """The robust baseline of one endpoint's recent p95 history."""

    median_ms: float
    mad_ms: float
    threshold_ms: float
    runs: int


@dataclass(frozen=True)
class DayRollup:
    """One (tenant, service, endpoint, day): its runs summarised."""

    runs: int
    failing_runs: int
    requests: int
    errors: int
    p95_median_ms: float
    p95_max_ms: float
    throughput_mean: float


def baseline(history_p95_ms: Sequence[float]) -> Baseline | None:
    """The robust baseline of a history of p95 values (None when the history is too short)."""
    if len(history_p95_ms) < MIN_HISTORY:
        return None
    median = statistics.median(history_p95_ms)
    mad = statistics.median(abs(x - median) for x in history_p95_ms)
    margin = max(K * MAD_SCALE * mad, MIN_RELATIVE * median, MIN_ABSOLUTE_MS)
    return Baseline(median, mad, median + margin, len(history_p95_ms))


def is_regression(p95_ms: float, base: Baseline | None) -> bool:
    return base is not None and p95_ms > base.threshold_ms


def summarize_day(runs: Sequence[Mapping[str, Any]]) -> DayRollup | None:
    """The rollup of one day's perf_metrics rows (``p95_ms``, ``requests``, ``error_count``,
    ``throughput``, ``verdict``); None for a day without rows."""
    if not runs:
        return None
    p95 = [float(run["p95_ms"]) for run in runs]
    return DayRollup(
        runs=len(runs),
        failing_runs=sum(run["verdict"] == "fail" for run in runs),
        requests=sum(int(run["requests"]) for run in runs),
        errors=sum(int(run["error_count"]) for run in runs),
        p95_median_ms=statistics.median(p95),
        p95_max_ms=max(p95),
        throughput_mean=statistics.fmean(float(run["throughput"]) for run in runs),
    )
