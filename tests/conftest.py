"""Shared fixtures: a throwaway Airflow home, real PostgreSQL databases and SQLite files."""
from __future__ import annotations

import os
import tempfile
import uuid

import pytest

# Airflow reads its configuration at import time: point it at a throwaway home first.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="perf-profiler-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.path.dirname(__file__), "..", "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", os.path.join(os.path.dirname(__file__), "..", "plugins"))

PG_ADMIN_DSN = os.environ.get("PERF_PROFILER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin():
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database for one test; yields its URI and drops it afterwards."""
    name = f"perf_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def sqlite_path(tmp_path):
    """Path of a fresh SQLite database file for one test."""
    return str(tmp_path / "perf_metrics.db")
