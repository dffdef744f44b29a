"""Shared fixtures: a throwaway Airflow home, real PostgreSQL databases and SQLite files."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Generator

import pytest

# Airflow reads its configuration at import time: point it at a throwaway home first.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="perf-profiler-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.path.dirname(__file__), "..", "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", os.path.join(os.path.dirname(__file__), "..", "plugins"))

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Expose each phase's report on the item (``rep_call``): the browser fixtures keep a screenshot
    of a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database for one test; yields its URI and drops it afterwards."""
    from throwaway_pg import throwaway_databases

    with throwaway_databases("perf_test", ("db",)) as uris:
        yield uris["db"]


@pytest.fixture
def sqlite_path(tmp_path):
    """Path of a fresh SQLite database file for one test."""
    return str(tmp_path / "perf_metrics.db")


def sqlite_conn(path: str) -> str:
    """An Airflow connection (JSON form) for a SQLite file.

    Not the URI form: ``sqlite:////abs/path`` puts the path in ``schema`` and SqliteHook then
    opens ``file://abs/...``, which fails ("invalid uri authority").
    """
    import json

    return json.dumps({"conn_type": "sqlite", "host": path})


@pytest.fixture(params=["postgres", "sqlite"])
def metrics_db(request, monkeypatch, tmp_path):
    """The ``perf_metrics_db`` connection on a throwaway PostgreSQL database, then a SQLite file."""
    if request.param == "postgres":
        uri = request.getfixturevalue("pg_database")
    else:
        uri = sqlite_conn(str(tmp_path / "metrics.db"))
    monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", uri)
    return request.param


@pytest.fixture(params=["fast", "aiohttp"])
def either_engine(request, monkeypatch):
    """Run the test once per probe engine: ``engine: auto`` means this one (``engine_choice.ENGINE_ENV``).

    Worker processes and ``dag.test()`` runs inherit it; a service that names its engine keeps it.
    """
    from perf_profiler.engine.engine_choice import ENGINE_ENV

    monkeypatch.setenv(ENGINE_ENV, request.param)
    return request.param
