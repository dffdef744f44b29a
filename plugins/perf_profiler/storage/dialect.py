"""The one place that knows PostgreSQL from SQLite: which hook, which dialect, which SQL differs.

The bound-parameter marker is not kept here: it is the hook's own ``DbApiHook.placeholder``
(``%s`` for PostgresHook, ``?`` for SqliteHook, overridable in the connection's extras).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["DEFAULT_CONN_ID", "DIALECTS", "NOW_SQL", "TABLE_EXISTS_SQL", "Dialect", "dialect_of", "get_hook"]

Dialect = Literal["postgres", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("postgres", "sqlite")

#: The Airflow connection of the metrics database unless a caller names another.
DEFAULT_CONN_ID = "perf_metrics_db"

#: The current time as the column type stores it. SQLite's is fixed-width ISO-8601 UTC text with
#: microseconds, the same shape as the timestamps we bind, so the two compare and sort as text.
NOW_SQL: dict[Dialect, str] = {
    "postgres": "now()",
    "sqlite": "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')",
}

#: One bound parameter, the table name; the query returns one row whose first value is truthy
#: when the table exists.
TABLE_EXISTS_SQL: dict[Dialect, str] = {
    "postgres": "SELECT to_regclass(%s) IS NOT NULL",
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
}

_CONN_TYPES: dict[str, Dialect] = {"postgres": "postgres", "postgresql": "postgres", "sqlite": "sqlite"}


def get_hook(conn_id: str = DEFAULT_CONN_ID) -> DbApiHook:
    """Return a PostgresHook or SqliteHook for the Airflow connection ``conn_id``."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    dialect = _CONN_TYPES.get((conn.conn_type or "").lower())
    if dialect == "postgres":
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=conn_id)
    if dialect == "sqlite":
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        return SqliteHook(sqlite_conn_id=conn_id)
    raise ValueError(
        f"Airflow connection {conn_id!r} has conn_type {conn.conn_type!r}; "
        "the perf_metrics store needs a 'postgres' or 'sqlite' connection"
    )


def dialect_of(hook: DbApiHook) -> Dialect:
    """Return ``"postgres"`` or ``"sqlite"`` for a hook (by its class's ``conn_type``)."""
    conn_type = str(getattr(hook, "conn_type", "") or "").lower()
    dialect = _CONN_TYPES.get(conn_type)
    if dialect is None:
        raise ValueError(
            f"unsupported hook {type(hook).__name__} (conn_type {conn_type!r}): need postgres or sqlite"
        )
    return dialect
