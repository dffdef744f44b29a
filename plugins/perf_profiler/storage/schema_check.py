"""Does a migrated table match the column registry? Names, type families and NOT NULL.

The registry (``model.columns``) and the SQL migrations describe the same table twice; this
check (run by ``tests/unit/model/test_columns.py`` on both dialects) says where they disagree.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from typing import TYPE_CHECKING

from perf_profiler.model.columns import COLUMNS, TABLE, Column
from perf_profiler.storage.dialect import COLUMN_TYPES, COLUMNS_SQL, declared_type, dialect_of

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["mismatches", "table_columns"]


def table_columns(hook: DbApiHook, table: str = TABLE) -> dict[str, tuple[str, bool]]:
    """``{column: (declared type, NOT NULL)}`` of ``table`` in table order (empty: no such table)."""
    dialect = dialect_of(hook)
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute(COLUMNS_SQL[dialect].format(mark=hook.placeholder), (table,))
        records = cur.fetchall()
        conn.rollback()
    return {name: (declared_type(dialect, declared), bool(not_null)) for name, declared, not_null in records}


def mismatches(hook: DbApiHook, columns: Sequence[Column] = COLUMNS, table: str = TABLE) -> list[str]:
    """Every disagreement between ``columns`` (the registry) and the table, one line each."""
    dialect = dialect_of(hook)
    actual = table_columns(hook, table)
    if not actual:
        return [f"{dialect}: no table {table!r}"]
    problems = []
    for column in columns:
        if column.name not in actual:
            problems.append(f"{column.name}: in the registry, not in the {dialect} table")
            continue
        declared, not_null = actual[column.name]
        if declared not in COLUMN_TYPES[dialect][column.kind]:
            problems.append(f"{column.name}: registry kind {column.kind!r}, {dialect} type {declared!r}")
        if not_null == column.nullable:
            problems.append(f"{column.name}: registry says {'nullable' if column.nullable else 'NOT NULL'}, "
                            f"the {dialect} column is {'NOT NULL' if not_null else 'nullable'}")
    known = {column.name for column in columns}
    problems.extend(f"{name}: in the {dialect} table, not in the registry" for name in actual if name not in known)
    return problems
