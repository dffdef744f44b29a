"""P-4 observability: emit the original report's metrics through Airflow's metrics facility.

``profiler_latency_p95`` (ms) and ``profiler_throughput`` (req/s) are gauges and
``profiler_errors`` a counter of failed requests, each tagged by service and endpoint. They go
wherever Airflow's ``[metrics]`` section sends metrics (StatsD, OpenTelemetry); with metrics off
they are dropped by Airflow's no-op logger.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

METRIC_P95 = "profiler_latency_p95"
METRIC_THROUGHPUT = "profiler_throughput"
METRIC_ERRORS = "profiler_errors"


def emit(rows: Iterable[Mapping[str, Any]]) -> int:
    """Emit the three metrics for every row; returns how many rows were emitted."""
    from airflow.sdk.observability import stats

    count = 0
    for row in rows:
        tags = {"service": row["service"], "endpoint": row["endpoint"], "tenant": row["tenant_id"]}
        stats.gauge(METRIC_P95, float(row["p95_ms"]), tags=tags)
        stats.gauge(METRIC_THROUGHPUT, float(row["throughput"]), tags=tags)
        stats.incr(METRIC_ERRORS, count=int(row["error_count"]), tags=tags)
        count += 1
    return count
