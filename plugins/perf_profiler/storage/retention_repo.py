"""Retention SQL: drop old encoded histograms from perf_metrics, delete old delivered outbox entries.

Both prunes work in batches of ``batch_size`` rows, each batch its own short transaction, so one
run never locks a table for long; at most ``max_batches`` batches run per call and whatever is
left is reported (``PruneResult.complete`` False) for the next run. Both are idempotent: a row
already pruned no longer matches, so a second call with the same cutoff prunes nothing.

- perf_metrics: ``latency_hist``, ``error_hist`` and ``service_hist`` of rows measured before the
  cutoff are set to NULL; every other column (the percentiles, counts, verdict) stays.
- insight_outbox: entries *delivered* before the cutoff are deleted. Pending, held and rejected
  entries are never touched (only ``delivered_at IS NOT NULL`` rows match).

Values (the cutoff, the batch size) are bound with the hook's own ``placeholder``; timestamps as
fixed-width ISO-8601 UTC text, which both dialects compare correctly.
"""
from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from perf_profiler.common.encoding import iso_utc
from perf_profiler.model.columns import TABLE

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["BATCH_SIZE", "HISTOGRAM_COLUMNS", "MAX_BATCHES", "PruneResult", "prune_delivered_outbox",
           "prune_histograms"]

#: Rows per transaction, and transactions per call (100,000 rows per run at most).
BATCH_SIZE = 1000
MAX_BATCHES = 100
#: The encoded histograms of a perf_metrics row (``model.columns``): what retention drops.
HISTOGRAM_COLUMNS: tuple[str, ...] = ("latency_hist", "error_hist", "service_hist")


@dataclass(frozen=True)
class PruneResult:
    """How many rows one call pruned, and whether it reached the end (False: batches ran out)."""

    pruned: int
    complete: bool


def prune_histograms(hook: DbApiHook, cutoff: datetime, batch_size: int = BATCH_SIZE,
                     max_batches: int = MAX_BATCHES) -> PruneResult:
    """Set the histogram columns of rows measured before ``cutoff`` to NULL, in batches."""
    mark = hook.placeholder
    has_hist = " OR ".join(f"{column} IS NOT NULL" for column in HISTOGRAM_COLUMNS)
    nulls = ", ".join(f"{column} = NULL" for column in HISTOGRAM_COLUMNS)
    sql = (
        f"UPDATE {TABLE} SET {nulls} WHERE id IN (SELECT id FROM {TABLE} "
        f"WHERE measured_at < {mark} AND ({has_hist}) ORDER BY measured_at LIMIT {mark})"
    )
    return _in_batches(hook, sql, _stored_time(cutoff), batch_size, max_batches)


def prune_delivered_outbox(hook: DbApiHook, cutoff: datetime, batch_size: int = BATCH_SIZE,
                           max_batches: int = MAX_BATCHES) -> PruneResult:
    """Delete outbox entries delivered before ``cutoff``, in batches (no other entry is touched)."""
    mark = hook.placeholder
    sql = (
        "DELETE FROM insight_outbox WHERE seq IN (SELECT seq FROM insight_outbox "
        f"WHERE delivered_at IS NOT NULL AND delivered_at < {mark} ORDER BY seq LIMIT {mark})"
    )
    return _in_batches(hook, sql, _stored_time(cutoff), batch_size, max_batches)


def _in_batches(hook: DbApiHook, sql: str, cutoff: str, batch_size: int, max_batches: int) -> PruneResult:
    if batch_size < 1 or max_batches < 1:
        raise ValueError(f"batch_size and max_batches must be positive, got {batch_size!r} and {max_batches!r}")
    pruned = 0
    with closing(hook.get_conn()) as conn:
        for _ in range(max_batches):
            with closing(conn.cursor()) as cur:
                cur.execute(sql, (cutoff, batch_size))
                count = max(cur.rowcount, 0)
            conn.commit()  # one short transaction per batch
            pruned += count
            if count < batch_size:
                return PruneResult(pruned, complete=True)
    return PruneResult(pruned, complete=False)


def _stored_time(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, as both tables store and compare timestamps."""
    return iso_utc(moment, "microseconds") or ""
