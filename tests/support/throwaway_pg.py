"""Throwaway PostgreSQL databases for the suites that start a real Airflow (e2e, browser, UI auth)."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PG_ADMIN_DSN = os.environ.get("PERF_PROFILER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> Any:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    return conn


@contextmanager
def throwaway_databases(prefix: str, roles: tuple[str, ...] = ("metadata", "metrics")) -> Iterator[dict[str, str]]:
    """One fresh database per role: role → libpq URI. Dropped at the end, whatever happened."""
    names = {role: f"{prefix}_{role}_{uuid.uuid4().hex[:10]}" for role in roles}
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    admin = _admin()
    try:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(f'CREATE DATABASE "{name}"')
        yield {role: f"{base}/{name}" for role, name in names.items()}
    finally:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
