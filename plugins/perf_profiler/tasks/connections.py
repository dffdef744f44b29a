"""Names the tasks share: Airflow connection ids and the targets Variable."""
from __future__ import annotations

TARGETS_VARIABLE = "perf_profiler_targets"
DEFAULT_DB_CONN_ID = "perf_metrics_db"
DEFAULT_INSIGHT_CONN_ID = "insight_engine"
