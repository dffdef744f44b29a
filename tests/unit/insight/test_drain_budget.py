"""Issue 10, class 3: the outbox drain is bounded per run (time and count), honours Retry-After
within that budget, holds 413 entries aside without blocking the rest, and
``perf-profiler outbox requeue`` puts held or rejected entries back to pending.

Real fake engine (tests/support/fake_insight.py), real PostgreSQL and SQLite.
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import closing
from datetime import datetime, timezone
from typing import Any

import pytest

from fake_insight import FakeInsight
from perf_profiler.cli.main import main as cli_main
from perf_profiler.insight import delivery as insight
from perf_profiler.insight.client import InsightClient, retry_after_seconds
from perf_profiler.storage import outbox_repo

DB_CONN_ID = "perf_test_db"


@pytest.fixture(params=["postgres", "sqlite"])
def hook(request, monkeypatch):
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.migrations import migrate

    if request.param == "postgres":
        uri = request.getfixturevalue("pg_database")
    else:
        uri = json.dumps({"conn_type": "sqlite", "host": request.getfixturevalue("sqlite_path")})
    monkeypatch.setenv(f"AIRFLOW_CONN_{DB_CONN_ID.upper()}", uri)
    db = get_hook(DB_CONN_ID)
    migrate(db)
    return db


@pytest.fixture
def fake():
    with FakeInsight() as server:
        yield server


def queue(hook, count: int) -> list[str]:
    keys = [f"k{i:05d}" for i in range(count)]
    payloads = ((k, json.dumps({"source": "perf-profiler", "metrics": {"n": i}})) for i, k in enumerate(keys))
    outbox_repo.insert_entries(hook, payloads, datetime.now(timezone.utc))
    return keys


def client(url: str, **kwargs: Any) -> InsightClient:
    return InsightClient(url, **{"timeout_s": 0.5, "retries": 1, "backoff_s": 0.01, **kwargs})


def states(hook) -> dict[str, str]:
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute("SELECT idempotency_key, delivered_at, rejected_at, held_at FROM insight_outbox")
        return {k: "delivered" if d else "rejected" if r else "held" if h else "pending"
                for k, d, r, h in cur.fetchall()}


#: The issue's size: 10,000 entries waiting while the engine was down.
BIG_OUTBOX = 10_000


def test_big_outbox_against_a_slow_engine_stays_inside_the_budget_then_drains(hook, fake, caplog):
    keys = queue(hook, BIG_OUTBOX)
    fake.delay_s = 0.05
    slow = client(fake.url, drain_budget_s=1.0)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="perf_profiler.insight.delivery"):
        report = insight.drain(hook, slow)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0 + 1.0, f"the drain ran {elapsed:.2f} s on a 1 s budget"
    assert 0 < report.delivered < 100
    assert report.pending_after == BIG_OUTBOX - report.delivered
    assert report.budget_left_pending > 0
    assert any("time budget of 1 s spent" in r.getMessage() and "left pending" in r.getMessage()
               for r in caplog.records)

    fake.delay_s = 0.0
    fast = client(fake.url, drain_max_items=1000)
    runs = []
    while insight.drain(hook, fast).pending_after and len(runs) < 2 * BIG_OUTBOX // 1000:
        runs.append(1)
    assert len(runs) >= BIG_OUTBOX // 1000 - 2, "1000 entries per run: the rest needs several runs"
    assert set(states(hook).values()) == {"delivered"}
    accepted = fake.keys_in_arrival_order()
    assert sorted(accepted) == keys and len(accepted) == len(set(accepted)), "each key accepted once"


def test_count_budget_leaves_the_rest_pending_with_a_log_line(hook, fake, caplog):
    keys = queue(hook, 5)
    with caplog.at_level(logging.WARNING, logger="perf_profiler.insight.delivery"):
        report = insight.drain(hook, client(fake.url, drain_max_items=3))

    assert (report.delivered, report.pending_after, report.budget_left_pending) == (3, 2, 2)
    assert fake.keys_in_arrival_order() == keys[:3]
    assert any("count budget of 3 entries spent; 2 entries left pending" in r.getMessage() for r in caplog.records)


def test_retry_after_seconds_is_honoured(hook, fake):
    keys = queue(hook, 2)
    fake.throttle(1, 429, "1")

    started = time.monotonic()
    report = insight.drain(hook, client(fake.url, drain_budget_s=10))
    elapsed = time.monotonic() - started

    assert report.delivered == 2 and report.pending_after == 0
    assert elapsed >= 0.95, "the retry waited for Retry-After, not the 0.01 s back-off"
    assert [a.status for a in fake.arrivals] == [429, 200, 200]
    assert fake.keys_in_arrival_order() == keys


def test_retry_after_past_the_budget_is_not_waited_for(hook, fake):
    queue(hook, 3)
    fake.throttle(1, 503, "30")

    started = time.monotonic()
    report = insight.drain(hook, client(fake.url, drain_budget_s=2))
    elapsed = time.monotonic() - started

    assert elapsed < 1.5, f"waited {elapsed:.2f} s for a Retry-After past the budget"
    assert report.delivered == 0 and report.pending_after == 3 and report.failed == 1
    assert "would pass the run's budget" in (report.last_error or "")
    assert len(fake.arrivals) == 1


def test_retry_after_http_date_and_junk():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:07 GMT", now) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert retry_after_seconds("120") == 120.0
    for junk in (None, "", "  ", "soon", "-5", "1.5e9x"):
        assert retry_after_seconds(junk) is None, junk


def test_413_is_held_aside_and_the_entries_behind_it_deliver(hook, fake):
    keys = queue(hook, 5)
    fake.key_status[keys[1]] = 413

    report = insight.drain(hook, client(fake.url))

    assert (report.delivered, report.held, report.rejected, report.pending_after) == (4, 1, 0, 0)
    assert fake.keys_in_arrival_order() == keys[:1] + keys[2:]
    assert states(hook)[keys[1]] == "held"
    assert [r.idempotency_key for r in outbox_repo.held_rows(hook)] == [keys[1]]
    again = insight.drain(hook, client(fake.url))
    assert again.held == 0 and len(fake.arrivals) == 5, "a held entry is not posted again by itself"


def test_requeue_command_moves_held_and_rejected_back_to_pending(hook, fake, capsys):
    keys = queue(hook, 4)
    fake.key_status[keys[0]] = 413
    fake.reject_keys.update({keys[1], keys[2]})
    insight.drain(hook, client(fake.url))
    assert [states(hook)[k] for k in keys] == ["held", "rejected", "rejected", "delivered"]

    assert cli_main(["outbox", "requeue", "--rejected", "--key", keys[2], "--conn-id", DB_CONN_ID]) == 0
    assert "requeued 1 rejected entry" in capsys.readouterr().out
    assert [states(hook)[k] for k in keys] == ["held", "rejected", "pending", "delivered"]
    assert cli_main(["outbox", "requeue", "--rejected", "--key", "no-such-key", "--conn-id", DB_CONN_ID]) == 1
    assert cli_main(["outbox", "requeue", "--held", "--conn-id", DB_CONN_ID]) == 0
    assert cli_main(["outbox", "requeue", "--rejected", "--conn-id", DB_CONN_ID]) == 0
    assert [states(hook)[k] for k in keys] == ["pending", "pending", "pending", "delivered"]

    fake.key_status.clear()
    fake.reject_keys.clear()
    report = insight.drain(hook, client(fake.url))
    assert report.delivered == 3 and report.pending_after == 0
    assert sorted(fake.keys_in_arrival_order()) == keys


def test_requeue_needs_exactly_one_state():
    with pytest.raises(SystemExit):
        cli_main(["outbox", "requeue"])
    with pytest.raises(SystemExit):
        cli_main(["outbox", "requeue", "--held", "--rejected"])


@pytest.mark.parametrize(("field", "value"), [("drain_budget_s", 0), ("drain_budget_s", -1),
                                              ("drain_max_items", 0), ("drain_max_items", 1.5)])
def test_budget_settings_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        InsightClient("http://127.0.0.1:1", **{field: value})
