"""Insight Engine delivery: payloads, idempotency keys, a write-ahead outbox and an HTTP client.

Flow (``deliver``): every payload is first written to the ``insight_outbox`` table (``enqueue``),
then the pending entries are posted oldest first (``drain``). An entry that cannot be delivered
now stays pending and goes first next run, so the Insight Engine sees metrics in the order they
were produced. Nothing here raises because the Insight Engine is down: failures are data in the
returned ``DeliveryReport``.

Outcome of one entry (after the client's bounded retries):

===========================================  ==================================================
answer                                       effect
===========================================  ==================================================
2xx                                          delivered (``delivered_at``)
5xx, 408, 429, timeout, connection error     retried a few times, then left pending; the drain
                                             stops so that order is kept
401, 403, 404, 405, 1xx/3xx                  left pending, drain stops, no in-run retry: the
                                             connection/endpoint is wrong, not the payload
any other 4xx (400, 409, 413, 422, ...)      rejected (``rejected_at``): kept for reporting,
                                             never retried; the drain continues
===========================================  ==================================================

Idempotency key (``idempotency_key``)::

    pp1-<row identity: sha256(tenant, dag_id, run_id, service, endpoint)[:20]>-<sha256(canonical payload)[:20]>

The first part names the perf_metrics row (its unique key), the second pins the exact content.
A re-run that produces the same payload (a retried task reading the same row) gets the same
key, so ``enqueue`` does nothing and the engine never sees it twice; a row that was re-derived
(e.g. after a budget change flipped the verdict) gets a new key and is delivered again.
The canonical payload is JSON with sorted keys, no whitespace, numbers as floats rounded to
6 decimals and timestamps as ISO-8601 UTC, so a row read back from PostgreSQL (Decimal,
datetime) or SQLite (float, text) gives the same key as the in-memory row.
"""

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from perf_profiler.common.aio import run_sync
from perf_profiler.insight.client import DELIVERED, FAILED, REJECTED, InsightClient, PostResult
from perf_profiler.insight.payload import Payload, _iso_utc, canonical_json, payload_key

log = logging.getLogger(__name__)

MAX_REPORTED_KEYS = 20  # rejected keys listed in a DeliveryReport (it may travel over XCom)


def _keyed(items: Iterable[Payload | tuple[str, Payload]]) -> Iterable[tuple[str, Payload]]:
    """Accept payload dicts (key derived) or ``(key, payload)`` pairs."""
    for item in items:
        yield (payload_key(item), item) if isinstance(item, Mapping) else item


# --------------------------------------------------------------------------- outbox
_SQL = {
    "insert": (
        "INSERT INTO insight_outbox (idempotency_key, payload, created_at, attempts) "
        "VALUES (%s, %s, %s, 0) ON CONFLICT (idempotency_key) DO NOTHING"
    ),
    "pending": (
        "SELECT seq, idempotency_key, payload FROM insight_outbox "
        "WHERE delivered_at IS NULL AND rejected_at IS NULL ORDER BY seq"
    ),
    "delivered": (
        "UPDATE insight_outbox SET delivered_at = %s, last_attempt_at = %s, attempts = attempts + %s, "
        "last_status = %s, last_error = NULL WHERE seq = %s"
    ),
    "rejected": (
        "UPDATE insight_outbox SET rejected_at = %s, last_attempt_at = %s, attempts = attempts + %s, "
        "last_status = %s, last_error = %s WHERE seq = %s"
    ),
    "failed": (
        "UPDATE insight_outbox SET last_attempt_at = %s, attempts = attempts + %s, "
        "last_status = %s, last_error = %s WHERE seq = %s"
    ),
    "pending_stats": (
        "SELECT COUNT(*), MIN(created_at) FROM insight_outbox "
        "WHERE delivered_at IS NULL AND rejected_at IS NULL"
    ),
    "pending_before": (
        "SELECT seq, idempotency_key, payload, created_at, attempts, last_attempt_at, last_status, last_error "
        "FROM insight_outbox WHERE delivered_at IS NULL AND rejected_at IS NULL AND created_at < %s ORDER BY seq"
    ),
    "rejected_list": (
        "SELECT seq, idempotency_key, payload, created_at, attempts, last_attempt_at, last_status, last_error "
        "FROM insight_outbox WHERE rejected_at IS NOT NULL ORDER BY seq"
    ),
}
# The statements differ only in the DB-API paramstyle: psycopg uses %s, sqlite3 uses ?.
_STATEMENTS = {
    "postgres": {**_SQL, "try_lock": "SELECT pg_try_advisory_lock(%s)"},  # session lock, held until close
    "sqlite": {name: sql.replace("%s", "?") for name, sql in _SQL.items()},
}
_PG_DRAIN_LOCK = 0x7065_7266_5F69_6E73  # "perf_ins": any constant shared by all drainers of a database
DRAIN_LOCK_WAIT_S = 120.0


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row, as reported by ``pending_older_than`` and ``rejected_entries``."""

    seq: int
    idempotency_key: str
    service: str | None
    endpoint: str | None
    run_id: str | None
    created_at: str
    age_s: float
    attempts: int
    last_attempt_at: str | None
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True)
class DeliveryReport:
    """What one drain did. ``failed``: tried now and still pending; ``deferred``: not tried
    because the drain stopped at a failure (also still pending)."""

    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    deferred: int = 0
    pending_after: int = 0
    oldest_pending_age_s: float | None = None
    last_error: str | None = None
    rejected_keys: tuple[str, ...] = field(default_factory=tuple)  # the first MAX_REPORTED_KEYS

    @property
    def ok(self) -> bool:
        """True when nothing is left pending and nothing was rejected in this drain."""
        return self.pending_after == 0 and self.rejected == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (small: fit for XCom)."""
        return {**asdict(self), "rejected_keys": list(self.rejected_keys)}


def enqueue(hook: Any, payloads_with_keys: Iterable[Payload | tuple[str, Payload]]) -> int:
    """Write payloads to the outbox before any delivery; returns how many keys were new.

    Items are ``(key, payload)`` pairs or payload dicts (key from ``payload_key``). A key that is
    already in the outbox (pending, delivered or rejected) is left alone.
    """
    sql = _statements(hook)["insert"]
    added = 0
    with closing(hook.get_conn()) as conn:
        with closing(conn.cursor()) as cur:
            for key, payload in _keyed(payloads_with_keys):
                cur.execute(sql, (key, canonical_json(payload), _now_text()))
                added += max(cur.rowcount, 0)
        conn.commit()
    log.info("insight outbox: %s new entries queued", added)
    return added


def drain(hook: Any, client: InsightClient, *, max_items: int | None = None) -> DeliveryReport:
    """Post pending entries oldest first; stop at the first entry that cannot be delivered now."""
    return run_sync(_drain(hook, client, max_items))


def deliver(
    hook: Any, client: InsightClient | None, payloads: Iterable[Payload | tuple[str, Payload]]
) -> DeliveryReport:
    """Enqueue new payloads, then drain (older entries first). ``client=None`` only enqueues."""
    enqueue(hook, payloads)
    if client is None:
        log.warning("insight: no client configured; payloads stay in the outbox")
        return _with_pending_stats(hook, _Tally())
    return drain(hook, client)


def pending_older_than(hook: Any, seconds: float) -> list[OutboxEntry]:
    """Pending entries created more than ``seconds`` ago (to report; nothing is dropped)."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    return _entries(hook, "pending_before", (_ts_text(cutoff),))


def rejected_entries(hook: Any) -> list[OutboxEntry]:
    """Entries the Insight Engine refused (kept for reporting; never retried automatically)."""
    return _entries(hook, "rejected_list", ())


@dataclass
class _Tally:
    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    deferred: int = 0
    last_error: str | None = None
    rejected_keys: list[str] = field(default_factory=list)


async def _drain(hook: Any, client: InsightClient, max_items: int | None) -> DeliveryReport:
    sql = _statements(hook)
    tally = _Tally()
    with closing(hook.get_conn()) as conn:  # closing it also releases the drain lock
        if not await _lock_drain(conn, sql):
            log.warning("insight: another drain held the outbox for %s s; entries stay pending", DRAIN_LOCK_WAIT_S)
            return _with_pending_stats(hook, tally)
        pending = _fetch(conn, sql["pending"], ())
        if max_items is not None:
            pending = pending[:max_items]
        async with client.session() as session:
            for index, (seq, key, body) in enumerate(pending):
                result = await client.post(session, key, body)
                _record(conn, sql, seq, key, result, tally)
                if result.outcome == FAILED:
                    tally.deferred = len(pending) - index - 1
                    break
    return _with_pending_stats(hook, tally)


async def _lock_drain(conn: Any, sql: Mapping[str, str]) -> bool:
    """PostgreSQL: wait (bounded) until no other drain runs, so each entry is posted once and in
    order. SQLite (dev) is not serialised: a concurrent drain may re-post an entry, which the
    engine absorbs by its Idempotency-Key."""
    if "try_lock" not in sql:
        return True
    deadline = asyncio.get_running_loop().time() + DRAIN_LOCK_WAIT_S
    while not _fetch(conn, sql["try_lock"], (_PG_DRAIN_LOCK,))[0][0]:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def _record(conn: Any, sql: Mapping[str, str], seq: int, key: str, result: PostResult, tally: _Tally) -> None:
    """Write one post's outcome to the outbox (committed at once) and count it."""
    now = _now_text()
    with closing(conn.cursor()) as cur:
        if result.outcome == DELIVERED:
            cur.execute(sql["delivered"], (now, now, result.attempts, result.status, seq))
            tally.delivered += 1
        elif result.outcome == REJECTED:
            cur.execute(sql["rejected"], (now, now, result.attempts, result.status, result.error, seq))
            tally.rejected += 1
            tally.rejected_keys.append(key)
            log.warning("insight rejected %s (kept, not retried): %s", key, result.error)
        else:
            cur.execute(sql["failed"], (now, result.attempts, result.status, result.error, seq))
            tally.failed += 1
            tally.last_error = result.error
            log.warning("insight delivery of %s failed after %s attempts: %s", key, result.attempts, result.error)
    conn.commit()


def _with_pending_stats(hook: Any, tally: _Tally) -> DeliveryReport:
    with closing(hook.get_conn()) as conn:
        count, oldest = _fetch(conn, _statements(hook)["pending_stats"], ())[0]
    age = None if oldest is None else _age_s(oldest)
    report = DeliveryReport(
        delivered=tally.delivered,
        failed=tally.failed,
        rejected=tally.rejected,
        deferred=tally.deferred,
        pending_after=int(count),
        oldest_pending_age_s=age,
        last_error=tally.last_error,
        rejected_keys=tuple(tally.rejected_keys[:MAX_REPORTED_KEYS]),
    )
    level = logging.WARNING if report.pending_after or report.rejected else logging.INFO
    log.log(
        level,
        "insight: delivered %s, rejected %s, failed %s, pending %s (oldest %s s)",
        report.delivered, report.rejected, report.failed, report.pending_after,
        "-" if age is None else f"{age:.0f}",
    )
    return report


def _entries(hook: Any, name: str, params: tuple[Any, ...]) -> list[OutboxEntry]:
    with closing(hook.get_conn()) as conn:
        rows = _fetch(conn, _statements(hook)[name], params)
    return [_entry(row) for row in rows]


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    seq, key, body, created_at, attempts, last_attempt_at, last_status, last_error = row
    metrics = json.loads(body).get("metrics", {})
    return OutboxEntry(
        seq=int(seq),
        idempotency_key=key,
        service=metrics.get("service"),
        endpoint=metrics.get("endpoint"),
        run_id=metrics.get("run_id"),
        created_at=_iso_utc(created_at) or "",
        age_s=_age_s(created_at),
        attempts=int(attempts),
        last_attempt_at=_iso_utc(last_attempt_at),
        last_status=last_status,
        last_error=last_error,
    )


def _fetch(conn: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with closing(conn.cursor()) as cur:
        cur.execute(sql, params)
        rows = [tuple(row) for row in cur.fetchall()]
    conn.commit()  # end the read transaction (PostgreSQL would otherwise hold it open)
    return rows


def _statements(hook: Any) -> Mapping[str, str]:
    from perf_profiler.storage.repository import dialect_of

    return _STATEMENTS[dialect_of(hook)]


def _now_text() -> str:
    return _ts_text(datetime.now(timezone.utc))


def _ts_text(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC (compares correctly as text in SQLite)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _age_s(created_at: Any) -> float:
    created = datetime.fromisoformat(_iso_utc(created_at) or "")
    return max((datetime.now(timezone.utc) - created).total_seconds(), 0.0)
