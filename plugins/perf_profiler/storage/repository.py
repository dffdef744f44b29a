"""Store perf_metrics rows through Airflow DbApiHooks: schema migrations and upserts.

Two dialects are supported, PostgreSQL (production) and SQLite (dev), chosen by the Airflow
connection's ``conn_type``. Schemas live in ``sql/<dialect>/NNN_name.sql``; ``migrate`` applies
the files not yet recorded in ``perf_profiler_schema_version``, each in its own transaction.

Where the SQL files are found (first match wins):

1. ``$PERF_PROFILER_SQL_DIR`` (a directory holding ``postgres/`` and ``sqlite/``);
2. ``sql/`` at the repository root (``plugins/perf_profiler/store.py`` -> ``../../sql``);
3. ``perf_profiler/sql/`` shipped inside the installed package, when the build includes it.

Writes are one ``INSERT ... ON CONFLICT (tenant_id, dag_id, run_id, service, endpoint) DO UPDATE``
per batch, in one transaction: sqlite3 ``executemany``; psycopg 3 (what PostgresHook uses when
psycopg is installed with SQLAlchemy 2) COPY into a temp table + ``INSERT ... SELECT``; psycopg2
``execute_values``. Row values are always bound (or COPY-streamed), never formatted into SQL;
SQL text is only assembled from the fixed column whitelist ``METRIC_COLUMNS``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_profiler.common.encoding import canonical_json, iso_utc
from perf_profiler.storage.dialect import DEFAULT_CONN_ID, DIALECTS, NOW_SQL, TABLE_EXISTS_SQL, Dialect, dialect_of, get_hook

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = [
    "AUDIT_COLUMNS",
    "DEFAULT_CONN_ID",
    "KEY_COLUMNS",
    "METRIC_COLUMNS",
    "SQL_DIR_ENV",
    "Migration",
    "applied_versions",
    "dialect_of",
    "discover_migrations",
    "fetch_metrics",
    "get_hook",
    "make_row_id",
    "migrate",
    "sql_root",
    "upsert_metrics",
]

log = logging.getLogger(__name__)

SQL_DIR_ENV = "PERF_PROFILER_SQL_DIR"
TABLE = "perf_metrics"
_STAGE_TABLE = "perf_metrics_stage"
VERSION_TABLE = "perf_profiler_schema_version"

#: Columns of a perf_metrics row, in the order of docs/CONTRACTS.md (all required in a row dict).
METRIC_COLUMNS: tuple[str, ...] = (
    "id", "tenant_id", "dag_id", "run_id", "run_type",
    "logical_date", "data_interval_start", "data_interval_end",
    "service", "endpoint", "method",
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "min_ms", "max_ms", "mean_ms",
    "throughput", "error_rate", "requests", "ok_count", "error_count",
    "errors_by_class", "status_codes", "budget_p95_ms", "budget_error_rate", "verdict",
    "latency_hist", "error_hist", "started_at", "finished_at", "measured_at",
    # load fidelity (sql/<dialect>/003_load_fidelity.sql); optional in a row dict, see below
    "load_model", "target_rate", "dropped", "client_saturated", "saturation_reasons",
    "lag_p50_ms", "lag_p99_ms", "service_p50_ms", "service_p95_ms", "service_p99_ms", "service_hist",
)  # fmt: skip
#: Columns a row dict may leave out, with the value stored then: rows built before the load
#: fidelity columns existed describe a closed loop without drops, lag and service time unknown.
OPTIONAL_COLUMNS: dict[str, Any] = {
    "load_model": "closed", "target_rate": None, "dropped": 0, "client_saturated": False,
    "saturation_reasons": "[]", "lag_p50_ms": None, "lag_p99_ms": None, "service_p50_ms": None,
    "service_p95_ms": None, "service_p99_ms": None, "service_hist": None,
}  # fmt: skip
#: The unique key: one row per tenant x DAG run x service x endpoint.
KEY_COLUMNS: tuple[str, ...] = ("tenant_id", "dag_id", "run_id", "service", "endpoint")
#: Set by the database: created_at on first insert, updated_at on every upsert.
AUDIT_COLUMNS: tuple[str, ...] = ("created_at", "updated_at")

_TIMESTAMP_COLUMNS = frozenset(
    {"logical_date", "data_interval_start", "data_interval_end", "started_at", "finished_at", "measured_at"}
)
_DECIMAL_COLUMNS = frozenset(
    {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "min_ms", "max_ms", "mean_ms", "throughput", "budget_p95_ms",
     "lag_p50_ms", "lag_p99_ms", "service_p50_ms", "service_p95_ms", "service_p99_ms"}
)
_FLOAT_COLUMNS = frozenset({"error_rate", "budget_error_rate", "target_rate"})
_INT_COLUMNS = frozenset({"requests", "ok_count", "error_count", "dropped"})
_JSON_COLUMNS = frozenset({"errors_by_class", "status_codes", "saturation_reasons"})
_BOOL_COLUMNS = frozenset({"client_saturated"})

_ROW_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:perf-profiler:perf_metrics")
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


# --------------------------------------------------------------------------- migrations


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
    """
    dialect = dialect_of(hook)
    pending = discover_migrations(dialect, sql_dir)
    applied: list[str] = []
    with closing(hook.get_conn()) as conn:
        if dialect == "sqlite":
            conn.isolation_level = None  # we issue BEGIN IMMEDIATE ourselves
        for migration in pending:
            if _apply_migration(conn, dialect, hook.placeholder, migration):
                applied.append(migration.name)
    if applied:
        log.info("applied %s migrations: %s", dialect, ", ".join(applied))
    else:
        log.info("%s schema up to date (%s migrations known)", dialect, len(pending))
    return applied


def applied_versions(hook: DbApiHook) -> dict[int, str]:
    """Recorded migrations as ``{version: file name}`` (empty before the first migrate)."""
    dialect = dialect_of(hook)
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute(TABLE_EXISTS_SQL[dialect], (VERSION_TABLE,))
        exists = cur.fetchone()[0]
        rows = []
        if exists:
            cur.execute(f"SELECT version, name FROM {VERSION_TABLE} ORDER BY version")
            rows = cur.fetchall()
        conn.rollback()
    return {int(version): name for version, name in rows}


def _apply_migration(conn: Any, dialect: Dialect, mark: str, migration: Migration) -> bool:
    """Apply one migration under the migration lock unless it is recorded; True if applied.

    ``mark`` is the hook's bound-parameter placeholder."""
    cur = conn.cursor()
    try:
        _lock_for_migration(cur, dialect)
        cur.execute(_VERSION_DDL[dialect])
        cur.execute(f"SELECT checksum FROM {VERSION_TABLE} WHERE version = {mark}", (migration.version,))
        recorded = cur.fetchone()
        if recorded is None:
            for statement in _statements(migration.read(), dialect):
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


def _lock_for_migration(cur: Any, dialect: Dialect) -> None:
    """Start the migration transaction holding a lock that other migrators wait for."""
    if dialect == "postgres":
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
    else:
        cur.execute("BEGIN IMMEDIATE")


def _statements(script: str, dialect: Dialect) -> list[str]:
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


# --------------------------------------------------------------------------- rows


@lru_cache(maxsize=65536)
def make_row_id(tenant_id: str, dag_id: str, run_id: str, service: str, endpoint: str) -> str:
    """Deterministic row id: uuid5 of the unique key (the same key always gives the same id).

    Cached: ``rows.build_row`` derives the id and ``upsert_metrics`` re-checks it, same key.
    """
    key = json.dumps([tenant_id, dag_id, run_id, service, endpoint], ensure_ascii=False, separators=(",", ":"))
    return str(uuid.uuid5(_ROW_ID_NAMESPACE, key))


def upsert_metrics(hook: DbApiHook, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert or update perf_metrics rows in one transaction; return how many keys were written.

    Rows must carry every key of ``METRIC_COLUMNS`` but those of ``OPTIONAL_COLUMNS`` (extra
    keys are ignored). On a key that already exists all metric columns are overwritten,
    ``created_at`` is kept and ``updated_at`` refreshed. Rows repeating a key within one call:
    the last one wins.
    """
    if not rows:
        return 0
    dialect = dialect_of(hook)
    mark = hook.placeholder
    columns = _validated_columns(rows)
    order = _last_index_per_key(columns)
    with closing(hook.get_conn()) as conn:
        try:
            _write_rows(conn, dialect, mark, columns, order)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    log.info("upserted %s perf_metrics rows (%s)", len(order), dialect)
    return len(order)


def fetch_metrics(
    hook: DbApiHook,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    tenant_id: str | None = None,
    data_interval: tuple[Any, Any] | None = None,
) -> list[dict[str, Any]]:
    """Stored rows (METRIC_COLUMNS + created_at, updated_at) in the same shape on both dialects.

    Filters are ANDed; ``data_interval`` (start, end) selects the rows of one data interval,
    whichever run measured them. Timestamps come back as ISO-8601 UTC text, decimals as float,
    JSON columns as compact sorted JSON text; ordered by the unique key.
    """
    mark = hook.placeholder
    filters = {"tenant_id": tenant_id, "dag_id": dag_id, "run_id": run_id}
    if data_interval is not None:
        filters["data_interval_start"] = _to_utc_iso(data_interval[0], "data_interval_start")
        filters["data_interval_end"] = _to_utc_iso(data_interval[1], "data_interval_end")
    where = [f"{column} = {mark}" for column, value in filters.items() if value is not None]
    params = [value for value in filters.values() if value is not None]
    sql = (
        f"SELECT {', '.join(METRIC_COLUMNS + AUDIT_COLUMNS)} FROM {TABLE}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {', '.join(KEY_COLUMNS)}"
    )
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute(sql, params)
        names = [d[0] for d in cur.description]
        records = cur.fetchall()
        conn.rollback()
    return [_normalise_row(dict(zip(names, record))) for record in records]


_MISSING = object()


def _prepare_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Validate one row dict and convert it to the bound values of the upsert."""
    return _prepare_rows([row])[0]


def _prepare_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Validate row dicts and convert them to the bound values of the upsert, row by row."""
    return _converted(_validated_columns(rows), range(len(rows)))


def _validated_columns(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The rows' values column by column (METRIC_COLUMNS order, optional ones defaulted), after
    the checks that need no conversion: every required key present, the key columns non-empty
    strings, the id the uuid5 of the key (the id column is returned as text)."""
    columns: list[list[Any]] = []
    for column, default in _DEFAULTS:
        if default is _MISSING:
            try:
                columns.append([row[column] for row in rows])
            except KeyError:
                for row in rows:
                    missing = [c for c, d in _DEFAULTS if d is _MISSING and c not in row]
                    if missing:
                        raise ValueError(f"perf_metrics row is missing key(s): {', '.join(missing)}") from None
                raise
        else:
            columns.append([row.get(column, default) for row in rows])
    keys = [columns[p] for p in _KEY_POSITIONS]
    for column, values in zip(KEY_COLUMNS, keys):
        if not all(type(value) is str and value for value in values):
            for value in values:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"perf_metrics key column {column!r} must be a non-empty string, got {value!r}")
    expected_ids = [make_row_id(*key) for key in zip(*keys)]
    for given, expected_id in zip(columns[0], expected_ids):
        if given != expected_id and str(given) != expected_id:
            raise ValueError(f"perf_metrics row id {given!r} is not make_row_id(...) of its key ({expected_id})")
    columns[0] = expected_ids
    return columns


def _converted(all_columns: list[list[Any]], indices: Sequence[int]) -> list[tuple[Any, ...]]:
    """Bound values of the rows at ``indices``: each value validated and converted for binding.

    The hot loop of a big upsert, so it works column by column: one list comprehension per
    column with the common, valid case inline (a float that only needs rounding, an int, ...)
    and the converter called only for the rest (which validates and raises, naming the column).
    """
    if len(indices) == len(all_columns[0]) and isinstance(indices, range) and indices.start == 0:
        columns = [list(values) for values in all_columns]
    else:
        columns = [[values[i] for i in indices] for values in all_columns]
    finite = math.isfinite
    for position, column, convert in _CONVERT_AT:
        values = columns[position]
        if convert is _decimal_10_2:
            columns[position] = [round(v, 2) if type(v) is float and finite(v) else
                                 None if v is None else convert(v, column) for v in values]
        elif convert is _finite:
            columns[position] = [v if type(v) is float and finite(v) else
                                 None if v is None else convert(v, column) for v in values]
        elif convert is _integer or convert is _boolean:
            kind = int if convert is _integer else bool
            columns[position] = [v if type(v) is kind else None if v is None else convert(v, column) for v in values]
        elif convert is _to_utc_iso or convert is _canonical_json:
            cached = _iso_text_to_utc if convert is _to_utc_iso else _canonical_json_text
            columns[position] = [cached(v, column) if type(v) is str else
                                 None if v is None else convert(v, column) for v in values]
        else:
            columns[position] = [None if v is None else convert(v, column) for v in values]
    return list(zip(*columns))


def _to_utc_iso(value: Any, column: str) -> str:
    """Fixed-width ISO-8601 UTC text (naive values are taken as UTC, numbers as epoch s)."""
    if isinstance(value, str):
        return _iso_text_to_utc(value, column)
    try:
        return iso_utc(value, "microseconds") or ""
    except ValueError as exc:
        raise ValueError(f"{column}: {exc}") from None


@lru_cache(maxsize=4096)
def _iso_text_to_utc(text: str, column: str) -> str:
    """Cached: the rows of one run share most of their timestamps."""
    try:
        return iso_utc(text, "microseconds") or ""
    except ValueError as exc:
        raise ValueError(f"{column}: {exc}") from None


def _decimal_10_2(value: Any, column: str) -> float:
    """Round like DECIMAL(10,2) so SQLite (which keeps every digit) stores what PostgreSQL does."""
    if type(value) is float and math.isfinite(value):  # the common case, without a call
        return round(value, 2)
    return round(_finite(value, column), 2)


def _boolean(value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # SQLite's representation
        return bool(value)
    raise ValueError(f"{column}: expected true or false, got {value!r}")


def _finite(value: Any, column: str) -> float:
    if isinstance(value, float) and math.isfinite(value):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{column}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"{column}: expected a finite number, got {value!r}")
    return number


def _integer(value: Any, column: str) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise ValueError(f"{column}: expected an integer, got {value!r}")
    return int(value)


def _canonical_json(value: Any, column: str) -> str:
    """Canonical JSON text (``common.encoding``), from JSON text or a JSON-serialisable value."""
    if isinstance(value, (str, bytes)):
        return _canonical_json_text(value, column)
    try:
        return canonical_json(value)
    except ValueError as exc:  # NaN or Infinity
        raise ValueError(f"{column}: not valid JSON: {exc}") from None


@lru_cache(maxsize=4096)
def _canonical_json_text(text: str | bytes, column: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"{column}: not valid JSON text: {text[:80]!r}") from None
    return _canonical_json(value, column)


def _converter(column: str) -> Callable[[Any, str], Any] | None:
    """How a non-None value of ``column`` is bound (None: as given)."""
    if column in _TIMESTAMP_COLUMNS:
        return _to_utc_iso
    if column in _DECIMAL_COLUMNS:
        return _decimal_10_2
    if column in _FLOAT_COLUMNS:
        return _finite
    if column in _INT_COLUMNS:
        return _integer
    if column in _JSON_COLUMNS:
        return _canonical_json
    if column in _BOOL_COLUMNS:
        return _boolean
    if column == "id":
        return lambda value, _column: str(value)
    return None


_CONVERTERS = tuple(_converter(column) for column in METRIC_COLUMNS)
_CONVERT_AT = tuple(
    (position, column, convert)
    for position, (column, convert) in enumerate(zip(METRIC_COLUMNS, _CONVERTERS))
    if convert is not None
)
_DEFAULTS = tuple((column, OPTIONAL_COLUMNS.get(column, _MISSING)) for column in METRIC_COLUMNS)
_KEY_POSITIONS = tuple(METRIC_COLUMNS.index(column) for column in KEY_COLUMNS)


def _last_index_per_key(columns: list[list[Any]]) -> list[int]:
    """Indices of the rows to write: an earlier row repeating a key is dropped (one statement may
    not update the same row twice), the last one wins at the place of the first."""
    by_key = {key: i for i, key in enumerate(zip(*(columns[p] for p in _KEY_POSITIONS)))}
    dropped = len(columns[0]) - len(by_key)
    if dropped:
        log.warning("dropped %s perf_metrics rows repeating a key in one batch", dropped)
    return list(by_key.values())


def _upsert_sql(dialect: Dialect, mark: str = "%s", values_clause: str | None = None, select_from: str | None = None) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE over METRIC_COLUMNS (never SQLite's REPLACE)."""
    columns = ", ".join(METRIC_COLUMNS)
    updates = [f"{c} = excluded.{c}" for c in METRIC_COLUMNS if c != "id" and c not in KEY_COLUMNS]
    updates.append(f"updated_at = {NOW_SQL[dialect]}")
    if select_from:
        source = f"SELECT {columns} FROM {select_from}"
    else:
        source = "VALUES " + (values_clause or f"({', '.join([mark] * len(METRIC_COLUMNS))})")
    return (
        f"INSERT INTO {TABLE} ({columns}) {source} "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {', '.join(updates)}"
    )


def _write_rows(conn: Any, dialect: Dialect, mark: str, columns: list[list[Any]], order: list[int]) -> None:
    """Send the upsert with the fastest batch API of the driver behind the hook."""
    with closing(conn.cursor()) as cur:
        if dialect == "sqlite":
            cur.executemany(_upsert_sql(dialect, mark), _converted(columns, order))
        elif type(conn).__module__.startswith("psycopg2"):
            from psycopg2.extras import execute_values

            # execute_values expands its own "%s" template, whatever the hook's placeholder
            execute_values(cur, _upsert_sql(dialect, values_clause="%s"), _converted(columns, order), page_size=1000)
        else:
            _copy_then_upsert(cur, columns, order)


#: psycopg 3 COPY: rows are converted this many at a time while the server ingests the previous ones.
_COPY_CHUNK = 1000


def _copy_rows(cur: Any, table: str, columns: list[list[Any]], order: list[int]) -> None:
    """COPY the rows at ``order`` into ``table``, converting chunk by chunk as the stream goes."""
    with cur.copy(f"COPY {table} ({', '.join(METRIC_COLUMNS)}) FROM STDIN") as copy:
        for start in range(0, len(order), _COPY_CHUNK):
            for row in _converted(columns, order[start : start + _COPY_CHUNK]):
                copy.write_row(row)


def _copy_then_upsert(cur: Any, columns: list[list[Any]], order: list[int]) -> None:
    """psycopg 3: rows whose key is new are COPYed straight into perf_metrics; the others go
    through a COPY into a transaction-scoped temp table and one INSERT ... ON CONFLICT upsert.

    The id is the uuid5 of the key (checked in ``_validated_columns``), so one primary-key lookup
    tells new keys from existing ones. Should a concurrent writer insert one of the "new" keys
    in between, the direct COPY fails on the unique key, is rolled back to its savepoint and
    every row takes the upsert path. The CHECKs and the unique key apply either way, within the
    caller's transaction. Same result as the upsert alone, at about the speed of a plain COPY
    when the keys are new (a run's first store).
    """
    import psycopg

    ids = columns[0]
    # one text parameter: much cheaper to send than a 10k-element array
    cur.execute(f"SELECT id::text FROM {TABLE} WHERE id = ANY(string_to_array(%s, ',')::uuid[])",
                (",".join(ids[i] for i in order),))
    existing = {row[0] for row in cur.fetchall()}
    fresh = [i for i in order if ids[i] not in existing]
    stale = [i for i in order if ids[i] in existing]
    if fresh:
        cur.execute("SAVEPOINT perf_metrics_copy")
        try:
            _copy_rows(cur, TABLE, columns, fresh)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT perf_metrics_copy")
            log.info("perf_metrics keys appeared concurrently; upserting all %s rows", len(order))
            stale = order
        else:
            cur.execute("RELEASE SAVEPOINT perf_metrics_copy")
    if stale:
        _stage_then_upsert(cur, columns, stale)


def _stage_then_upsert(cur: Any, columns: list[list[Any]], order: list[int]) -> None:
    """COPY into a transaction-scoped temp table, then one INSERT ... SELECT ... ON CONFLICT."""
    cur.execute(f"CREATE TEMP TABLE {_STAGE_TABLE} (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP")
    _copy_rows(cur, _STAGE_TABLE, columns, order)
    cur.execute(_upsert_sql("postgres", select_from=_STAGE_TABLE))


def _normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    """Make a fetched row look the same whichever dialect it came from."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        if value is None:
            out[column] = None
        elif column in _TIMESTAMP_COLUMNS or column in AUDIT_COLUMNS:
            out[column] = _to_utc_iso(value, column)
        elif column in _DECIMAL_COLUMNS or column in _FLOAT_COLUMNS:
            out[column] = float(value)
        elif column in _INT_COLUMNS:
            out[column] = int(value)
        elif column in _JSON_COLUMNS:
            out[column] = _canonical_json(value, column)
        elif column in _BOOL_COLUMNS:
            out[column] = bool(value)
        elif column == "id":
            out[column] = str(value)
        else:
            out[column] = value
    return out

