"""The perf_metrics repository: upsert rows, fetch them back in one shape on both dialects.

Every write is an upsert on the unique key (tenant_id, dag_id, run_id, service, endpoint) in one
transaction, so a retried or re-run task never duplicates a row (see ``bulk_write`` for how each
driver sends it). Rows are validated and converted by ``row_binding`` before the database sees them.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any

from perf_profiler.model.columns import DATABASE_SET_COLUMNS, KEY_COLUMNS, ROW_COLUMNS, TABLE
from perf_profiler.storage.bulk_write import write_rows
from perf_profiler.storage.dialect import dialect_of
from perf_profiler.storage.row_binding import normalise_row, timestamp_text, validated_columns

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["fetch_metrics", "upsert_metrics"]

log = logging.getLogger(__name__)

_KEY_AT = tuple(ROW_COLUMNS.index(column) for column in KEY_COLUMNS)


def upsert_metrics(hook: DbApiHook, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert or update perf_metrics rows in one transaction; return how many keys were written.

    Rows must carry every column of ``ROW_COLUMNS`` but those of ``ROW_DEFAULTS`` (extra
    keys are ignored). On a key that already exists all metric columns are overwritten,
    ``created_at`` is kept and ``updated_at`` refreshed. Rows repeating a key within one call:
    the last one wins.
    """
    if not rows:
        return 0
    dialect = dialect_of(hook)
    mark = hook.placeholder
    columns = validated_columns(rows)
    order = _last_index_per_key(columns)
    with closing(hook.get_conn()) as conn:
        try:
            write_rows(conn, dialect, mark, columns, order)
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
    """Stored rows (every registry column, ``model.columns``) in the same shape on both dialects.

    Filters are ANDed; ``data_interval`` (start, end) selects the rows of one data interval,
    whichever run measured them. Timestamps come back as ISO-8601 UTC text, decimals as float,
    JSON columns as compact sorted JSON text; ordered by the unique key.
    """
    mark = hook.placeholder
    filters = {"tenant_id": tenant_id, "dag_id": dag_id, "run_id": run_id}
    if data_interval is not None:
        filters["data_interval_start"] = timestamp_text(data_interval[0], "data_interval_start")
        filters["data_interval_end"] = timestamp_text(data_interval[1], "data_interval_end")
    where = [f"{column} = {mark}" for column, value in filters.items() if value is not None]
    params = [value for value in filters.values() if value is not None]
    sql = (
        f"SELECT {', '.join(ROW_COLUMNS + DATABASE_SET_COLUMNS)} FROM {TABLE}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {', '.join(KEY_COLUMNS)}"
    )
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute(sql, params)
        names = [d[0] for d in cur.description]
        records = cur.fetchall()
        conn.rollback()
    return [normalise_row(dict(zip(names, record, strict=True))) for record in records]


def _last_index_per_key(columns: list[list[Any]]) -> list[int]:
    """Indices of the rows to write: an earlier row repeating a key is dropped (one statement may
    not update the same row twice), the last one wins at the place of the first."""
    by_key = {key: i for i, key in enumerate(zip(*(columns[p] for p in _KEY_AT), strict=True))}
    dropped = len(columns[0]) - len(by_key)
    if dropped:
        log.warning("dropped %s perf_metrics rows repeating a key in one batch", dropped)
    return list(by_key.values())
