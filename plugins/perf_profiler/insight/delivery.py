"""Insight Engine delivery through a write-ahead outbox (the table itself: ``storage.outbox_repo``).

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
413 (payload too large)                      held aside (``held_at``): not pending, does not
                                             block the entries behind it; the drain continues
any other 4xx (400, 409, 422, ...)           rejected (``rejected_at``): kept for reporting,
                                             never retried; the drain continues
===========================================  ==================================================

Per-run budget: a drain posts for at most ``client.drain_budget_s`` seconds (default 300) and
``client.drain_max_items`` entries (default 1000; both from the insight connection's extras);
the rest stays pending for the next run, with a log line saying how many and why. A 429/503
``Retry-After`` (seconds or HTTP-date) is honoured, but no wait and no post runs past the budget.
Held (413) or rejected entries go back to pending with ``perf-profiler outbox requeue``.

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
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from perf_profiler.common.aio import run_sync
from perf_profiler.common.encoding import canonical_json
from perf_profiler.insight.client import DELIVERED, FAILED, HELD, REJECTED, InsightClient, PostResult
from perf_profiler.insight.payload import Payload, payload_key
from perf_profiler.storage import outbox_repo
from perf_profiler.storage.outbox_repo import DrainConnection, OutboxRow

log = logging.getLogger(__name__)

MAX_REPORTED_KEYS = 20  # rejected keys listed in a DeliveryReport (it may travel over XCom)
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
    held: int = 0
    deferred: int = 0
    budget_left_pending: int = 0  # not tried because the run's budget (time or count) was spent
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
    entries = ((key, canonical_json(payload)) for key, payload in _keyed(payloads_with_keys))
    added = outbox_repo.insert_entries(hook, entries, _now())
    log.info("insight outbox: %s new entries queued", added)
    return added


def drain(
    hook: Any, client: InsightClient, *, max_items: int | None = None, budget_s: float | None = None
) -> DeliveryReport:
    """Post pending entries oldest first; stop at the first entry that cannot be delivered now,
    or when the run's budget is spent (``max_items`` entries / ``budget_s`` seconds; defaults:
    the client's ``drain_max_items`` / ``drain_budget_s``)."""
    items = client.drain_max_items if max_items is None else max_items
    seconds = client.drain_budget_s if budget_s is None else budget_s
    return run_sync(_drain(hook, client, items, seconds))


def deliver(
    hook: Any, client: InsightClient | None, payloads: Iterable[Payload | tuple[str, Payload]]
) -> DeliveryReport:
    """Enqueue new payloads, then drain (older entries first). ``client=None`` only enqueues."""
    enqueue(hook, payloads)
    if client is None:
        log.warning("insight: no client configured; payloads stay in the outbox")
        return _report(hook, _DrainCounts())
    return drain(hook, client)


def pending_older_than(hook: Any, seconds: float) -> list[OutboxEntry]:
    """Pending entries created more than ``seconds`` ago (to report; nothing is dropped)."""
    cutoff = _now() - timedelta(seconds=seconds)
    return [_entry(row) for row in outbox_repo.pending_created_before(hook, cutoff)]


def rejected_entries(hook: Any) -> list[OutboxEntry]:
    """Entries the Insight Engine refused (kept for reporting; never retried automatically)."""
    return [_entry(row) for row in outbox_repo.rejected_rows(hook)]


@dataclass
class _DrainCounts:
    """What one drain has done so far (turned into a ``DeliveryReport`` at the end)."""

    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    held: int = 0
    deferred: int = 0
    budget_left_pending: int = 0
    last_error: str | None = None
    rejected_keys: list[str] = field(default_factory=list)


def _keyed(items: Iterable[Payload | tuple[str, Payload]]) -> Iterable[tuple[str, Payload]]:
    """Accept payload dicts (key derived) or ``(key, payload)`` pairs."""
    for item in items:
        yield (payload_key(item), item) if isinstance(item, Mapping) else item


async def _drain(hook: Any, client: InsightClient, max_items: int, budget_s: float) -> DeliveryReport:
    counts = _DrainCounts()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    with outbox_repo.open_drain(hook) as outbox:  # leaving it also releases the drain lock
        wait = min(DRAIN_LOCK_WAIT_S, budget_s)
        if not await _wait_for_drain_lock(outbox, wait):
            log.warning("insight: another drain held the outbox for %s s; entries stay pending", wait)
            return _report(hook, counts)
        pending = outbox.pending(max_items)
        async with client.session() as session:
            for index, entry in enumerate(pending):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    _budget_spent(counts, len(pending) - index, f"time budget of {budget_s:g} s")
                    break
                try:
                    result = await asyncio.wait_for(
                        client.post(session, entry.idempotency_key, entry.payload, deadline), remaining)
                except asyncio.TimeoutError:  # the post may still land: its key makes that harmless
                    _budget_spent(counts, len(pending) - index, f"time budget of {budget_s:g} s")
                    break
                _record(outbox, entry.seq, entry.idempotency_key, result, counts)
                if result.outcome == FAILED:  # keep the order: nothing behind it goes first
                    counts.deferred = len(pending) - index - 1
                    break
    if len(pending) == max_items and not counts.deferred and not counts.budget_left_pending:
        left = outbox_repo.pending_stats(hook)[0]
        if left:
            _budget_spent(counts, left, f"count budget of {max_items} entries")
    return _report(hook, counts)


def _budget_spent(counts: _DrainCounts, left: int, why: str) -> None:
    counts.budget_left_pending = left
    log.warning("insight: per-run %s spent; %s entries left pending for the next run", why, left)


async def _wait_for_drain_lock(outbox: DrainConnection, wait_s: float) -> bool:
    """PostgreSQL: wait (bounded) until no other drain runs, so each entry is posted once and in
    order. SQLite (dev) is not serialised: a concurrent drain may re-post an entry, which the
    engine absorbs by its Idempotency-Key."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while not outbox.try_lock():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def _record(outbox: DrainConnection, seq: int, key: str, result: PostResult, counts: _DrainCounts) -> None:
    """Write one post's outcome to the outbox (committed at once) and count it."""
    now = _now()
    if result.outcome == DELIVERED:
        outbox.mark_delivered(seq, now, result.attempts, result.status)
        counts.delivered += 1
    elif result.outcome == REJECTED:
        outbox.mark_rejected(seq, now, result.attempts, result.status, result.error)
        counts.rejected += 1
        counts.rejected_keys.append(key)
        log.warning("insight rejected %s (kept, not retried): %s", key, result.error)
    elif result.outcome == HELD:
        outbox.mark_held(seq, now, result.attempts, result.status, result.error)
        counts.held += 1
        log.warning("insight held %s aside (not pending; `perf-profiler outbox requeue --held`): %s", key, result.error)
    else:
        outbox.mark_failed(seq, now, result.attempts, result.status, result.error)
        counts.failed += 1
        counts.last_error = result.error
        log.warning("insight delivery of %s failed after %s attempts: %s", key, result.attempts, result.error)


def _report(hook: Any, counts: _DrainCounts) -> DeliveryReport:
    """The drain's counts plus what is still pending, logged once."""
    pending, oldest = outbox_repo.pending_stats(hook)
    age = None if oldest is None else _age_s(oldest)
    report = DeliveryReport(
        delivered=counts.delivered,
        failed=counts.failed,
        rejected=counts.rejected,
        held=counts.held,
        deferred=counts.deferred,
        budget_left_pending=counts.budget_left_pending,
        pending_after=pending,
        oldest_pending_age_s=age,
        last_error=counts.last_error,
        rejected_keys=tuple(counts.rejected_keys[:MAX_REPORTED_KEYS]),
    )
    level = logging.WARNING if report.pending_after or report.rejected or report.held else logging.INFO
    log.log(
        level,
        "insight: delivered %s, rejected %s, held %s, failed %s, pending %s (oldest %s s)",
        report.delivered, report.rejected, report.held, report.failed, report.pending_after,
        "-" if age is None else f"{age:.0f}",
    )
    return report


def _entry(row: OutboxRow) -> OutboxEntry:
    """A stored row with the service, endpoint and run its payload names."""
    metrics = json.loads(row.payload).get("metrics", {})
    return OutboxEntry(
        seq=row.seq,
        idempotency_key=row.idempotency_key,
        service=metrics.get("service"),
        endpoint=metrics.get("endpoint"),
        run_id=metrics.get("run_id"),
        created_at=row.created_at,
        age_s=_age_s(row.created_at),
        attempts=row.attempts,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _age_s(created_at: str) -> float:
    """Seconds since an ISO-8601 UTC timestamp as the outbox returns it."""
    return max((_now() - datetime.fromisoformat(created_at)).total_seconds(), 0.0)
