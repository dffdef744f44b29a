"""Deployment settings: the ``[perf_profiler]`` section of Airflow's config (the DAG reads the
benchmark ones at parse time; the retention ones are read by the ``apply_retention`` task when it runs).

Each option can live in ``airflow.cfg`` or in its environment variable, like any Airflow option::

    [perf_profiler]
    max_active_benchmarks = 2     # AIRFLOW__PERF_PROFILER__MAX_ACTIVE_BENCHMARKS
    benchmark_pool =              # AIRFLOW__PERF_PROFILER__BENCHMARK_POOL
    benchmark_queue =             # AIRFLOW__PERF_PROFILER__BENCHMARK_QUEUE

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


def benchmark_queue() -> str:
    """The executor queue of the benchmarks (Celery: workers started with ``-q`` it, e.g. dedicated
    load-generator machines): the configured ``benchmark_queue``, else Airflow's default queue."""
    from airflow.sdk import conf

    return _option("benchmark_queue") or str(conf.get("operators", "default_queue", fallback="default"))


#: Retention (task ``apply_retention`` of perf_trends): days after which a perf_metrics row's
#: encoded histograms are dropped (its percentiles stay), and delivered outbox entries deleted.
#: 0 keeps them forever. Read when the task runs, not at parse time.
DEFAULT_HISTOGRAM_RETENTION_DAYS = 90
DEFAULT_OUTBOX_RETENTION_DAYS = 30


def histogram_retention_days() -> int:
    """``[perf_profiler] histogram_retention_days`` (default 90; 0 = keep histograms forever)."""
    return _retention_days("histogram_retention_days", DEFAULT_HISTOGRAM_RETENTION_DAYS)


def outbox_retention_days() -> int:
    """``[perf_profiler] outbox_retention_days`` (default 30; 0 = keep delivered entries forever)."""
    return _retention_days("outbox_retention_days", DEFAULT_OUTBOX_RETENTION_DAYS)


def _retention_days(name: str, default: int) -> int:
    raw = _option(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"[{SECTION}] {name} must be a whole number of days >= 0 (0 = keep forever), got {raw!r}")
    return value
