"""The e2e tests' view of the perf_metrics database: read rows, and seed measured history.

Seeding goes through the package's own code (histogram → metrics.summarize_endpoint →
rows.build_row → store.migrate/upsert_metrics), so a seeded row is exactly what a measuring
run would have stored for that interval.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

import psycopg2
import psycopg2.extras

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook


class PgHook:
    """The part of a DbApiHook that perf_profiler.storage uses (conn_type, placeholder, get_conn) on a DSN."""

    conn_type = "postgres"
    placeholder = "%s"  # DbApiHook.placeholder, which storage binds with

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def get_conn(self) -> Any:
        return psycopg2.connect(self.dsn)


class MetricsDB:
    """Queries and seeding on the throwaway PostgreSQL database behind ``perf_metrics_db``."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        # storage is typed for a DbApiHook and reads only conn_type, placeholder and get_conn() of it
        self.hook = cast("DbApiHook", PgHook(dsn))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts (an empty list when the table does not exist yet)."""
        with closing(psycopg2.connect(self.dsn)) as conn, conn.cursor(
            cursor_factory=psycopg2.extras.RealDictCursor
        ) as cur:
            cur.execute("SELECT to_regclass('perf_metrics') IS NOT NULL AS ready")
            if not cur.fetchone()["ready"]:
                return []
            cur.execute(sql, params)
            return [dict(row) for row in cur.fetchall()]

    def rows(self, where: str = "TRUE", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.query(f"SELECT * FROM perf_metrics WHERE {where} ORDER BY run_id, service, endpoint", params)

    def count(self) -> int:
        return len(self.query("SELECT id FROM perf_metrics"))

    def migrate(self) -> None:
        from perf_profiler.storage.migrations import migrate

        migrate(self.hook)

    def seed(self, rows: Iterable[dict[str, Any]]) -> int:
        from perf_profiler.storage.metrics_repo import upsert_metrics

        self.migrate()
        return upsert_metrics(self.hook, list(rows))


def measured_row(
    service: str,
    endpoint: str,
    latencies_ms: Sequence[float],
    *,
    run_id: str,
    run_type: str,
    interval: tuple[datetime, datetime] | None,
    logical_date: datetime | None,
    measured_at: datetime,
    budget_p95_ms: float = 800.0,
    tenant_id: str = "default",
    dag_id: str = "perf_profiler",
) -> dict[str, Any]:
    """A perf_metrics row as a measuring run would have stored it, from raw latencies (ms)."""
    import numpy as np

    from perf_profiler.analysis import histogram
    from perf_profiler.analysis.reduce import summarize_endpoint
    from perf_profiler.analysis.rows import build_row
    from perf_profiler.common.encoding import iso_utc
    from perf_profiler.model.identity import RunIdentity
    from perf_profiler.model.targets import Budget

    latency = histogram.new_histogram()
    histogram.record_many(latency, np.asarray(latencies_ms, dtype=np.float64) * 1000.0)
    finished = measured_at.timestamp()
    part = {
        "endpoint": endpoint, "method": "GET", "path": endpoint,
        "started_at": finished - 2.0, "finished_at": finished,
        "requests": len(latencies_ms), "ok": len(latencies_ms), "errors": {},
        "status_codes": {"200": len(latencies_ms)},
        "latency_hist": histogram.encode(latency), "error_hist": histogram.encode(histogram.new_histogram()),
    }
    identity = RunIdentity(
        dag_id=dag_id, run_id=run_id, run_type=run_type, tenant_id=tenant_id,
        logical_date=iso_utc(logical_date),
        data_interval_start=iso_utc(interval[0]) if interval else None,
        data_interval_end=iso_utc(interval[1]) if interval else None,
    )
    return build_row(summarize_endpoint(service, endpoint, [part]), Budget(p95_ms=budget_p95_ms), identity)


def spread(center_ms: float, n: int = 200, width: float = 0.2) -> list[float]:
    """``n`` deterministic latencies spread evenly over center ± width·center (p95 ≈ center·(1+0.9·width))."""
    low, high = center_ms * (1 - width), center_ms * (1 + width)
    return [low + (high - low) * i / (n - 1) for i in range(n)]


def parse_ts(text: str | None) -> datetime | None:
    """An API timestamp ('...Z') as an aware datetime."""
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def nightly(days_ago: int) -> datetime:
    """The logical date (02:00 UTC) of the nightly run ``days_ago`` days before today (UTC)."""
    today = datetime.now(timezone.utc).replace(hour=2, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


ONE_DAY = timedelta(days=1)
