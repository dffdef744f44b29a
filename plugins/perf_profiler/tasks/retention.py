"""Task ``apply_retention`` of the perf_trends DAG: prune what the retention settings say is old.

Histograms of perf_metrics rows measured more than ``[perf_profiler] histogram_retention_days``
ago are dropped (set to NULL; the percentile columns stay, and a backfill over such rows skips
them with a log line), and outbox entries delivered more than ``outbox_retention_days`` ago are
deleted (pending, held and rejected entries never). 0 disables either. The settings are read when
the task runs. Idempotent: a second run prunes nothing. The SQL is ``storage.retention_repo``'s.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from perf_profiler.tasks.connections import DEFAULT_DB_CONN_ID

log = logging.getLogger(__name__)


def apply_retention(conn_id: str = DEFAULT_DB_CONN_ID, now: datetime | None = None) -> dict[str, Any]:
    """Prune old histograms and delivered outbox entries; returns what was pruned (an XCom)."""
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.storage import retention_repo
    from perf_profiler.tasks import settings
    from perf_profiler.tasks.metrics_db import migrated_hook

    try:
        hist_days, outbox_days = settings.histogram_retention_days(), settings.outbox_retention_days()
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from exc  # a config error: retrying will not fix it
    at = now or datetime.now(timezone.utc)
    hook = migrated_hook(conn_id)
    summary: dict[str, Any] = {"histogram_retention_days": hist_days, "outbox_retention_days": outbox_days,
                               "histograms_pruned": 0, "outbox_deleted": 0}
    if hist_days:
        cutoff = at - timedelta(days=hist_days)
        done = retention_repo.prune_histograms(hook, cutoff)
        summary["histograms_pruned"] = done.pruned
        log.info("retention: dropped the histograms of %s perf_metrics rows measured before %s "
                 "(histogram_retention_days=%s; percentiles kept)", done.pruned, cutoff.isoformat(), hist_days)
        _log_unfinished(done, "perf_metrics histograms")
    else:
        log.info("retention: histogram_retention_days=0, perf_metrics histograms are kept forever")
    if outbox_days:
        cutoff = at - timedelta(days=outbox_days)
        done = retention_repo.prune_delivered_outbox(hook, cutoff)
        summary["outbox_deleted"] = done.pruned
        log.info("retention: deleted %s insight_outbox entries delivered before %s (outbox_retention_days=%s; "
                 "pending, held and rejected entries kept)", done.pruned, cutoff.isoformat(), outbox_days)
        _log_unfinished(done, "delivered outbox entries")
    else:
        log.info("retention: outbox_retention_days=0, delivered insight_outbox entries are kept forever")
    return summary


def _log_unfinished(done: Any, what: str) -> None:
    if not done.complete:
        log.warning("retention: batch limit reached after %s %s; the rest is pruned by the next runs",
                    done.pruned, what)
