"""Deployment settings the DAG reads at parse time: the ``[perf_profiler]`` section of Airflow's config.

Each option can live in ``airflow.cfg`` or in its environment variable, like any Airflow option::

    [perf_profiler]
    max_active_benchmarks = 2     # AIRFLOW__PERF_PROFILER__MAX_ACTIVE_BENCHMARKS
    benchmark_pool =              # AIRFLOW__PERF_PROFILER__BENCHMARK_POOL

Nothing here needs a hand step on a fresh deployment: without the section the benchmarks run at
most two at a time in Airflow's ``default_pool``, which always exists. A dedicated pool is used
only when one is named (the deployment then creates it: a missing pool stalls the task).

Cheap to import at DAG-parse time: the config object comes from ``airflow.sdk``, which the DAG
file has imported already.
"""
from __future__ import annotations

SECTION = "perf_profiler"
DEFAULT_MAX_ACTIVE_BENCHMARKS = 2
#: Airflow's built-in pool (``airflow.models.pool.Pool.DEFAULT_POOL_NAME``), present in every deployment.
DEFAULT_POOL = "default_pool"


def _option(name: str) -> str:
    """The option's raw value ('' when unset), from airflow.cfg or AIRFLOW__PERF_PROFILER__<NAME>."""
    from airflow.sdk import conf

    return str(conf.get(SECTION, name, fallback="") or "").strip()


def max_active_benchmarks() -> int:
    """How many ``benchmark`` task instances may run at once across all runs of the DAG."""
    raw = _option("max_active_benchmarks")
    if not raw:
        return DEFAULT_MAX_ACTIVE_BENCHMARKS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"[{SECTION}] max_active_benchmarks must be a positive integer, got {raw!r}")
    return value


def benchmark_pool() -> str:
    """The pool the benchmarks run in: the configured ``benchmark_pool``, else ``default_pool``."""
    return _option("benchmark_pool") or DEFAULT_POOL
