"""perf-profiler: benchmark HTTP services from Airflow and enforce performance budgets."""

__version__ = "0.1.0"
