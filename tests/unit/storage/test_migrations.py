"""perf_profiler.storage.migrations on real PostgreSQL and SQLite databases: order, once-only, rollback, locks."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from metrics_rows import CONN_ENV, CONN_ID, query, table_exists
from perf_profiler.storage.dialect import dialect_of, get_hook, sqlite_path
from perf_profiler.storage.migrations import (
    SQL_DIR_ENV,
    SchemaTooNewError,
    applied_versions,
    discover_migrations,
    migrate,
    sql_root,
)


def test_migrate_twice_applies_once_and_records_versions(hook: Any) -> None:
    dialect = dialect_of(hook)
    known = discover_migrations(dialect)
    assert applied_versions(hook) == {}

    first = migrate(hook)
    assert first == [m.name for m in known]
    assert "001_perf_metrics.sql" in first
    assert migrate(hook) == []

    assert applied_versions(hook) == {m.version: m.name for m in known}
    stamps = query(hook, "SELECT applied_at, checksum FROM perf_profiler_schema_version WHERE version = 1")
    assert stamps[0][0] is not None
    assert stamps[0][1] == known[0].checksum()
    for table in ("perf_metrics", "perf_budget_violations", "perf_profiler_schema_version"):
        assert table_exists(hook, table), table


def _write_migrations(root: Path, dialect: str, files: dict[str, str]) -> None:
    directory = root / dialect
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_migrate_orders_by_number_and_applies_only_new_files(hook: Any, tmp_path: Path) -> None:
    dialect = dialect_of(hook)
    # Lexical order would run 10_ before 2_ and fail (no table "a" yet).
    _write_migrations(tmp_path, dialect, {
        "10_add_y.sql": "ALTER TABLE a ADD COLUMN y INTEGER;",
        "2_create_a.sql": "-- a; comment with a semicolon\n"
                          "CREATE TABLE a (x INTEGER); CREATE TABLE b (z TEXT DEFAULT 'x;y');",
        "notes.sql": "this is not a migration",
    })  # fmt: skip
    assert migrate(hook, tmp_path) == ["2_create_a.sql", "10_add_y.sql"]

    _write_migrations(tmp_path, dialect, {"11_fill.sql": "INSERT INTO a (x, y) VALUES (1, 2);"})
    assert migrate(hook, tmp_path) == ["11_fill.sql"]
    assert migrate(hook, tmp_path) == []
    assert query(hook, "SELECT x, y FROM a") == [(1, 2)]


def test_failed_migration_rolls_back_and_is_retried(hook: Any, tmp_path: Path) -> None:
    dialect = dialect_of(hook)
    _write_migrations(tmp_path, dialect, {
        "001_ok.sql": "CREATE TABLE ok_table (x INTEGER);",
        "002_bad.sql": "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    })  # fmt: skip
    with pytest.raises(Exception, match="no_such_table"):
        migrate(hook, tmp_path)
    assert applied_versions(hook) == {1: "001_ok.sql"}
    assert table_exists(hook, "ok_table")
    assert not table_exists(hook, "half_done")  # DDL rolled back with the failed migration

    _write_migrations(tmp_path, dialect, {"002_bad.sql": "CREATE TABLE half_done (x INTEGER);"})
    assert migrate(hook, tmp_path) == ["002_bad.sql"]


def test_duplicate_migration_versions_are_refused(tmp_path: Path) -> None:
    _write_migrations(tmp_path, "sqlite", {"001_a.sql": "", "1_b.sql": ""})
    with pytest.raises(ValueError, match="share version 1"):
        discover_migrations("sqlite", tmp_path)


def test_concurrent_migrators_apply_each_file_once(hook: Any) -> None:
    hooks = [get_hook(CONN_ID) for _ in range(4)]
    barrier = threading.Barrier(len(hooks))
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def worker(h: Any) -> None:
        barrier.wait()
        try:
            results.append(migrate(h))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(h,)) for h in hooks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    applied = sorted(name for result in results for name in result)
    assert applied == [m.name for m in discover_migrations(dialect_of(hook))]


def test_sql_dir_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo_sql = Path(__file__).resolve().parents[3] / "sql"
    assert Path(str(sql_root())) == repo_sql

    _write_migrations(tmp_path, "postgres", {"007_only.sql": "SELECT 1;"})
    monkeypatch.setenv(SQL_DIR_ENV, str(tmp_path))
    assert [m.name for m in discover_migrations("postgres")] == ["007_only.sql"]

    monkeypatch.setenv(SQL_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=SQL_DIR_ENV):
        sql_root()


def test_both_dialects_define_the_same_migrations() -> None:
    pg = [m.name for m in discover_migrations("postgres")]
    lite = [m.name for m in discover_migrations("sqlite")]
    assert pg == lite


# --- a schema newer than this code: refused, and the database left exactly as it was -------------

_TWO_FILES = {"001_a.sql": "CREATE TABLE a (x INTEGER);", "002_b.sql": "CREATE TABLE b (y INTEGER);"}
_VERSION_TABLE_DDL = ("CREATE TABLE IF NOT EXISTS perf_profiler_schema_version "
                      "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL)")


def _execute(hook: Any, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """Run statements on a connection of their own and commit (``params`` bind the last one)."""
    conn = hook.get_conn()
    try:
        cur = conn.cursor()
        for index, statement in enumerate(statements):
            cur.execute(statement, params if index == len(statements) - 1 else ())
        conn.commit()
    finally:
        conn.close()


def _record_version(hook: Any, version: int) -> None:
    """Record ``version`` as a newer perf-profiler would (creating the version table if need be)."""
    mark = hook.placeholder
    _execute(hook, _VERSION_TABLE_DDL,
             f"INSERT INTO perf_profiler_schema_version (version, name, checksum) VALUES ({mark}, {mark}, {mark})",
             params=(version, f"{version:03d}_from_the_future.sql", "f" * 64))


def _snapshot(hook: Any) -> tuple[list[Any], list[Any]]:
    """The tables of the database and the recorded versions."""
    tables_sql = ("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
                  if dialect_of(hook) == "postgres" else "SELECT name FROM sqlite_master ORDER BY 1")
    return query(hook, tables_sql), query(hook, "SELECT version, name, checksum FROM perf_profiler_schema_version "
                                                "ORDER BY version")


def _read_only(hook: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A hook on the same database through which nothing can be written."""
    if dialect_of(hook) == "postgres":
        name = query(hook, "SELECT current_database()")[0][0]
        _execute(hook, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    else:
        monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "sqlite", "host": f"{sqlite_path(hook)}?mode=ro"}))
    read_only = get_hook(CONN_ID)
    with pytest.raises(Exception, match=r"read-only|readonly"):  # the guard itself works
        _execute(read_only, "CREATE TABLE write_probe (x INTEGER)")
    return read_only


@pytest.mark.parametrize("ahead", [1, 2, 1000])
def test_newer_schema_is_refused_without_touching_the_database(
    hook: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    dialect = dialect_of(hook)
    _write_migrations(tmp_path, dialect, _TWO_FILES)
    _record_version(hook, 2 + ahead)
    before = _snapshot(hook)
    file_bytes = Path(sqlite_path(hook) or "").read_bytes() if dialect == "sqlite" else b""
    connection = os.environ[CONN_ENV]

    # Through a read-only connection: any DDL or write would raise the driver's error instead.
    with pytest.raises(SchemaTooNewError) as info:
        migrate(_read_only(hook, monkeypatch), tmp_path)
    assert str(info.value) == (f"schema version {2 + ahead} is newer than this perf-profiler knows (2): "
                               "upgrade perf-profiler")
    assert (info.value.recorded, info.value.known) == (2 + ahead, 2)

    # And through an ordinary connection again: still refused, still nothing written.
    monkeypatch.setenv(CONN_ENV, connection)
    if dialect == "postgres":
        name = query(hook, "SELECT current_database()")[0][0]
        _execute(hook, "SET TRANSACTION READ WRITE", f'ALTER DATABASE "{name}" RESET ALL')
    with pytest.raises(SchemaTooNewError, match=f"schema version {2 + ahead} is newer"):
        migrate(hook, tmp_path)
    assert _snapshot(hook) == before
    assert not table_exists(hook, "a") and not table_exists(hook, "b")
    if dialect == "sqlite":
        assert Path(sqlite_path(hook) or "").read_bytes() == file_bytes


def test_the_shipped_migrations_refuse_a_database_one_version_ahead(migrated: Any) -> None:
    known = max(m.version for m in discover_migrations(dialect_of(migrated)))
    _record_version(migrated, known + 1)
    before = _snapshot(migrated)
    with pytest.raises(SchemaTooNewError, match=rf"^schema version {known + 1} is newer than this perf-profiler "
                                                rf"knows \({known}\): upgrade perf-profiler$"):
        migrate(migrated)
    assert _snapshot(migrated) == before


def test_schema_at_exactly_the_known_version_is_accepted(hook: Any, tmp_path: Path) -> None:
    _write_migrations(tmp_path, dialect_of(hook), _TWO_FILES)
    assert migrate(hook, tmp_path) == ["001_a.sql", "002_b.sql"]
    assert migrate(hook, tmp_path) == []  # recorded 2, knows 2
    # Only the newest version recorded (an older tool's history pruned): equal, so accepted,
    # and the unrecorded older file is not refused either.
    _execute(hook, "DELETE FROM perf_profiler_schema_version WHERE version = 1")
    _execute(hook, "DROP TABLE a")
    assert migrate(hook, tmp_path) == ["001_a.sql"]
    assert applied_versions(hook) == {1: "001_a.sql", 2: "002_b.sql"}


def test_a_database_without_the_version_table_is_migrated(hook: Any, tmp_path: Path) -> None:
    _write_migrations(tmp_path, dialect_of(hook), _TWO_FILES)
    _execute(hook, "CREATE TABLE unrelated (z INTEGER)")  # another tool's table: not a version
    assert not table_exists(hook, "perf_profiler_schema_version")
    assert migrate(hook, tmp_path) == ["001_a.sql", "002_b.sql"]
    assert applied_versions(hook) == {1: "001_a.sql", 2: "002_b.sql"}
