"""perf-profiler: benchmark HTTP services from Airflow and enforce performance budgets."""
