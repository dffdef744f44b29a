"""Backfills re-derive, never measure: rows of a past interval rebuilt from their histograms.

A backfill run for an interval that has stored rows recomputes each row's percentiles from its
stored HDR histogram and judges them against today's budgets (so a budget change re-judges
history), keeping the row's identity: the same rows are updated, none are added. Counts,
throughput and timestamps are facts of the original measurement and are kept as they were.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perf_profiler.analysis.budget import evaluate
from perf_profiler.analysis.histogram import decode, summarize
from perf_profiler.model.targets import Budget

_PERCENTILE_FIELDS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "min_ms", "max_ms", "mean_ms")


def rederive_row(row: Mapping[str, Any], budget: Budget) -> dict[str, Any]:
    """``row`` with percentiles recomputed from its latency histogram and a fresh verdict."""
    stats = summarize(decode(row["latency_hist"]))
    derived = {**row, **{name: round(getattr(stats, name), 3) for name in _PERCENTILE_FIELDS}}
    derived.update(
        budget_p95_ms=budget.p95_ms,
        budget_error_rate=budget.error_rate,
        verdict=evaluate(derived["p95_ms"], float(row["error_rate"]), budget).verdict,
    )
    return derived


def rederive_rows(
    rows: Sequence[Mapping[str, Any]], budgets: Mapping[tuple[str, str], Budget]
) -> list[dict[str, Any]]:
    """Re-derive every row; an endpoint no longer configured keeps the budget it was judged by."""
    out = []
    for row in rows:
        stored = Budget(p95_ms=float(row["budget_p95_ms"]), error_rate=float(row["budget_error_rate"]))
        out.append(rederive_row(row, budgets.get((row["service"], row["endpoint"]), stored)))
    return out
