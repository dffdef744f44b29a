"""The ``insight_outbox`` table: queued entries, their outcomes and the PostgreSQL drain lock.

This module knows the table, not the Insight Engine: it works on idempotency keys, payload text
(canonical JSON, stored and later posted verbatim) and timestamps. In which order entries are
posted and what an answer means is ``perf_profiler.insight.delivery``'s business.

Values are always bound with the hook's own ``placeholder``. Timestamps are written as
fixed-width ISO-8601 UTC text (it compares correctly as text in SQLite) and read back as
ISO-8601 UTC text, whether the driver returns ``datetime`` (PostgreSQL) or text (SQLite).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from perf_profiler.common.encoding import iso_utc
from perf_profiler.storage.dialect import dialect_of

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: Key of the PostgreSQL advisory lock that serialises drains ("perf_ins"): any constant shared
#: by all drainers of a database.
PG_DRAIN_LOCK = 0x7065_7266_5F69_6E73

_PENDING = "delivered_at IS NULL AND rejected_at IS NULL AND held_at IS NULL"
#: ``requeue`` targets: the column that marks the state, cleared to make an entry pending again.
REQUEUE_COLUMNS = {"held": "held_at", "rejected": "rejected_at"}
_ROW_COLUMNS = "seq, idempotency_key, payload, created_at, attempts, last_attempt_at, last_status, last_error"


@dataclass(frozen=True)
class QueuedEntry:
    """A pending entry as a drain needs it: its position, key and the exact text to post."""

    seq: int
    idempotency_key: str
    payload: str


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row for reporting (timestamps as ISO-8601 UTC text)."""

    seq: int
    idempotency_key: str
    payload: str
    created_at: str
    attempts: int
    last_attempt_at: str | None
    last_status: int | None
    last_error: str | None


def insert_entries(hook: DbApiHook, entries: Iterable[tuple[str, str]], created_at: datetime) -> int:
    """Queue ``(idempotency key, payload text)`` pairs; returns how many keys were new.

    A key already in the outbox (pending, delivered or rejected) is left alone.
    """
    mark = hook.placeholder
    sql = (
        "INSERT INTO insight_outbox (idempotency_key, payload, created_at, attempts) "
        f"VALUES ({mark}, {mark}, {mark}, 0) ON CONFLICT (idempotency_key) DO NOTHING"
    )
    created = _stored_time(created_at)
    added = 0
    with closing(hook.get_conn()) as conn:
        with closing(conn.cursor()) as cur:
            for key, payload in entries:
                cur.execute(sql, (key, payload, created))
                added += max(cur.rowcount, 0)
        conn.commit()
    return added


def pending_stats(hook: DbApiHook) -> tuple[int, str | None]:
    """How many entries are pending, and when the oldest of them was queued."""
    with closing(hook.get_conn()) as conn:
        [(count, oldest)] = _fetch(conn, f"SELECT COUNT(*), MIN(created_at) FROM insight_outbox WHERE {_PENDING}", ())
    return int(count), iso_utc(oldest)


def pending_created_before(hook: DbApiHook, cutoff: datetime) -> list[OutboxRow]:
    """Pending entries queued before ``cutoff``, in queue order."""
    sql = (
        f"SELECT {_ROW_COLUMNS} FROM insight_outbox WHERE {_PENDING} "
        f"AND created_at < {hook.placeholder} ORDER BY seq"
    )
    return _rows(hook, sql, (_stored_time(cutoff),))


def rejected_rows(hook: DbApiHook) -> list[OutboxRow]:
    """Entries marked rejected, in queue order."""
    return _rows(hook, f"SELECT {_ROW_COLUMNS} FROM insight_outbox WHERE rejected_at IS NOT NULL ORDER BY seq", ())


def requeue(hook: DbApiHook, state: str, key: str | None = None) -> int:
    """Make held or rejected entries (``state``: 'held' | 'rejected') pending again, all of them or
    the one with idempotency key ``key``; returns how many. Their attempts are kept."""
    if state not in REQUEUE_COLUMNS:
        raise ValueError(f"state must be one of {sorted(REQUEUE_COLUMNS)}, got {state!r}")
    column = REQUEUE_COLUMNS[state]
    sql = f"UPDATE insight_outbox SET {column} = NULL WHERE {column} IS NOT NULL AND delivered_at IS NULL"
    params: tuple[Any, ...] = ()
    if key is not None:
        sql += f" AND idempotency_key = {hook.placeholder}"
        params = (key,)
    with closing(hook.get_conn()) as conn:
        with closing(conn.cursor()) as cur:
            cur.execute(sql, params)
            count = max(cur.rowcount, 0)
        conn.commit()
    return count


def held_rows(hook: DbApiHook) -> list[OutboxRow]:
    """Entries held aside (413: too large), in queue order."""
    return _rows(hook, f"SELECT {_ROW_COLUMNS} FROM insight_outbox WHERE held_at IS NOT NULL ORDER BY seq", ())


class DrainConnection:
    """One database connection held for a whole drain (see ``open_drain``).

    Every outcome is committed at once, so a drain that dies half-way keeps what it did.
    """

    def __init__(self, conn: Any, hook: DbApiHook) -> None:
        self._conn = conn
        self._mark = hook.placeholder
        self._serialised = dialect_of(hook) == "postgres"

    def try_lock(self) -> bool:
        """Take the drain lock if it is free (PostgreSQL session lock, held until the connection
        closes). SQLite (dev) has no such lock: always True, drains are not serialised."""
        if not self._serialised:
            return True
        return bool(_fetch(self._conn, f"SELECT pg_try_advisory_lock({self._mark})", (PG_DRAIN_LOCK,))[0][0])

    def pending(self, limit: int | None = None) -> list[QueuedEntry]:
        """Pending entries, oldest (lowest seq) first; at most ``limit`` of them."""
        sql = f"SELECT seq, idempotency_key, payload FROM insight_outbox WHERE {_PENDING} ORDER BY seq"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += f" LIMIT {self._mark}"
            params = (int(limit),)
        return [QueuedEntry(int(seq), key, body) for seq, key, body in _fetch(self._conn, sql, params)]

    def mark_delivered(self, seq: int, at: datetime, attempts: int, status: int | None) -> None:
        """The engine accepted the entry: it is no longer pending."""
        mark, now = self._mark, _stored_time(at)
        self._update(
            f"UPDATE insight_outbox SET delivered_at = {mark}, last_attempt_at = {mark}, "
            f"attempts = attempts + {mark}, last_status = {mark}, last_error = NULL WHERE seq = {mark}",
            (now, now, attempts, status, seq),
        )

    def mark_rejected(self, seq: int, at: datetime, attempts: int, status: int | None, error: str | None) -> None:
        """The engine refused the entry: kept for reporting, no longer pending."""
        self._set_aside("rejected_at", seq, at, attempts, status, error)

    def mark_held(self, seq: int, at: datetime, attempts: int, status: int | None, error: str | None) -> None:
        """The engine found the entry too large (413): held aside until requeued, not pending."""
        self._set_aside("held_at", seq, at, attempts, status, error)

    def _set_aside(self, column: Literal["rejected_at", "held_at"], seq: int, at: datetime, attempts: int,
                   status: int | None, error: str | None) -> None:
        """Stamp ``column`` (one of two fixed names, never input) and the attempt: the entry stops being pending."""
        mark, now = self._mark, _stored_time(at)
        self._update(
            f"UPDATE insight_outbox SET {column} = {mark}, last_attempt_at = {mark}, "
            f"attempts = attempts + {mark}, last_status = {mark}, last_error = {mark} WHERE seq = {mark}",
            (now, now, attempts, status, error, seq),
        )

    def mark_failed(self, seq: int, at: datetime, attempts: int, status: int | None, error: str | None) -> None:
        """The entry could not be delivered now: it stays pending, its attempts are counted."""
        mark = self._mark
        self._update(
            f"UPDATE insight_outbox SET last_attempt_at = {mark}, attempts = attempts + {mark}, "
            f"last_status = {mark}, last_error = {mark} WHERE seq = {mark}",
            (_stored_time(at), attempts, status, error, seq),
        )

    def _update(self, sql: str, params: tuple[Any, ...]) -> None:
        with closing(self._conn.cursor()) as cur:
            cur.execute(sql, params)
        self._conn.commit()


@contextmanager
def open_drain(hook: DbApiHook) -> Iterator[DrainConnection]:
    """A ``DrainConnection``; leaving the block closes it, which also releases the drain lock."""
    with closing(hook.get_conn()) as conn:
        yield DrainConnection(conn, hook)


def _rows(hook: DbApiHook, sql: str, params: tuple[Any, ...]) -> list[OutboxRow]:
    with closing(hook.get_conn()) as conn:
        records = _fetch(conn, sql, params)
    return [_outbox_row(record) for record in records]


def _outbox_row(record: tuple[Any, ...]) -> OutboxRow:
    seq, key, body, created_at, attempts, last_attempt_at, last_status, last_error = record
    return OutboxRow(
        seq=int(seq),
        idempotency_key=key,
        payload=body,
        created_at=iso_utc(created_at) or "",
        attempts=int(attempts),
        last_attempt_at=iso_utc(last_attempt_at),
        last_status=None if last_status is None else int(last_status),
        last_error=last_error,
    )


def _fetch(conn: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with closing(conn.cursor()) as cur:
        cur.execute(sql, params)
        rows = [tuple(row) for row in cur.fetchall()]
    conn.commit()  # end the read transaction (PostgreSQL would otherwise hold it open)
    return rows


def _stored_time(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, as the outbox stores it (compares correctly as text)."""
    return iso_utc(moment, "microseconds") or ""
