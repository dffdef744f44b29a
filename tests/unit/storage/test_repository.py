"""perf_profiler.storage.repository against real PostgreSQL and SQLite databases, through Airflow hooks.

The metrics connection is handed to Airflow the way a deployment would: an ``AIRFLOW_CONN_*``
environment variable (set with ``monkeypatch.setenv``, so it is scoped to one test).
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from perf_profiler.storage import repository as store

CONN_ID = "perf_metrics_db"
CONN_ENV = "AIRFLOW_CONN_PERF_METRICS_DB"


def _sqlite_conn_json(path: str) -> str:
    # Airflow's URI form ``sqlite:////abs/path`` puts the path in ``schema`` and SqliteHook then
    # builds ``file://abs/path`` (an invalid URI authority); the JSON form keeps it in ``host``.
    return json.dumps({"conn_type": "sqlite", "host": path})


@pytest.fixture(params=["postgres", "sqlite"])
def hook(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A hook for a fresh, empty database of each dialect, resolved from the Airflow connection."""
    if request.param == "postgres":
        monkeypatch.setenv(CONN_ENV, request.getfixturevalue("pg_database"))
    else:
        monkeypatch.setenv(CONN_ENV, _sqlite_conn_json(request.getfixturevalue("sqlite_path")))
    return store.get_hook(CONN_ID)


@pytest.fixture
def migrated(hook: Any) -> Any:
    store.migrate(hook)
    return hook


def _query(hook: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = hook.get_conn()
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        conn.rollback()
        return rows
    finally:
        conn.close()


def _table_exists(hook: Any, name: str) -> bool:
    if store.dialect_of(hook) == "postgres":
        return _query(hook, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]
    return bool(_query(hook, "SELECT count(*) FROM sqlite_master WHERE name = ?", (name,))[0][0])


def _count(hook: Any) -> int:
    return _query(hook, "SELECT count(*) FROM perf_metrics")[0][0]


def _integrity_errors(hook: Any) -> tuple[type[BaseException], ...]:
    if store.dialect_of(hook) == "sqlite":
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
        "id": store.make_row_id(**key),
        **key,
        "run_type": "manual",
        "logical_date": "2024-12-28T00:00:00+00:00",
        "data_interval_start": "2024-12-27T00:00:00+00:00",
        "data_interval_end": "2024-12-28T00:00:00+00:00",
        "method": "GET",
        "p50_ms": 12.5,
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
    }
    row.update(overrides)
    return row


# --------------------------------------------------------------------------- connections


def test_get_hook_picks_the_hook_of_the_connection_type(hook: Any) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    expected = PostgresHook if store.dialect_of(hook) == "postgres" else SqliteHook
    assert type(hook) is expected
    assert _query(hook, "SELECT 1") == [(1,)]


def test_get_hook_refuses_other_connection_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_HTTP", "http://insight.example:8003")
    with pytest.raises(ValueError, match=r"'insight_http'.*'http'.*'postgres' or 'sqlite'"):
        store.get_hook("insight_http")


def test_dialect_of_refuses_other_hooks() -> None:
    with pytest.raises(ValueError, match="need postgres or sqlite"):
        store.dialect_of(object())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- migrations


def test_migrate_twice_applies_once_and_records_versions(hook: Any) -> None:
    dialect = store.dialect_of(hook)
    known = store.discover_migrations(dialect)
    assert store.applied_versions(hook) == {}

    first = store.migrate(hook)
    assert first == [m.name for m in known]
    assert "001_perf_metrics.sql" in first
    assert store.migrate(hook) == []

    assert store.applied_versions(hook) == {m.version: m.name for m in known}
    stamps = _query(hook, "SELECT applied_at, checksum FROM perf_profiler_schema_version WHERE version = 1")
    assert stamps[0][0] is not None
    assert stamps[0][1] == known[0].checksum()
    for table in ("perf_metrics", "perf_budget_violations", "perf_profiler_schema_version"):
        assert _table_exists(hook, table), table


def _write_migrations(root: Path, dialect: str, files: dict[str, str]) -> None:
    directory = root / dialect
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_migrate_orders_by_number_and_applies_only_new_files(hook: Any, tmp_path: Path) -> None:
    dialect = store.dialect_of(hook)
    # Lexical order would run 10_ before 2_ and fail (no table "a" yet).
    _write_migrations(tmp_path, dialect, {
        "10_add_y.sql": "ALTER TABLE a ADD COLUMN y INTEGER;",
        "2_create_a.sql": "-- a; comment with a semicolon\nCREATE TABLE a (x INTEGER); CREATE TABLE b (z TEXT DEFAULT 'x;y');",
        "notes.sql": "this is not a migration",
    })  # fmt: skip
    assert store.migrate(hook, tmp_path) == ["2_create_a.sql", "10_add_y.sql"]

    _write_migrations(tmp_path, dialect, {"11_fill.sql": "INSERT INTO a (x, y) VALUES (1, 2);"})
    assert store.migrate(hook, tmp_path) == ["11_fill.sql"]
    assert store.migrate(hook, tmp_path) == []
    assert _query(hook, "SELECT x, y FROM a") == [(1, 2)]


def test_failed_migration_rolls_back_and_is_retried(hook: Any, tmp_path: Path) -> None:
    dialect = store.dialect_of(hook)
    _write_migrations(tmp_path, dialect, {
        "001_ok.sql": "CREATE TABLE ok_table (x INTEGER);",
        "002_bad.sql": "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    })  # fmt: skip
    with pytest.raises(Exception, match="no_such_table"):
        store.migrate(hook, tmp_path)
    assert store.applied_versions(hook) == {1: "001_ok.sql"}
    assert _table_exists(hook, "ok_table")
    assert not _table_exists(hook, "half_done")  # DDL rolled back with the failed migration

    _write_migrations(tmp_path, dialect, {"002_bad.sql": "CREATE TABLE half_done (x INTEGER);"})
    assert store.migrate(hook, tmp_path) == ["002_bad.sql"]


def test_duplicate_migration_versions_are_refused(tmp_path: Path) -> None:
    _write_migrations(tmp_path, "sqlite", {"001_a.sql": "", "1_b.sql": ""})
    with pytest.raises(ValueError, match="share version 1"):
        store.discover_migrations("sqlite", tmp_path)


def test_concurrent_migrators_apply_each_file_once(hook: Any) -> None:
    hooks = [store.get_hook(CONN_ID) for _ in range(4)]
    barrier = threading.Barrier(len(hooks))
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def worker(h: Any) -> None:
        barrier.wait()
        try:
            results.append(store.migrate(h))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(h,)) for h in hooks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    applied = sorted(name for result in results for name in result)
    assert applied == [m.name for m in store.discover_migrations(store.dialect_of(hook))]


def test_sql_dir_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo_sql = Path(__file__).resolve().parents[3] / "sql"
    assert Path(str(store.sql_root())) == repo_sql

    _write_migrations(tmp_path, "postgres", {"007_only.sql": "SELECT 1;"})
    monkeypatch.setenv(store.SQL_DIR_ENV, str(tmp_path))
    assert [m.name for m in store.discover_migrations("postgres")] == ["007_only.sql"]

    monkeypatch.setenv(store.SQL_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=store.SQL_DIR_ENV):
        store.sql_root()


def test_both_dialects_define_the_same_migrations() -> None:
    pg = [m.name for m in store.discover_migrations("postgres")]
    lite = [m.name for m in store.discover_migrations("sqlite")]
    assert pg == lite


# --------------------------------------------------------------------------- upserts


def test_upsert_then_upsert_same_keys_updates_in_place(migrated: Any) -> None:
    services = ["registry", "runtime", "insight", "predictive"]
    first = [make_row(s, "/healthz", p50_ms=1.234, max_ms=3_600_000) for s in services]
    assert store.upsert_metrics(migrated, first) == len(services)
    before = {r["service"]: r for r in store.fetch_metrics(migrated)}
    assert len(before) == len(services)
    assert before["registry"]["p50_ms"] == 1.23  # DECIMAL(10,2) on both dialects
    assert before["registry"]["max_ms"] == 3_600_000.0  # a 1 h histogram ceiling fits

    time.sleep(0.05)
    second = [
        make_row(s, "/healthz", p95_ms=900.5, verdict="fail", errors_by_class={"timeout": 3, "status": 0},
                 requests=300, ok_count=297, error_count=3, measured_at="2024-12-29T01:02:03Z")
        for s in services
    ]  # fmt: skip
    assert store.upsert_metrics(migrated, second) == len(services)
    assert _count(migrated) == len(services)

    after = {r["service"]: r for r in store.fetch_metrics(migrated)}
    for service in services:
        old, new = before[service], after[service]
        assert new["id"] == old["id"] == store.make_row_id("default", "perf_profiler", old["run_id"], service, "/healthz")
        assert (new["p95_ms"], new["verdict"], new["requests"]) == (900.5, "fail", 300)
        assert json.loads(new["errors_by_class"]) == {"timeout": 3, "status": 0}
        assert new["measured_at"] == "2024-12-29T01:02:03.000000+00:00"
        assert new["created_at"] == old["created_at"]
        assert new["updated_at"] > old["updated_at"]


def test_fetched_rows_round_trip_the_contract(migrated: Any) -> None:
    row = make_row(logical_date=None, run_type="manual")
    store.upsert_metrics(migrated, [row])
    (stored,) = store.fetch_metrics(migrated)
    assert set(stored) == set(store.METRIC_COLUMNS) | set(store.AUDIT_COLUMNS)
    for column in store.METRIC_COLUMNS:
        if column in ("errors_by_class", "status_codes", "saturation_reasons"):
            assert json.loads(stored[column]) == json.loads(row[column]), column
        elif column.endswith(("_at", "_date", "_start", "_end")) and row[column] is not None:
            assert stored[column].endswith("+00:00"), column  # ISO-8601 UTC, microseconds
            assert datetime.fromisoformat(stored[column]) == datetime.fromisoformat(row[column]), column
        else:
            assert stored[column] == row[column], column


def test_repeated_key_in_one_batch_keeps_the_last_row(migrated: Any) -> None:
    rows = [make_row(p95_ms=10.0), make_row("other"), make_row(p95_ms=20.0)]
    assert store.upsert_metrics(migrated, rows) == 2
    stored = {r["service"]: r["p95_ms"] for r in store.fetch_metrics(migrated)}
    assert stored == {"registry": 20.0, "other": 45.2}


def test_fetch_filters_by_run(migrated: Any) -> None:
    store.upsert_metrics(migrated, [make_row(run_id="run-1"), make_row(run_id="run-2"), make_row(dag_id="other")])
    assert [r["run_id"] for r in store.fetch_metrics(migrated, run_id="run-2")] == ["run-2"]
    assert {r["dag_id"] for r in store.fetch_metrics(migrated, dag_id="other")} == {"other"}
    assert len(store.fetch_metrics(migrated, dag_id="perf_profiler")) == 2


def test_upsert_of_nothing_writes_nothing(migrated: Any) -> None:
    assert store.upsert_metrics(migrated, []) == 0
    assert _count(migrated) == 0


@pytest.mark.parametrize("missing", ["p95_ms", "tenant_id", "measured_at"])
def test_rows_missing_a_key_are_refused_by_name(migrated: Any, missing: str) -> None:
    row = make_row()
    del row[missing]
    with pytest.raises(ValueError, match=missing):
        store.upsert_metrics(migrated, [make_row("fine"), row])
    assert _count(migrated) == 0


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("id", "00000000-0000-0000-0000-000000000000", "make_row_id"),
        ("service", "", "non-empty string"),
        ("p95_ms", float("nan"), "finite"),
        ("requests", 1.5, "integer"),
        ("measured_at", "yesterday", "ISO-8601"),
        ("status_codes", "{not json", "JSON"),
    ],
)
def test_malformed_values_are_refused_before_the_database(
    migrated: Any, column: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.upsert_metrics(migrated, [make_row(**{column: value})])
    assert _count(migrated) == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("p95_ms", -1.0),
        ("throughput", -0.5),
        ("error_rate", 1.5),
        ("verdict", "maybe"),
        ("ok_count", 10),  # ok_count + error_count must equal requests
        ("p99_ms", 100_000_000.0),  # beyond DECIMAL(10,2)
    ],
)
def test_database_constraints_reject_bad_values(migrated: Any, column: str, value: Any) -> None:
    rows = [make_row("good"), make_row(**{column: value})]
    if column == "p99_ms":  # PostgreSQL: numeric field overflow (a DataError, not a CHECK)
        import psycopg

        errors: tuple[type[BaseException], ...] = (*_integrity_errors(migrated), psycopg.errors.DataError)
    else:
        errors = _integrity_errors(migrated)
    with pytest.raises(errors):
        store.upsert_metrics(migrated, rows)
    assert _count(migrated) == 0  # the good row of the batch was rolled back too


@pytest.mark.parametrize("column", ["p95_ms", "throughput", "error_rate"])
def test_check_constraints_hold_for_direct_inserts(migrated: Any, column: str) -> None:
    """The schema itself, not just the store, refuses negative latency/throughput and error_rate > 1."""
    bad = {"p95_ms": -5, "throughput": -1, "error_rate": 1.5}[column]
    values = dict(zip(store.METRIC_COLUMNS, store._prepare_row(make_row())))
    values[column] = bad
    mark = "%s" if store.dialect_of(migrated) == "postgres" else "?"
    sql = f"INSERT INTO perf_metrics ({', '.join(values)}) VALUES ({', '.join([mark] * len(values))})"
    with pytest.raises(_integrity_errors(migrated), match=r"(?i)check"):
        _query(migrated, sql + " RETURNING id", tuple(values.values()))


def test_hostile_and_unicode_names_are_stored_verbatim(migrated: Any) -> None:
    names = [
        ("x'); DROP TABLE perf_metrics;--", "/a'b\"c;--"),
        ("サービス", "/エンドポイント?q=値"),
        ("tab\tnew\nline", "back\\slash\\N"),
        ("%s %(x)s ?", "/{}%"),
    ]
    rows = [make_row(s, e, tenant_id="t'; DELETE FROM perf_metrics; --", dag_id="ダグ") for s, e in names]
    assert store.upsert_metrics(migrated, rows) == len(names)
    assert _table_exists(migrated, "perf_metrics")
    stored = {(r["service"], r["endpoint"], r["tenant_id"], r["dag_id"]) for r in store.fetch_metrics(migrated)}
    assert stored == {(s, e, "t'; DELETE FROM perf_metrics; --", "ダグ") for s, e in names}
    store.upsert_metrics(migrated, rows)  # the same hostile keys still match on conflict
    assert _count(migrated) == len(names)


def test_violations_view_lists_only_failing_rows(migrated: Any) -> None:
    rows = [
        make_row("fast", p95_ms=45.2, verdict="pass"),
        make_row("slow", p95_ms=950.25, verdict="fail"),
        make_row("flaky", p95_ms=100.0, error_rate=0.2, requests=10, ok_count=8, error_count=2, verdict="fail"),
    ]
    store.upsert_metrics(migrated, rows)
    violations = _query(
        migrated,
        "SELECT service, endpoint, p95_ms, budget_p95_ms, p95_over_budget_ms, verdict "
        "FROM perf_budget_violations ORDER BY service",
    )
    assert [(s, e, float(p), float(b), float(o), v) for s, e, p, b, o, v in violations] == [
        ("flaky", "/healthz", 100.0, 800.0, -700.0, "fail"),
        ("slow", "/healthz", 950.25, 800.0, 150.25, "fail"),
    ]


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
    store.migrate(hook)
    store.upsert_metrics(hook, [make_row(), make_row("other")])
    store.upsert_metrics(hook, [make_row(p95_ms=801.0, verdict="fail")])
    stored = {r["service"]: (r["p95_ms"], r["verdict"]) for r in store.fetch_metrics(hook)}
    assert stored == {"registry": (801.0, "fail"), "other": (45.2, "pass")}
    with pytest.raises(psycopg2.IntegrityError):
        store.upsert_metrics(hook, [make_row(error_rate=1.5)])


def test_make_row_id_is_deterministic_and_key_sensitive() -> None:
    a = store.make_row_id("default", "dag", "run", "svc", "/e")
    assert a == store.make_row_id("default", "dag", "run", "svc", "/e")
    assert a != store.make_row_id("default", "dag", "run", "svc", "/f")
    # No separator trickery: moving a character across a field boundary changes the id.
    assert store.make_row_id("default", "dag", "run", "a,b", "c") != store.make_row_id("default", "dag", "run", "a", "b,c")


# --------------------------------------------------------------------------- load fidelity (003)


def test_rows_without_the_load_fidelity_columns_store_a_closed_loop(migrated: Any) -> None:
    row = make_row()
    for column in store.OPTIONAL_COLUMNS:
        del row[column]
    store.upsert_metrics(migrated, [row])
    (stored,) = store.fetch_metrics(migrated)
    assert (stored["load_model"], stored["dropped"], stored["client_saturated"]) == ("closed", 0, False)
    assert json.loads(stored["saturation_reasons"]) == []
    assert stored["lag_p99_ms"] is None and stored["service_p95_ms"] is None and stored["service_hist"] is None


@pytest.mark.parametrize(
    ("overrides", "fine"),
    [
        ({"dropped": 5, "client_saturated": False}, False),  # a drop always means saturated
        ({"load_model": "ramp"}, False),
        ({"dropped": -1}, False),
        ({"dropped": 0, "client_saturated": False, "saturation_reasons": "[]"}, True),
    ],
)
def test_load_fidelity_constraints(migrated: Any, overrides: dict[str, Any], fine: bool) -> None:
    rows = [make_row("good"), make_row(**overrides)]
    if fine:
        assert store.upsert_metrics(migrated, rows) == 2
        return
    with pytest.raises(_integrity_errors(migrated)):
        store.upsert_metrics(migrated, rows)
    assert _count(migrated) == 0


def test_client_saturated_must_be_a_boolean(migrated: Any) -> None:
    with pytest.raises(ValueError, match="client_saturated"):
        store.upsert_metrics(migrated, [make_row(client_saturated="yes")])


def test_mixed_batch_of_new_and_existing_keys_upserts_both(migrated: Any) -> None:
    store.upsert_metrics(migrated, [make_row(f"svc{i}", p95_ms=10.0) for i in range(3)])
    before = {r["service"]: r for r in store.fetch_metrics(migrated)}
    time.sleep(0.01)
    store.upsert_metrics(migrated, [make_row(f"svc{i}", p95_ms=20.0) for i in range(1, 5)])
    after = {r["service"]: r for r in store.fetch_metrics(migrated)}
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
    values = store._prepare_row(make_row("svc1", p95_ms=1.0))
    other = psycopg.connect(dsn)
    other.execute(
        f"INSERT INTO perf_metrics ({', '.join(store.METRIC_COLUMNS)}) VALUES ({', '.join(['%s'] * len(values))})",
        values,
    )
    written: list[int] = []
    upsert = threading.Thread(
        target=lambda: written.append(store.upsert_metrics(migrated, [make_row(f"svc{i}", p95_ms=30.0) for i in range(3)]))
    )
    with other, psycopg.connect(dsn, autocommit=True) as watcher:
        upsert.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the COPY waits for the other writer's key
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY perf_metrics %%'"
            ).fetchone()[0]
            if waiting:
                break
            time.sleep(0.02)
        other.commit()
        upsert.join(timeout=30)
    assert written == [3]
    assert "appeared concurrently" in caplog.text
    stored = {r["service"]: r["p95_ms"] for r in store.fetch_metrics(migrated)}
    assert stored == {"svc0": 30.0, "svc1": 30.0, "svc2": 30.0}
