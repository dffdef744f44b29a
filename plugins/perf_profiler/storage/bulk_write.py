"""The three ways a batch of perf_metrics rows reaches the database, one per driver.

* sqlite3: ``executemany`` of one ``INSERT ... ON CONFLICT (key) DO UPDATE``;
* psycopg2: ``execute_values`` of the same statement, 1000 rows a page;
* psycopg 3 (what PostgresHook uses when psycopg is installed with SQLAlchemy 2): rows whose key
  is new are COPYed straight into perf_metrics, the others COPYed into a transaction-scoped temp
  table and upserted from there with one ``INSERT ... SELECT ... ON CONFLICT``.

Never SQLite's REPLACE (a delete and re-insert that would reset ``created_at``). Values are bound
or COPY-streamed, never formatted into SQL; SQL text is assembled only from the fixed column
names of the column registry (``model.columns``). The caller owns the transaction (commit or rollback).
"""
from __future__ import annotations

import logging
from contextlib import closing
from typing import Any

from perf_profiler.model.columns import KEY_COLUMNS, ROW_COLUMNS, TABLE
from perf_profiler.storage.dialect import NOW_SQL, Dialect
from perf_profiler.storage.row_binding import bound_rows

__all__ = ["upsert_sql", "write_rows"]

log = logging.getLogger(__name__)

_STAGE_TABLE = "perf_metrics_stage"


def upsert_sql(
    dialect: Dialect, mark: str = "%s", values_clause: str | None = None, select_from: str | None = None
) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE over ROW_COLUMNS (never SQLite's REPLACE)."""
    columns = ", ".join(ROW_COLUMNS)
    updates = [f"{c} = excluded.{c}" for c in ROW_COLUMNS if c != "id" and c not in KEY_COLUMNS]
    updates.append(f"updated_at = {NOW_SQL[dialect]}")
    if select_from:
        source = f"SELECT {columns} FROM {select_from}"
    else:
        source = "VALUES " + (values_clause or f"({', '.join([mark] * len(ROW_COLUMNS))})")
    return (
        f"INSERT INTO {TABLE} ({columns}) {source} "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {', '.join(updates)}"
    )


def write_rows(conn: Any, dialect: Dialect, mark: str, columns: list[list[Any]], order: list[int]) -> None:
    """Send the upsert with the fastest batch API of the driver behind the hook."""
    with closing(conn.cursor()) as cur:
        if dialect == "sqlite":
            cur.executemany(upsert_sql(dialect, mark), bound_rows(columns, order))
        elif type(conn).__module__.startswith("psycopg2"):
            from psycopg2.extras import execute_values

            # execute_values expands its own "%s" template, whatever the hook's placeholder
            execute_values(cur, upsert_sql(dialect, values_clause="%s"), bound_rows(columns, order), page_size=1000)
        else:
            _copy_then_upsert(cur, columns, order)


#: psycopg 3 COPY: rows are converted this many at a time while the server ingests the previous ones.
_COPY_CHUNK = 1000


def _copy_rows(cur: Any, table: str, columns: list[list[Any]], order: list[int]) -> None:
    """COPY the rows at ``order`` into ``table``, converting chunk by chunk as the stream goes."""
    with cur.copy(f"COPY {table} ({', '.join(ROW_COLUMNS)}) FROM STDIN") as copy:
        for start in range(0, len(order), _COPY_CHUNK):
            for row in bound_rows(columns, order[start : start + _COPY_CHUNK]):
                copy.write_row(row)


def _copy_then_upsert(cur: Any, columns: list[list[Any]], order: list[int]) -> None:
    """psycopg 3: rows whose key is new are COPYed straight into perf_metrics; the others go
    through a COPY into a transaction-scoped temp table and one INSERT ... ON CONFLICT upsert.

    The id is the uuid5 of the key (checked in ``row_binding.validated_columns``), so one
    primary-key lookup tells new keys from existing ones. Should a concurrent writer insert one of the "new" keys
    in between, the direct COPY fails on the unique key, is rolled back to its savepoint and
    every row takes the upsert path. The CHECKs and the unique key apply either way, within the
    caller's transaction. Same result as the upsert alone, at about the speed of a plain COPY
    when the keys are new (a run's first store).
    """
    import psycopg

    ids = columns[ROW_COLUMNS.index("id")]
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
    cur.execute(upsert_sql("postgres", select_from=_STAGE_TABLE))
