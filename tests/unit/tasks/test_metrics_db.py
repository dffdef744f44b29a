"""perf_profiler.tasks.metrics_db: a metrics store no retry can fix fails the task at once (AirflowFailException)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from perf_profiler.model.identity import RunIdentity
from perf_profiler.storage.dialect import dialect_of, get_hook
from perf_profiler.storage.migrations import applied_versions, discover_migrations, migrate
from perf_profiler.tasks import deliver, persist, trends
from perf_profiler.tasks.metrics_db import migrated_hook

CONN_ID = "perf_metrics_db"
IDENTITY = RunIdentity(dag_id="perf_profiler", run_id="manual__2026-03-01T02:00:00+00:00", run_type="manual",
                       logical_date=None, data_interval_start=None, data_interval_end=None)


def _newer_schema(ahead: int) -> tuple[int, int]:
    """Migrate the metrics DB, then record a version ``ahead`` of the newest known; (recorded, known)."""
    hook = get_hook(CONN_ID)
    migrate(hook)
    known = max(m.version for m in discover_migrations(dialect_of(hook)))
    mark = hook.placeholder
    conn = hook.get_conn()
    try:
        cur = conn.cursor()
        cur.execute("INSERT INTO perf_profiler_schema_version (version, name, checksum) "
                    f"VALUES ({mark}, {mark}, {mark})", (known + ahead, "from_the_future.sql", "f" * 64))
        conn.commit()
    finally:
        conn.close()
    return known + ahead, known


_TASKS = {
    "store": lambda: persist.store_metrics([], {"mode": "measure", "services": []}, IDENTITY, CONN_ID),
    "post_to_insight": lambda: deliver.post_to_insight({"identity": IDENTITY.to_dict(), "source_run_ids": []}, CONN_ID),
    "analyse": lambda: trends.analyse_trends([], CONN_ID),
}


@pytest.mark.parametrize("task", sorted(_TASKS))
@pytest.mark.parametrize("ahead", [1, 40])
def test_tasks_fail_at_once_on_a_newer_schema(metrics_db: str, task: str, ahead: int) -> None:
    recorded, known = _newer_schema(ahead)
    before = applied_versions(get_hook(CONN_ID))
    with pytest.raises(AirflowFailException) as info:
        _TASKS[task]()
    assert str(info.value) == (f"metrics database {CONN_ID!r}: schema version {recorded} is newer than this "
                               f"perf-profiler knows ({known}): upgrade perf-profiler")
    assert applied_versions(get_hook(CONN_ID)) == before


def test_a_missing_sqlite_directory_fails_the_task_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "gone" / "metrics.db"
    monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    for task in sorted(_TASKS):
        with pytest.raises(AirflowFailException, match=rf"{path}.*directory .*gone' does not exist"):
            _TASKS[task]()
    assert not path.parent.exists()


def test_a_usable_store_is_migrated_and_returned(metrics_db: str) -> None:
    hook: Any = migrated_hook(CONN_ID)
    assert dialect_of(hook) == metrics_db
    assert sorted(applied_versions(hook)) == [m.version for m in discover_migrations(dialect_of(hook))]


def test_other_store_errors_are_left_to_airflow_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that is down may come back: not an AirflowFailException, so the task retries."""
    monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", "postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(Exception, match=r"refused|127\.0\.0\.1") as info:
        migrated_hook(CONN_ID)
    assert not isinstance(info.value, AirflowFailException)
