"""The table ``perf_changepoints`` (issue 15): each series' history as the detector reads it, its
findings written idempotently, notifications marked once, acknowledgements (the maths:
``analysis.series_eval``).

Re-detection (``replace_series``) rewrites the detection columns of the findings it gets and deletes
the series' other findings — except acknowledged ones: a person's acknowledgement (and the fact that
a regression was notified) survives any number of re-detections.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from perf_profiler.storage.row_binding import timestamp_text

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

SERIES_COLUMNS = ("id", "run_id", "data_interval_start", "data_interval_end", "measured_at", "p50_ms", "p95_ms",
                  "p99_ms", "latency_hist", "requests", "error_count", "service_version")
SERIES_KEY = ("tenant_id", "dag_id", "service", "endpoint", "metric")
_DETECTED = ("metric_id", "data_interval_start", "data_interval_end", "measured_at", "state", "effect", "z",
             "confirmed_run_id", "recovered_run_id", "method", "first_version", "previous_version")
FINDING_COLUMNS = (*SERIES_KEY, "kind", "run_id", *_DETECTED)
SHOWN_COLUMNS = (*SERIES_KEY, "kind", "run_id", "measured_at", "state", "effect", "z", "confirmed_run_id",
                 "recovered_run_id", "first_version", "previous_version", "notified_at", "acknowledged_at",
                 "acknowledged_by", "ack_note")


def now_text() -> str:
    return timestamp_text(datetime.now(timezone.utc), "now")


class ChangepointsConnection:
    """Reads and writes of one ``open_changepoints`` block (one cursor, one transaction)."""

    def __init__(self, cur: Any, mark: str) -> None:
        self._cur = cur
        self._mark = mark

    def series(self, key: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        """The ``limit`` latest runs of a tenant × DAG × service × endpoint, oldest first."""
        m = self._mark
        self._cur.execute(
            f"SELECT {', '.join(SERIES_COLUMNS)} FROM perf_metrics WHERE tenant_id = {m} AND dag_id = {m} "
            f"AND service = {m} AND endpoint = {m} ORDER BY measured_at DESC, id DESC LIMIT {m}",
            (key["tenant_id"], key["dag_id"], key["service"], key["endpoint"], int(limit)),
        )
        rows = [dict(zip(SERIES_COLUMNS, record, strict=True)) for record in self._cur.fetchall()]
        return rows[::-1]

    def replace_series(self, key: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> None:
        """Upsert ``findings`` (dicts of ``FINDING_COLUMNS``) of one series; delete its other
        unacknowledged findings."""
        m = self._mark
        updates = ", ".join(f"{c} = excluded.{c}" for c in _DETECTED)
        for finding in findings:
            values = tuple(finding[c] if c not in SERIES_KEY else key[c] for c in FINDING_COLUMNS)
            self._cur.execute(
                f"INSERT INTO perf_changepoints ({', '.join(FINDING_COLUMNS)}, updated_at) "
                f"VALUES ({', '.join([m] * (len(values) + 1))}) "
                f"ON CONFLICT ({', '.join(SERIES_KEY)}, kind, run_id) DO UPDATE SET {updates}, "
                "updated_at = excluded.updated_at",
                (*values, now_text()),
            )
        keep = [(f["kind"], f["run_id"]) for f in findings]
        self._cur.execute(
            f"SELECT kind, run_id FROM perf_changepoints WHERE {_where(SERIES_KEY, m)} AND acknowledged_at IS NULL",
            tuple(key[c] for c in SERIES_KEY),
        )
        for kind, run_id in self._cur.fetchall():
            if (kind, run_id) not in keep:
                self._cur.execute(
                    f"DELETE FROM perf_changepoints WHERE {_where(SERIES_KEY, m)} AND kind = {m} AND run_id = {m}",
                    (*(key[c] for c in SERIES_KEY), kind, run_id),
                )

    def level_start(self, key: Mapping[str, Any], at: Any) -> str | None:
        """When the level of the series ``key`` (with ``metric``) current at ``at`` started: the time of
        its latest change point (regression or improvement, not a suspect night) at or before ``at``."""
        m = self._mark
        self._cur.execute(
            f"SELECT measured_at FROM perf_changepoints WHERE {_where(SERIES_KEY, m)} "
            f"AND kind IN ('regression', 'improvement') AND state <> 'suspected' AND measured_at <= {m} "
            "ORDER BY measured_at DESC LIMIT 1",
            (*(key[c] for c in SERIES_KEY), timestamp_text(at, "at")),
        )
        found = self._cur.fetchone()
        return None if found is None or found[0] is None else timestamp_text(found[0], "measured_at")

    def take_notifications(self, confirmed_by: Collection[str]) -> list[dict[str, Any]]:
        """Confirmed regressions never notified nor acknowledged whose confirming run is one of
        ``confirmed_by`` (the runs just judged: an old change point found again when the history
        window moves is not news): marked notified and returned (once)."""
        m = self._mark
        runs = sorted(confirmed_by)
        if not runs:
            return []
        where = ("kind = 'regression' AND state = 'confirmed' AND notified_at IS NULL AND acknowledged_at IS NULL "
                 f"AND confirmed_run_id IN ({', '.join([m] * len(runs))})")
        self._cur.execute(f"SELECT {', '.join(SHOWN_COLUMNS)} FROM perf_changepoints WHERE {where}", tuple(runs))
        found = [dict(zip(SHOWN_COLUMNS, record, strict=True)) for record in self._cur.fetchall()]
        for row in found:
            self._cur.execute(
                f"UPDATE perf_changepoints SET notified_at = {m} WHERE {_where(SERIES_KEY, m)} "
                f"AND kind = {m} AND run_id = {m}",
                (now_text(), *(row[c] for c in SERIES_KEY), row["kind"], row["run_id"]),
            )
        return found

    def acknowledge(self, key: Mapping[str, Any], run_id: str, by: str, note: str) -> int:
        """Acknowledge the regression of one series attributed to ``run_id``; the rows changed (0 or 1)."""
        m = self._mark
        self._cur.execute(
            f"UPDATE perf_changepoints SET acknowledged_at = {m}, acknowledged_by = {m}, ack_note = {m} "
            f"WHERE {_where(SERIES_KEY, m)} AND kind = 'regression' AND run_id = {m}",
            (now_text(), by, note, *(key[c] for c in SERIES_KEY), run_id),
        )
        return int(self._cur.rowcount or 0)

    def listed(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        """Every finding, confirmed unacknowledged regressions first, then newest first."""
        m = self._mark
        where, params = ("WHERE tenant_id = " + m, (tenant_id,)) if tenant_id is not None else ("", ())
        self._cur.execute(
            f"SELECT {', '.join(SHOWN_COLUMNS)} FROM perf_changepoints {where} ORDER BY "
            "CASE WHEN kind = 'regression' AND state = 'confirmed' AND acknowledged_at IS NULL THEN 0 "
            "WHEN kind = 'regression' THEN 1 ELSE 2 END, measured_at DESC",
            params,
        )
        return [shown(dict(zip(SHOWN_COLUMNS, record, strict=True))) for record in self._cur.fetchall()]


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A finding as people see it: state ``acknowledged`` once someone acknowledged it."""
    for column in ("measured_at", "notified_at", "acknowledged_at"):
        if row.get(column) is not None:
            row[column] = timestamp_text(row[column], column)
    if row.get("acknowledged_at") is not None:
        row["state"] = "acknowledged"
    return row


def _where(columns: Sequence[str], mark: str) -> str:
    return " AND ".join(f"{c} = {mark}" for c in columns)


@contextmanager
def open_changepoints(hook: DbApiHook) -> Iterator[ChangepointsConnection]:
    """A ``ChangepointsConnection``; its work is committed when the block ends without an error."""
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        yield ChangepointsConnection(cur, hook.placeholder)
        conn.commit()
