"""perf_profiler.storage.dialect: which hook for which connection, which dialect for which hook."""
from __future__ import annotations

from typing import Any

import pytest

from metrics_rows import query
from perf_profiler.storage.dialect import dialect_of, get_hook


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
