"""perf_metrics rows and plain SQL helpers for the storage tests (any hook, either dialect)."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from perf_profiler.model.identity import make_row_id
from perf_profiler.storage.dialect import dialect_of

#: The metrics connection as a deployment names it, and the environment variable that sets it.
CONN_ID = "perf_metrics_db"
CONN_ENV = "AIRFLOW_CONN_PERF_METRICS_DB"


def query(hook: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of its own and return its rows (nothing is committed)."""
    conn = hook.get_conn()
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        conn.rollback()
        return rows
    finally:
        conn.close()


def table_exists(hook: Any, name: str) -> bool:
    if dialect_of(hook) == "postgres":
        return query(hook, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]
    return bool(query(hook, "SELECT count(*) FROM sqlite_master WHERE name = ?", (name,))[0][0])


def count_rows(hook: Any) -> int:
    """Rows in perf_metrics."""
    return query(hook, "SELECT count(*) FROM perf_metrics")[0][0]


def integrity_errors(hook: Any) -> tuple[type[BaseException], ...]:
    if dialect_of(hook) == "sqlite":
        return (sqlite3.IntegrityError,)
    import psycopg
    import psycopg2

    return (psycopg.errors.IntegrityError, psycopg2.IntegrityError)


def make_row(service: str = "registry", endpoint: str = "/healthz", **overrides: Any) -> dict[str, Any]:
    """A valid perf_metrics row (docs/CONTRACTS.md); ``overrides`` replace any column."""
    key = {
        "tenant_id": overrides.pop("tenant_id", "default"),
        "dag_id": overrides.pop("dag_id", "perf_profiler"),
        "run_id": overrides.pop("run_id", "manual__2024-12-28T00:00:00+00:00"),
        "service": service,
        "endpoint": endpoint,
    }
    row = {
        "id": make_row_id(**key),
        **key,
        "run_type": "manual",
        "logical_date": "2024-12-28T00:00:00+00:00",
        "data_interval_start": "2024-12-27T00:00:00+00:00",
        "data_interval_end": "2024-12-28T00:00:00+00:00",
        "method": "GET",
        "p50_ms": 12.5,
        "p75_ms": 20.25,
        "p90_ms": 30.0,
        "p95_ms": 45.2,
        "p99_ms": 90.0,
        "p999_ms": 120.0,
        "min_ms": 1.0,
        "max_ms": 150.0,
        "mean_ms": 20.0,
        "throughput": 156.7,
        "error_rate": 0.01,
        "requests": 200,
        "ok_count": 198,
        "error_count": 2,
        "errors_by_class": json.dumps({"status": 2, "timeout": 0}),
        "status_codes": json.dumps({"200": 198, "500": 2}),
        "budget_p95_ms": 800.0,
        "budget_error_rate": 0.01,
        "verdict": "pass",
        "latency_hist": "HISTFAAAACl4nJNpmSzMwMDAyQABzFCaEUrDAAAb+gF6",
        "error_hist": "HISTFAAAABx4nJNpmSzMwMDAwQABTFAaAAAz0wKT",
        "started_at": "2024-12-28T00:00:01.250000+00:00",
        "finished_at": "2024-12-28T00:00:05.500000+00:00",
        "measured_at": "2024-12-28T00:00:05.500000+00:00",
        # load fidelity (003_load_fidelity.sql): an open loop that dropped sends
        "load_model": "open",
        "target_rate": 50.0,
        "dropped": 2,
        "client_saturated": True,
        "saturation_reasons": json.dumps(["2 of 202 sends dropped: 10 requests already in flight (the cap)"]),
        "lag_p50_ms": 0.25,
        "lag_p99_ms": 3.5,
        "service_p50_ms": 12.0,
        "service_p95_ms": 44.0,
        "service_p99_ms": 88.5,
        "service_hist": "HISTFAAAACl4nJNpmSzMwMDAyQABzFCaEUrDAAAb+gF6",
        # 007_origin.sql: measured by a probe (a backfill marks its rows 'rederived')
        "origin": "measured",
        "rederived_at": None,
        # 009_shard_checkins.sql: an unsharded row (tests/unit/tasks/test_shard_*.py store sharded ones)
        "shards": None,
        "shards_not_concurrent": False,
        # 016_service_version.sql: the release read from the service's version source
        "service_version": "2026.11.3",
    }
    row.update(overrides)
    return row
