"""The Airflow Asset the ``perf_profiler`` DAG updates and downstream analytics DAGs consume."""
from __future__ import annotations

from airflow.sdk import Asset

PERF_METRICS_ASSET = Asset(name="perf_metrics", uri="x-perf-profiler://perf_metrics")
