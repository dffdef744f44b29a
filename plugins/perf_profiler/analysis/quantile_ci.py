"""Per-run significance from a run's own HDR histogram: a confidence interval for its p95 (issue 15).

The ``k``-th smallest of ``n`` samples lies below the true ``p``-quantile with probability
``P(Binomial(n, p) >= k)``, so ranks ``n·p ± z·sqrt(n·p·(1-p))`` bound the quantile with confidence
``1 - 2·(1 - Φ(z))`` (the normal approximation of the binomial, fine for the hundreds of requests a
run has). The bounds are read from the histogram's counts with ``analysis.histogram``'s own
percentile rule, so a bound is a value the histogram holds: 200 requests give a wide interval,
100,000 a narrow one.

A night is **suspect** only when its interval and the level's separate. The level's interval is its
mean ± ``z`` times the spread of its history (in log space): the history holds the night-to-night
noise that no single histogram shows. A suspect night is shown as an *outlier* until the next runs
confirm a change point (``analysis.changepoints``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

from perf_profiler.analysis.histogram import summarize_counts

if TYPE_CHECKING:
    import numpy as np

#: Two-sided confidence of the per-run interval and of the level's interval.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A quantile and its confidence interval, in ms."""

    low_ms: float
    value_ms: float
    high_ms: float


def rank_bounds(total: int, percentile: float, confidence: float = CONFIDENCE) -> tuple[int, int]:
    """1-based ranks (low, high) of the order statistics bounding the ``percentile`` (0-100) of ``total``."""
    p = percentile / 100.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    half = z * math.sqrt(total * p * (1.0 - p))
    low = max(1, math.floor(total * p - half))
    high = min(total, math.ceil(total * p + half) + 1)
    return low, high


def quantile_interval(counts: np.ndarray, percentile: float = 95.0,
                      confidence: float = CONFIDENCE) -> Interval | None:
    """The ``percentile`` of a histogram's counts (``histogram.counts_snapshot``) and its interval."""
    total = int(counts.sum())
    if total == 0:
        return None
    low, high = rank_bounds(total, percentile, confidence)
    # the percentile whose rank (ceil(total * q / 100)) is exactly `rank`
    at = [100.0 * (rank - 0.5) / total for rank in (low, high)]
    stats = summarize_counts(counts, [at[0], percentile, at[1]])
    values = [stats.percentiles_ms[q] for q in (at[0], percentile, at[1])]
    return Interval(values[0], values[1], values[2])


def suspect(run: Interval, level_log_mean: float, level_log_spread: float,
            confidence: float = CONFIDENCE) -> int:
    """+1 when the run's interval lies above the level's, -1 below, 0 when they overlap."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    level_low = level_log_mean - z * level_log_spread
    level_high = level_log_mean + z * level_log_spread
    if run.low_ms > 0 and math.log(run.low_ms) > level_high:
        return 1
    if run.high_ms > 0 and math.log(run.high_ms) < level_low:
        return -1
    return 0
