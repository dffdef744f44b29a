"""perf_profiler.storage.migrations on real PostgreSQL and SQLite databases: order, once-only, rollback, locks."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from metrics_rows import CONN_ID, query, table_exists
from perf_profiler.storage.dialect import dialect_of, get_hook
from perf_profiler.storage.migrations import SQL_DIR_ENV, applied_versions, discover_migrations, migrate, sql_root


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
