"""Versioned schema migrations: ``sql/<dialect>/NNN_name.sql`` applied once each, in order.

``migrate`` applies the files not yet recorded in ``perf_profiler_schema_version``, each in its
own transaction together with its version row, under a lock that concurrent migrators wait for.

Where the SQL files are found (first match wins):

1. ``$PERF_PROFILER_SQL_DIR`` (a directory holding ``postgres/`` and ``sqlite/``);
2. ``sql/`` at the repository root (``plugins/perf_profiler/storage/migrations.py`` -> ``../../../sql``);
3. ``perf_profiler/sql/`` shipped inside the installed package, when the build includes it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_profiler.storage.dialect import (
    DIALECTS,
    NOW_SQL,
    TABLE_EXISTS_SQL,
    Dialect,
    UnusableStoreError,
    dialect_of,
)

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = [
    "SQL_DIR_ENV",
    "VERSION_TABLE",
    "Migration",
    "SchemaTooNewError",
    "applied_versions",
    "discover_migrations",
    "migrate",
    "split_statements",
    "sql_root",
]

log = logging.getLogger(__name__)

SQL_DIR_ENV = "PERF_PROFILER_SQL_DIR"
VERSION_TABLE = "perf_profiler_schema_version"

_MIGRATION_FILE = re.compile(r"^(\d+)_(\w+)\.sql$")
# Any constant works; it only has to be the same for every worker migrating this database.
_PG_MIGRATION_LOCK = 0x7065_7266_5F6D_6967  # "perf_mig"
_VERSION_DDL: dict[Dialect, str] = {
    "postgres": f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        checksum TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now())""",
    "sqlite": f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        checksum TEXT NOT NULL,
        applied_at TEXT NOT NULL DEFAULT ({NOW_SQL["sqlite"]}))""",
}


class SchemaTooNewError(UnusableStoreError):
    """The database records a schema version newer than any migration this code knows."""

    def __init__(self, recorded: int, known: int) -> None:
        super().__init__(
            f"schema version {recorded} is newer than this perf-profiler knows ({known}): upgrade perf-profiler"
        )
        self.recorded = recorded
        self.known = known


@dataclass(frozen=True)
class Migration:
    """One ``NNN_name.sql`` file."""

    version: int
    name: str
    source: Traversable

    def read(self) -> str:
        return self.source.read_text(encoding="utf-8")

    def checksum(self) -> str:
        return hashlib.sha256(self.read().encode("utf-8")).hexdigest()


def sql_root() -> Traversable:
    """The directory holding ``postgres/`` and ``sqlite/`` migrations (see module docstring)."""
    env = os.environ.get(SQL_DIR_ENV)
    if env:
        path = Path(env)
        if not path.is_dir():
            raise FileNotFoundError(f"{SQL_DIR_ENV}={env!r} is not a directory")
        return path
    repo_sql = Path(__file__).resolve().parents[3] / "sql"
    if any((repo_sql / d).is_dir() for d in DIALECTS):
        return repo_sql
    packaged = resources.files("perf_profiler") / "sql"
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError(
        f"no perf_profiler SQL directory: set {SQL_DIR_ENV} or ship sql/ with the package "
        f"(looked at {repo_sql} and perf_profiler/sql)"
    )


def discover_migrations(dialect: Dialect, root: Traversable | None = None) -> list[Migration]:
    """The ``NNN_*.sql`` files of ``dialect`` under ``root`` (default ``sql_root()``), by number."""
    directory = (root if root is not None else sql_root()) / dialect
    if not directory.is_dir():
        raise FileNotFoundError(f"no migrations directory for {dialect}: {directory}")
    found: dict[int, Migration] = {}
    for entry in directory.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if not match or not entry.is_file():
            continue
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two {dialect} migrations share version {version}: {found[version].name}, {entry.name}")
        found[version] = Migration(version, entry.name, entry)
    return [found[v] for v in sorted(found)]


def migrate(hook: DbApiHook, sql_dir: Traversable | None = None) -> list[str]:
    """Apply every migration not yet recorded, in order; return the file names applied.

    Each file runs in its own transaction together with its version row. PostgreSQL
    serialises concurrent migrators with ``pg_advisory_xact_lock``; SQLite with
    ``BEGIN IMMEDIATE``. A file already recorded is skipped (a changed checksum is logged).

    A database recording a version newer than the newest file known here raises
    ``SchemaTooNewError`` before anything is written (no DDL, no version table).
    """
    dialect = dialect_of(hook)
    pending = discover_migrations(dialect, sql_dir)
    with closing(hook.get_conn()) as conn:
        _refuse_newer_schema(conn, dialect, hook.placeholder, max((m.version for m in pending), default=0))
        if dialect == "sqlite":
            conn.isolation_level = None  # we issue BEGIN IMMEDIATE ourselves
        # one at a time, in order: the names of those this call applied
        applied = [migration.name for migration in pending
                   if _apply_migration(conn, dialect, hook.placeholder, migration)]
    if applied:
        log.info("applied %s migrations: %s", dialect, ", ".join(applied))
    else:
        log.info("%s schema up to date (%s migrations known)", dialect, len(pending))
    return applied


def applied_versions(hook: DbApiHook) -> dict[int, str]:
    """Recorded migrations as ``{version: file name}`` (empty before the first migrate)."""
    dialect = dialect_of(hook)
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute(TABLE_EXISTS_SQL[dialect].format(mark=hook.placeholder), (VERSION_TABLE,))
        exists = cur.fetchone()[0]
        rows = []
        if exists:
            cur.execute(f"SELECT version, name FROM {VERSION_TABLE} ORDER BY version")
            rows = cur.fetchall()
        conn.rollback()
    return {int(version): name for version, name in rows}


def _refuse_newer_schema(conn: Any, dialect: Dialect, mark: str, known: int) -> None:
    """Raise ``SchemaTooNewError`` when the recorded schema is newer than ``known``; reads only."""
    with closing(conn.cursor()) as cur:
        try:
            cur.execute(TABLE_EXISTS_SQL[dialect].format(mark=mark), (VERSION_TABLE,))
            recorded = None
            if cur.fetchone()[0]:
                cur.execute(f"SELECT max(version) FROM {VERSION_TABLE}")
                recorded = cur.fetchone()[0]
        finally:
            conn.rollback()
    if recorded is not None and int(recorded) > known:
        raise SchemaTooNewError(int(recorded), known)


def _apply_migration(conn: Any, dialect: Dialect, mark: str, migration: Migration) -> bool:
    """Apply one migration under the migration lock unless it is recorded; True if applied.

    ``mark`` is the hook's bound-parameter placeholder."""
    cur = conn.cursor()
    try:
        _lock_for_migration(cur, dialect, mark)
        cur.execute(_VERSION_DDL[dialect])
        cur.execute(f"SELECT checksum FROM {VERSION_TABLE} WHERE version = {mark}", (migration.version,))
        recorded = cur.fetchone()
        if recorded is None:
            for statement in split_statements(migration.read(), dialect):
                cur.execute(statement)
            cur.execute(
                f"INSERT INTO {VERSION_TABLE} (version, name, checksum) VALUES ({mark}, {mark}, {mark})",
                (migration.version, migration.name, migration.checksum()),
            )
        elif recorded[0] != migration.checksum():
            log.warning("migration %s changed since it was applied; not re-applied", migration.name)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        cur.close()
    return recorded is None


def _lock_for_migration(cur: Any, dialect: Dialect, mark: str) -> None:
    """Start the migration transaction holding a lock that other migrators wait for."""
    if dialect == "postgres":
        cur.execute(f"SELECT pg_advisory_xact_lock({mark})", (_PG_MIGRATION_LOCK,))
    else:
        cur.execute("BEGIN IMMEDIATE")


def split_statements(script: str, dialect: Dialect) -> list[str]:
    """Split a script for execution (PostgreSQL takes the whole script in one execute).

    SQLite's ``executescript`` would commit our open transaction first, so SQLite scripts are
    split with ``sqlite3.complete_statement`` (which knows strings, comments and triggers).
    """
    if dialect == "postgres":
        return [script]
    statements: list[str] = []
    start = 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            statements.append(script[start : index + 1].strip())
            start = index + 1
    tail = script[start:].strip()
    if tail and not all(line.strip().startswith("--") or not line.strip() for line in tail.splitlines()):
        raise ValueError(f"incomplete SQL statement at the end of the script: {tail[:80]!r}")
    return statements
