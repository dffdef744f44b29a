"""perf_profiler.storage.dialect: which hook for which connection, which dialect for which hook."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from metrics_rows import CONN_ENV, CONN_ID, query
from perf_profiler.storage.dialect import (
    SqlitePathError,
    UnusableStoreError,
    dialect_of,
    get_hook,
    sqlite_path,
)


def test_get_hook_picks_the_hook_of_the_connection_type(hook: Any) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    expected = PostgresHook if dialect_of(hook) == "postgres" else SqliteHook
    assert type(hook) is expected
    assert query(hook, "SELECT 1") == [(1,)]


def test_get_hook_refuses_other_connection_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_HTTP", "http://insight.example:8003")
    with pytest.raises(ValueError, match=r"'insight_http'.*'http'.*'postgres' or 'sqlite'"):
        get_hook("insight_http")


def test_dialect_of_refuses_other_hooks() -> None:
    with pytest.raises(ValueError, match="need postgres or sqlite"):
        dialect_of(object())  # type: ignore[arg-type]  # not a hook on purpose: the refusal is under test


# --- a SQLite path that cannot be opened: refused by name before sqlite3 says "unable to open" ----

def _sqlite_hook(monkeypatch: pytest.MonkeyPatch, path: str) -> Any:
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "sqlite", "host": path}))
    return get_hook(CONN_ID)


@pytest.mark.parametrize(("relative", "missing"), [
    ("missing/perf.db", "missing"),                # the directory does not exist
    ("a/b/c/perf.db", "a"),                        # nor does its parent, nor the one above
    ("exists/not-yet/perf.db", "exists/not-yet"),  # the top exists, the one below does not
])  # fmt: skip
def test_sqlite_path_in_a_missing_directory_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, relative: str, missing: str
) -> None:
    (tmp_path / "exists").mkdir()
    path = str(tmp_path / relative)
    with pytest.raises(SqlitePathError) as info:
        _sqlite_hook(monkeypatch, path)
    message = str(info.value)
    assert repr(path) in message
    assert f"directory {str(tmp_path / missing)!r} does not exist" in message
    assert repr(CONN_ID) in message
    assert isinstance(info.value, UnusableStoreError)  # the tasks fail these at once, without retries
    assert not (tmp_path / missing).exists()  # nothing was created on the way


def test_sqlite_path_that_is_a_directory_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "perf.db").mkdir()
    for path in (str(tmp_path / "perf.db"), str(tmp_path)):
        with pytest.raises(SqlitePathError, match=rf"{re.escape(repr(path))} .*is a directory, not a database file"):
            _sqlite_hook(monkeypatch, path)


def test_sqlite_path_below_a_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    path = str(tmp_path / "plain" / "perf.db")
    with pytest.raises(SqlitePathError, match=rf"{re.escape(repr(str(tmp_path / 'plain')))} is not a directory"):
        _sqlite_hook(monkeypatch, path)


def test_sqlite_paths_that_can_be_opened_are_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    new_file = tmp_path / "new.db"
    hook = _sqlite_hook(monkeypatch, str(new_file))
    assert sqlite_path(hook) == str(new_file)
    assert query(hook, "SELECT 1") == [(1,)]
    assert new_file.is_file()

    in_memory = _sqlite_hook(monkeypatch, ":memory:")
    assert sqlite_path(in_memory) is None
    assert query(in_memory, "SELECT 2") == [(2,)]

    read_only = _sqlite_hook(monkeypatch, f"{new_file}?mode=ro")
    assert sqlite_path(read_only) == str(new_file)


def test_sqlite_missing_directory_really_fails_without_the_check(tmp_path: Path) -> None:
    """What the check replaces: sqlite3 alone names no path (if this changes, the check may go)."""
    with pytest.raises(sqlite3.OperationalError, match=r"^unable to open database file$"):
        sqlite3.connect(str(tmp_path / "missing" / "perf.db"))
