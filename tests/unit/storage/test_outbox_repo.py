"""The insight_outbox repository on real PostgreSQL and SQLite databases: keys, payload text and
timestamps in, the same shapes out on both dialects, and the PostgreSQL drain lock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from perf_profiler.storage import outbox_repo
from perf_profiler.storage.dialect import dialect_of, get_hook
from perf_profiler.storage.migrations import migrate

T0 = datetime(2026, 3, 1, 2, 0, 0, 123456, tzinfo=timezone.utc)
ENTRIES = [("key-a", '{"metrics":{"endpoint":"/a"}}'), ("key-b", '{"metrics":{"endpoint":"/b"}}'),
           ("key-c", '{"metrics":{"endpoint":"/c"}}')]


@pytest.fixture
def hook(metrics_db):
    db = get_hook("perf_metrics_db")
    migrate(db)
    return db


def test_insert_keeps_the_first_entry_of_a_key(hook):
    assert outbox_repo.insert_entries(hook, ENTRIES, T0) == 3
    assert outbox_repo.insert_entries(hook, [("key-b", "changed"), ("key-d", "{}")], T0) == 1

    with outbox_repo.open_drain(hook) as outbox:
        pending = outbox.pending()
    assert [(e.idempotency_key, e.payload) for e in pending] == [*ENTRIES, ("key-d", "{}")]
    assert [e.seq for e in pending] == sorted(e.seq for e in pending)


def test_outcomes_take_entries_out_of_pending_and_are_kept(hook):
    outbox_repo.insert_entries(hook, ENTRIES, T0)
    later = T0 + timedelta(minutes=1)
    with outbox_repo.open_drain(hook) as outbox:
        a, b, c = outbox.pending()
        outbox.mark_delivered(a.seq, later, 2, 200)
        outbox.mark_rejected(b.seq, later, 1, 422, "HTTP 422: bad")
        outbox.mark_failed(c.seq, later, 3, 503, "HTTP 503: busy")
        outbox.mark_failed(c.seq, later, 1, None, "timeout after 5 s")
        assert [e.idempotency_key for e in outbox.pending()] == ["key-c"]

    [rejected] = outbox_repo.rejected_rows(hook)
    assert (rejected.idempotency_key, rejected.payload, rejected.attempts) == ("key-b", ENTRIES[1][1], 1)
    assert (rejected.last_status, rejected.last_error) == (422, "HTTP 422: bad")
    [failed] = outbox_repo.pending_created_before(hook, later)
    assert (failed.idempotency_key, failed.attempts, failed.last_status) == ("key-c", 4, None)
    assert failed.last_error == "timeout after 5 s"


def test_timestamps_come_back_as_the_same_iso_utc_text_on_both_dialects(hook):
    outbox_repo.insert_entries(hook, ENTRIES[:1], T0)
    with outbox_repo.open_drain(hook) as outbox:
        [entry] = outbox.pending()
        outbox.mark_failed(entry.seq, T0 + timedelta(seconds=1), 1, 500, "HTTP 500")

    [row] = outbox_repo.pending_created_before(hook, T0 + timedelta(microseconds=1))
    assert row.created_at == "2026-03-01T02:00:00.123456+00:00"
    assert row.last_attempt_at == "2026-03-01T02:00:01.123456+00:00"
    assert outbox_repo.pending_stats(hook) == (1, "2026-03-01T02:00:00.123456+00:00")


def test_pending_created_before_compares_times_not_text(hook):
    """A cutoff in another timezone still selects by instant (SQLite compares the stored text)."""
    outbox_repo.insert_entries(hook, ENTRIES[:1], T0)
    outbox_repo.insert_entries(hook, ENTRIES[1:], T0 + timedelta(hours=1))
    plus_two = timezone(timedelta(hours=2))

    cutoff = (T0 + timedelta(minutes=30)).astimezone(plus_two)
    assert [r.idempotency_key for r in outbox_repo.pending_created_before(hook, cutoff)] == ["key-a"]
    assert outbox_repo.pending_created_before(hook, T0) == []


def test_pending_stats_and_limit(hook):
    assert outbox_repo.pending_stats(hook) == (0, None)
    outbox_repo.insert_entries(hook, ENTRIES, T0)

    with outbox_repo.open_drain(hook) as outbox:
        assert [e.idempotency_key for e in outbox.pending(2)] == ["key-a", "key-b"]
        assert outbox.pending(0) == []
    assert outbox_repo.pending_stats(hook)[0] == 3


def test_one_postgres_drain_holds_the_lock_until_its_connection_closes(hook):
    """PostgreSQL serialises drains; SQLite (dev) does not, so both of its drains get the lock."""
    serialised = dialect_of(hook) == "postgres"

    with outbox_repo.open_drain(hook) as first:
        assert first.try_lock()
        with outbox_repo.open_drain(hook) as second:
            assert second.try_lock() is not serialised
    with outbox_repo.open_drain(hook) as third:
        assert third.try_lock(), "closing the first drain's connection released the lock"
