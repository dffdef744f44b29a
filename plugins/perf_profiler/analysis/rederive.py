"""Backfills re-derive, never measure: rows of a past interval rebuilt from their histograms.

A backfill run for an interval that has stored rows recomputes every histogram-derived column of
each row (the registry's, ``model.columns``) from the histograms stored in the row, and judges
them against today's budgets (so a budget change re-judges history), keeping the row's identity:
the same rows are updated, none are added, each marked ``origin = 'rederived'`` with the time in
``rederived_at`` (the Performance view marks such points). Columns whose histogram is not stored (the client lag;
the service time of a closed loop, which is its latency) keep their values, as do counts,
throughput and timestamps: facts of the original measurement. A row whose latency histogram was
dropped by retention (``tasks.retention``) cannot be re-derived: ``rederivable`` tells them apart,
and the backfill leaves such rows as they are.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from perf_profiler.analysis.budget import evaluate
from perf_profiler.analysis.histogram import column_values, decode, summarize
from perf_profiler.common.encoding import iso_utc
from perf_profiler.model.columns import HISTOGRAM_COLUMN
from perf_profiler.model.targets import Budget


def rederivable(row: Mapping[str, Any]) -> bool:
    """Whether the row still has the latency histogram a re-derivation needs (retention drops it)."""
    column = HISTOGRAM_COLUMN["latency"]
    return column is not None and row.get(column) is not None


def rederive_row(row: Mapping[str, Any], budget: Budget, now: datetime | None = None) -> dict[str, Any]:
    """``row`` with its histogram-derived columns recomputed, a fresh verdict, marked re-derived (now)."""
    stats = {name: summarize(decode(row[column])) for name, column in HISTOGRAM_COLUMN.items()
             if column is not None and row.get(column) is not None}
    derived = {**row, **{name: round(value, 3) for name, value in column_values(stats).items()}}
    derived.update(
        budget_p95_ms=budget.p95_ms,
        budget_error_rate=budget.error_rate,
        verdict=evaluate(derived["p95_ms"], float(row["error_rate"]), budget).verdict,
        origin="rederived",
        rederived_at=iso_utc(now or datetime.now(timezone.utc)),
    )
    return derived


def rederive_rows(
    rows: Sequence[Mapping[str, Any]], budgets: Mapping[tuple[str, str], Budget]
) -> list[dict[str, Any]]:
    """Re-derive every row; an endpoint no longer configured keeps the budget it was judged by."""
    out = []
    now = datetime.now(timezone.utc)
    for row in rows:
        stored = Budget(p95_ms=float(row["budget_p95_ms"]), error_rate=float(row["budget_error_rate"]))
        out.append(rederive_row(row, budgets.get((row["service"], row["endpoint"]), stored), now))
    return out
