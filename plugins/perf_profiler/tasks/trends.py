"""Task ``analyse`` of the perf_trends DAG: regressions against history and the daily rollup."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from perf_profiler.tasks.connections import DEFAULT_DB_CONN_ID

log = logging.getLogger(__name__)


def analyse_trends(asset_extras: Sequence[Mapping[str, Any]], conn_id: str = DEFAULT_DB_CONN_ID) -> dict[str, Any]:
    """perf_trends: judge the rows behind each Asset event against their history; roll up days."""
    from perf_profiler.analysis import trends
    from perf_profiler.storage.repository import fetch_metrics, get_hook, migrate

    hook = get_hook(conn_id)
    migrate(hook)
    rows = [row for extra in asset_extras for run_id in extra.get("source_run_ids", [])
            for row in fetch_metrics(hook, dag_id=extra["dag_id"], run_id=run_id, tenant_id=extra["tenant_id"])]
    regressions = trends.detect(hook, rows)
    for found in regressions:
        log.warning("p95 regression: %s %s run %s p95=%.1fms baseline=%.1fms threshold=%.1fms",
                    found["service"], found["endpoint"], found["run_id"], found["p95_ms"],
                    found["baseline_p95_ms"], found["threshold_ms"])
    days = trends.rollup(hook, rows)
    log.info("perf_trends: %s rows judged, %s regressions, %s daily rollups updated", len(rows), len(regressions), days)
    return {"rows": len(rows), "regressions": regressions, "rollups": days}
