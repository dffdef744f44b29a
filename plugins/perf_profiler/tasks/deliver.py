"""Task ``post_to_insight``: queue the run's rows for the Insight Engine and drain the outbox."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from perf_profiler.tasks.connections import DEFAULT_DB_CONN_ID, DEFAULT_INSIGHT_CONN_ID

log = logging.getLogger(__name__)

OUTBOX_RETENTION_S = 7 * 24 * 3600


def post_to_insight(
    stored: Mapping[str, Any],
    db_conn_id: str = DEFAULT_DB_CONN_ID,
    insight_conn_id: str = DEFAULT_INSIGHT_CONN_ID,
    retention_s: float = OUTBOX_RETENTION_S,
) -> dict[str, Any]:
    """Queue this run's rows for the Insight Engine and drain the outbox, oldest first.

    Never fails because the Insight Engine is down: undelivered payloads stay in the outbox
    and go first on the next run. Entries older than ``retention_s`` are reported, not dropped.
    """
    from airflow.sdk.exceptions import AirflowNotFoundException

    from perf_profiler.insight import client as insight_client
    from perf_profiler.insight import delivery as insight
    from perf_profiler.insight import payload as insight_payload
    from perf_profiler.storage.metrics_repo import fetch_metrics
    from perf_profiler.tasks.metrics_db import migrated_hook

    identity = stored["identity"]
    hook = migrated_hook(db_conn_id)
    rows = [row for run_id in stored["source_run_ids"]
            for row in fetch_metrics(hook, dag_id=identity["dag_id"], run_id=run_id, tenant_id=identity["tenant_id"])]
    try:
        client = insight_client.InsightClient.from_connection(insight_conn_id)
    except AirflowNotFoundException:
        log.warning("no Airflow connection %r: payloads are queued in the outbox only", insight_conn_id)
        client = None
    report = insight.deliver(hook, client, [insight_payload.build_payload(r) for r in rows])
    log.info("insight delivery: %s", report.to_dict())
    for entry in insight.pending_older_than(hook, retention_s):
        log.warning("insight outbox: %s %s (run %s) undelivered for %.0f s: %s",
                    entry.service, entry.endpoint, entry.run_id, entry.age_s, entry.last_error)
    return report.to_dict()
