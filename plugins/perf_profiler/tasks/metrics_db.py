"""The metrics database for a task: its hook, migrated; a store that cannot work fails at once."""
from __future__ import annotations

from typing import TYPE_CHECKING

from perf_profiler.tasks.connections import DEFAULT_DB_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook


def migrated_hook(conn_id: str = DEFAULT_DB_CONN_ID) -> DbApiHook:
    """The hook of ``conn_id`` with every migration applied.

    A store no retry can fix (a schema newer than this code, a SQLite path in a missing
    directory) raises ``AirflowFailException``: the task fails at once, without retries.
    Other errors (the server unreachable) propagate and Airflow retries them.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.storage.dialect import UnusableStoreError, get_hook
    from perf_profiler.storage.migrations import migrate

    try:
        hook = get_hook(conn_id)
        migrate(hook)
    except UnusableStoreError as exc:
        raise AirflowFailException(f"metrics database {conn_id!r}: {exc}") from exc
    return hook
