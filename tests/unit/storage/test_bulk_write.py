"""perf_profiler.storage.bulk_write: each driver's batch path (psycopg2 execute_values, psycopg 3 COPY)."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from metrics_rows import CONN_ENV, CONN_ID, make_row
from perf_profiler.model.columns import ROW_COLUMNS
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.storage.row_binding import prepare_row


def test_psycopg2_connections_take_the_execute_values_path(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgresHook uses psycopg 3 when it is installed; a psycopg2 connection must work too."""
    import psycopg2
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    class Psycopg2PostgresHook(PostgresHook):
        def get_conn(self) -> Any:
            return psycopg2.connect(pg_database)

    monkeypatch.setenv(CONN_ENV, pg_database)
    hook = Psycopg2PostgresHook(postgres_conn_id=CONN_ID)
    migrate(hook)
    upsert_metrics(hook, [make_row(), make_row("other")])
    upsert_metrics(hook, [make_row(p95_ms=801.0, verdict="fail")])
    stored = {r["service"]: (r["p95_ms"], r["verdict"]) for r in fetch_metrics(hook)}
    assert stored == {"registry": (801.0, "fail"), "other": (45.2, "pass")}
    with pytest.raises(psycopg2.IntegrityError):
        upsert_metrics(hook, [make_row(error_rate=1.5)])


def test_mixed_batch_of_new_and_existing_keys_upserts_both(migrated: Any) -> None:
    upsert_metrics(migrated, [make_row(f"svc{i}", p95_ms=10.0) for i in range(3)])
    before = {r["service"]: r for r in fetch_metrics(migrated)}
    time.sleep(0.01)
    upsert_metrics(migrated, [make_row(f"svc{i}", p95_ms=20.0) for i in range(1, 5)])
    after = {r["service"]: r for r in fetch_metrics(migrated)}
    assert sorted(after) == [f"svc{i}" for i in range(5)]
    assert after["svc0"]["p95_ms"] == 10.0 and after["svc0"]["updated_at"] == before["svc0"]["updated_at"]
    for name in ("svc1", "svc2"):  # existing keys: updated in place, created_at kept
        assert after[name]["p95_ms"] == 20.0
        assert after[name]["created_at"] == before[name]["created_at"] < after[name]["updated_at"]
    assert after["svc4"]["p95_ms"] == 20.0


@pytest.mark.parametrize("hook", ["postgres"], indirect=True)  # the direct-COPY path is psycopg 3 only
def test_a_key_inserted_concurrently_falls_back_to_the_upsert(
    migrated: Any, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    """Another writer holds one of the "new" keys uncommitted: the direct COPY waits on it, fails
    when that writer commits, and every row then takes the upsert path."""
    import psycopg

    dsn = request.getfixturevalue("pg_database")
    values = prepare_row(make_row("svc1", p95_ms=1.0))
    other = psycopg.connect(dsn)
    other.execute(
        f"INSERT INTO perf_metrics ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join(['%s'] * len(values))})",
        values,
    )
    written: list[int] = []
    upsert = threading.Thread(
        target=lambda: written.append(upsert_metrics(migrated, [make_row(f"svc{i}", p95_ms=30.0) for i in range(3)]))
    )
    with other, psycopg.connect(dsn, autocommit=True) as watcher:
        upsert.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the COPY waits for the other writer's key
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE 'COPY perf_metrics %%'"
            ).fetchone()
            assert waiting is not None, "count(*) returns one row"
            if waiting[0]:
                break
            time.sleep(0.02)
        other.commit()
        upsert.join(timeout=30)
    assert written == [3]
    assert "appeared concurrently" in caplog.text
    stored = {r["service"]: r["p95_ms"] for r in fetch_metrics(migrated)}
    assert stored == {"svc0": 30.0, "svc1": 30.0, "svc2": 30.0}
