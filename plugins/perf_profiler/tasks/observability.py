"""P-4 observability: the original report's metrics, through StatsD and (when set up) a Pushgateway.

``profiler_latency_p95`` (ms) and ``profiler_throughput`` (req/s) are gauges and
``profiler_errors`` a counter of failed requests, each tagged by service and endpoint. They go
wherever Airflow's ``[metrics]`` section sends metrics (StatsD, OpenTelemetry); with metrics off
they are dropped by Airflow's no-op logger. When the Airflow connection ``prometheus_pushgateway``
exists, the same rows (plus p50/p99 and the error rate) are pushed to it: see ``tasks.pushgateway``.

``store`` calls :func:`emit` for measuring runs only: a backfill re-derivation describes the past.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from perf_profiler.tasks.pushgateway import METRIC_ERRORS, METRIC_P95, METRIC_THROUGHPUT

__all__ = ["METRIC_ERRORS", "METRIC_P95", "METRIC_THROUGHPUT", "emit"]


def emit(rows: Iterable[Mapping[str, Any]]) -> int:
    """Emit the three StatsD metrics for every row, then push to the Pushgateway if one is set up.

    Returns how many rows were emitted; neither channel ever fails the run.
    """
    from airflow.sdk.observability import stats

    from perf_profiler.tasks import pushgateway

    rows = list(rows)
    for row in rows:
        tags = {"service": row["service"], "endpoint": row["endpoint"], "tenant": row["tenant_id"]}
        stats.gauge(METRIC_P95, float(row["p95_ms"]), tags=tags)
        stats.gauge(METRIC_THROUGHPUT, float(row["throughput"]), tags=tags)
        stats.incr(METRIC_ERRORS, count=int(row["error_count"]), tags=tags)
    pushgateway.push(rows)
    return len(rows)
