"""The one place that knows PostgreSQL from SQLite: which hook, which dialect, which SQL differs.

The bound-parameter marker is not kept here: it is the hook's own ``DbApiHook.placeholder``
(``%s`` for PostgresHook, ``?`` for SqliteHook, overridable in the connection's extras).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from perf_profiler.model.columns import Kind

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = [
    "COLUMNS_SQL",
    "COLUMN_TYPES",
    "DEFAULT_CONN_ID",
    "DIALECTS",
    "NOW_SQL",
    "TABLE_EXISTS_SQL",
    "Dialect",
    "SqlitePathError",
    "UnusableStoreError",
    "check_sqlite_path",
    "declared_type",
    "dialect_of",
    "get_hook",
    "sqlite_path",
]

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

#: ``.format(mark=hook.placeholder)``, then one bound parameter, the table name; the query
#: returns one row whose first value is truthy when the table exists.
TABLE_EXISTS_SQL: dict[Dialect, str] = {
    "postgres": "SELECT to_regclass({mark}) IS NOT NULL",
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = {mark}",
}

#: ``.format(mark=hook.placeholder)``, then one bound parameter, the table name: one row per
#: column (name, declared type, NOT NULL) in table order; no rows when the table does not exist.
COLUMNS_SQL: dict[Dialect, str] = {
    "postgres": "SELECT column_name, CASE WHEN data_type = 'numeric' THEN 'numeric(' || numeric_precision || ',' "
                "|| numeric_scale || ')' ELSE data_type END, is_nullable = 'NO' FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = {mark} ORDER BY ordinal_position",
    "sqlite": 'SELECT name, type, "notnull" FROM pragma_table_info({mark}) ORDER BY cid',
}

#: The declared types a column of each registry kind (``model.columns.Kind``) may have, as
#: ``declared_type`` spells them. SQLite keeps the declared type (it checks values with CHECKs).
COLUMN_TYPES: dict[Dialect, dict[Kind, frozenset[str]]] = {
    "postgres": {
        "text": frozenset({"character varying", "text"}), "uuid": frozenset({"uuid"}),
        "timestamp": frozenset({"timestamp with time zone"}), "decimal": frozenset({"numeric(10,2)"}),
        "float": frozenset({"double precision"}), "int": frozenset({"bigint"}), "json": frozenset({"jsonb"}),
        "bool": frozenset({"boolean"}),
    },
    "sqlite": {
        "text": frozenset({"VARCHAR", "TEXT"}), "uuid": frozenset({"TEXT"}), "timestamp": frozenset({"TEXT"}),
        "decimal": frozenset({"DECIMAL(10,2)"}), "float": frozenset({"REAL"}), "int": frozenset({"INTEGER"}),
        "json": frozenset({"TEXT"}), "bool": frozenset({"INTEGER"}),
    },
}  # fmt: skip

_CONN_TYPES: dict[str, Dialect] = {"postgres": "postgres", "postgresql": "postgres", "sqlite": "sqlite"}


class UnusableStoreError(RuntimeError):
    """The metrics store cannot be used as configured; retrying will not change that."""


class SqlitePathError(UnusableStoreError):
    """A SQLite connection's database path cannot be opened (missing directory, or a directory)."""


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

        hook = SqliteHook(sqlite_conn_id=conn_id)
        check_sqlite_path(hook)
        return hook
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


def declared_type(dialect: Dialect, declared: str) -> str:
    """A column's declared type as ``COLUMN_TYPES`` spells it (SQLite: upper case, no VARCHAR length)."""
    if dialect == "postgres":
        return declared
    return re.sub(r"^VARCHAR\(\d+\)$", "VARCHAR", declared.upper().replace(" ", ""))


def sqlite_path(hook: DbApiHook) -> str | None:
    """The file a SqliteHook opens, derived as ``SqliteHook.get_conn`` does; None for in-memory."""
    uri = hook.get_uri().replace("sqlite:///", "file:", 1)
    path, _, query = uri.removeprefix("file:").partition("?")
    if path in ("", ":memory:") or "mode=memory" in query.split("&"):
        return None
    return path


def check_sqlite_path(hook: DbApiHook) -> None:
    """Refuse a SQLite database path that cannot be opened, naming it (sqlite3 would only say
    "unable to open database file"): a missing directory, a directory, or a file as directory."""
    path = sqlite_path(hook)
    if path is None:
        return
    where = f"SQLite database path {path!r} (Airflow connection {hook.get_conn_id()!r})"
    target = Path(path)
    if target.is_dir():
        raise SqlitePathError(f"{where} is a directory, not a database file")
    parent = target.parent
    if not parent.exists():
        missing = parent
        while not missing.parent.exists():
            missing = missing.parent
        raise SqlitePathError(f"{where}: directory {str(missing)!r} does not exist (create it first)")
    if not parent.is_dir():
        raise SqlitePathError(f"{where}: {str(parent)!r} is not a directory")
