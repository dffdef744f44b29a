"""The tables of the DAG ``perf_trends``: an endpoint's p95 history, ``perf_regressions`` and
``perf_daily_rollup`` (the maths that decides what goes in them: ``analysis.trends``).

All work of one ``open_trends`` block shares one connection and is committed together when the
block ends without an error. Values are always bound with the hook's own ``placeholder``; both
writes are upserts, so judging the same rows again changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from perf_profiler.analysis.trends import METHOD, Baseline, DayRollup
from perf_profiler.storage.row_binding import timestamp_text

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

_EPOCH = "1970-01-01T00:00:00.000000+00:00"
_DAY_COLUMNS = ("p95_ms", "requests", "error_count", "throughput", "verdict")


class TrendsConnection:
    """Reads and writes of one ``open_trends`` block (one cursor, one transaction)."""

    def __init__(self, cur: Any, mark: str) -> None:
        self._cur = cur
        self._mark = mark

    def p95_history(self, row: Mapping[str, Any], limit: int, since: str | None = None) -> list[float]:
        """The p95 of the ``limit`` latest earlier runs of the row's tenant × DAG × service × endpoint
        (measured at or after ``since``, the start of the current level, when given)."""
        m = self._mark
        self._cur.execute(
            f"SELECT p95_ms FROM perf_metrics WHERE tenant_id = {m} AND dag_id = {m} AND service = {m} "
            f"AND endpoint = {m} AND measured_at < {m} AND measured_at >= {m} AND id <> {m} "
            f"ORDER BY measured_at DESC LIMIT {m}",
            (row["tenant_id"], row["dag_id"], row["service"], row["endpoint"], row["measured_at"],
             timestamp_text(since or _EPOCH, "since"), row["id"], int(limit)),
        )
        return [float(value) for (value,) in self._cur.fetchall()]

    def p95_days_before(self, row: Mapping[str, Any], days: int) -> tuple[float, str] | None:
        """(p95, measured_at) of the latest run of the row's tenant × DAG × service × endpoint
        measured at least ``days`` days before the row (None when there is none)."""
        m = self._mark
        cutoff = datetime.fromisoformat(timestamp_text(row["measured_at"], "measured_at")) - timedelta(days=days)
        self._cur.execute(
            f"SELECT p95_ms, measured_at FROM perf_metrics WHERE tenant_id = {m} AND dag_id = {m} "
            f"AND service = {m} AND endpoint = {m} AND measured_at <= {m} ORDER BY measured_at DESC LIMIT 1",
            (row["tenant_id"], row["dag_id"], row["service"], row["endpoint"],
             timestamp_text(cutoff, "measured_at")),
        )
        found = self._cur.fetchone()
        return None if found is None else (float(found[0]), timestamp_text(found[1], "measured_at"))

    def record_regression(self, row: Mapping[str, Any], base: Baseline) -> None:
        """Record (or update) the regression of perf_metrics row ``row`` against ``base``."""
        values = (row["id"], row["tenant_id"], row["dag_id"], row["run_id"], row["service"], row["endpoint"],
                  row["measured_at"], float(row["p95_ms"]), base.median_ms, base.mad_ms, base.threshold_ms,
                  base.runs, METHOD)
        self._cur.execute(
            "INSERT INTO perf_regressions (metric_id, tenant_id, dag_id, run_id, service, endpoint, measured_at, "
            f"p95_ms, baseline_p95_ms, mad_ms, threshold_ms, history_runs, method) VALUES ({self._marks(values)}) "
            "ON CONFLICT (metric_id) DO UPDATE SET p95_ms = excluded.p95_ms, "
            "baseline_p95_ms = excluded.baseline_p95_ms, mad_ms = excluded.mad_ms, "
            "threshold_ms = excluded.threshold_ms, history_runs = excluded.history_runs, method = excluded.method",
            values,
        )

    def clear_regression(self, metric_id: str) -> None:
        """Forget a recorded regression of perf_metrics row ``metric_id`` (if there is one)."""
        self._cur.execute(f"DELETE FROM perf_regressions WHERE metric_id = {self._mark}", (metric_id,))

    def day_runs(self, tenant_id: str, service: str, endpoint: str, day: str) -> list[dict[str, Any]]:
        """The rows measured on ``day`` (``YYYY-MM-DD``, UTC), with the columns a rollup reads."""
        m = self._mark
        self._cur.execute(
            f"SELECT {', '.join(_DAY_COLUMNS)} FROM perf_metrics WHERE tenant_id = {m} AND service = {m} "
            f"AND endpoint = {m} AND measured_at >= {m} AND measured_at < {m}",
            (tenant_id, service, endpoint, _midnight(date.fromisoformat(day)),
             _midnight(date.fromisoformat(day) + timedelta(days=1))),
        )
        return [dict(zip(_DAY_COLUMNS, record, strict=True)) for record in self._cur.fetchall()]

    def upsert_day_rollup(self, tenant_id: str, service: str, endpoint: str, day: str, rollup: DayRollup) -> None:
        """Write (or replace) the rollup of one tenant × service × endpoint × day."""
        values = (tenant_id, service, endpoint, day, rollup.runs, rollup.failing_runs, rollup.requests,
                  rollup.errors, rollup.p95_median_ms, rollup.p95_max_ms, rollup.throughput_mean)
        self._cur.execute(
            "INSERT INTO perf_daily_rollup (tenant_id, service, endpoint, day, runs, failing_runs, requests, errors, "
            f"p95_median_ms, p95_max_ms, throughput_mean) VALUES ({self._marks(values)}) "
            "ON CONFLICT (tenant_id, service, endpoint, day) DO UPDATE SET runs = excluded.runs, "
            "failing_runs = excluded.failing_runs, requests = excluded.requests, errors = excluded.errors, "
            "p95_median_ms = excluded.p95_median_ms, p95_max_ms = excluded.p95_max_ms, "
            "throughput_mean = excluded.throughput_mean, updated_at = CURRENT_TIMESTAMP",
            values,
        )

    def _marks(self, values: tuple[Any, ...]) -> str:
        return ", ".join([self._mark] * len(values))


@contextmanager
def open_trends(hook: DbApiHook) -> Iterator[TrendsConnection]:
    """A ``TrendsConnection``; its work is committed when the block ends without an error."""
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        yield TrendsConnection(cur, hook.placeholder)
        conn.commit()


def _midnight(day: date) -> str:
    """The start of a UTC day in the ISO-8601 form ``measured_at`` is stored and compared in."""
    return f"{day.isoformat()}T00:00:00+00:00"
