"""Storage fixtures: a hook on a fresh database of each dialect, resolved from the Airflow connection.

The metrics connection is handed to Airflow the way a deployment would: an ``AIRFLOW_CONN_*``
environment variable (set with ``monkeypatch.setenv``, so it is scoped to one test).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from metrics_rows import CONN_ENV, CONN_ID
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.migrations import migrate


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
    return get_hook(CONN_ID)


@pytest.fixture
def migrated(hook: Any) -> Any:
    migrate(hook)
    return hook
