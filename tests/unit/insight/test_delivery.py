"""Insight Engine payloads and delivery through the outbox, against a real fake engine
(tests/support/fake_insight.py) and real databases.

The outbox tests run on PostgreSQL and SQLite: each builds its database through an Airflow
connection (AIRFLOW_CONN_* env var) with dialect.get_hook + migrate. The client alone is tested in
test_client.py, the outbox table's repository in tests/unit/storage/test_outbox_repo.py.
"""
from __future__ import annotations

import json
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from fake_insight import FakeInsight
from perf_profiler.insight import delivery as insight
from perf_profiler.insight import payload as insight_payload
from perf_profiler.insight.client import InsightClient

TOKEN = "tok-9f3a7c1e5b2d4a68"
DB_CONN_ID = "perf_test_db"
EXPECTED_METRICS = {
    "service", "endpoint", "p95_latency_ms", "throughput_rps", "p50_latency_ms", "p99_latency_ms",
    "error_rate", "requests", "errors", "verdict", "budget_p95_ms", "tenant_id", "dag_id", "run_id",
    "data_interval_start", "data_interval_end", "measured_at",
}


def make_row(**overrides: Any) -> dict[str, Any]:
    """A perf_metrics row as in docs/CONTRACTS.md (only what the payload reads, plus histograms)."""
    row = {
        "id": "00000000-0000-0000-0000-000000000000",
        "tenant_id": "default", "dag_id": "perf_profiler", "run_id": "scheduled__2025-01-01T00:00:00+00:00",
        "run_type": "scheduled", "logical_date": "2025-01-01T00:00:00+00:00",
        "data_interval_start": "2025-01-01T00:00:00+00:00", "data_interval_end": "2025-01-02T00:00:00+00:00",
        "service": "registry", "endpoint": "/healthz", "method": "GET",
        "p50_ms": 12.5, "p90_ms": 40.0, "p95_ms": 125.4, "p99_ms": 310.25, "p999_ms": 500.0,
        "min_ms": 1.0, "max_ms": 600.0, "mean_ms": 20.0, "throughput": 89.2, "error_rate": 0.01,
        "requests": 200, "ok_count": 198, "error_count": 2,
        "errors_by_class": '{"status": 2}', "status_codes": '{"200": 198, "500": 2}',
        "budget_p95_ms": 800.0, "budget_error_rate": 0.01, "verdict": "pass",
        "latency_hist": "HISTFAAAAC...", "error_hist": "HISTFAAAAB...",
        "started_at": "2025-01-02T00:00:01+00:00", "finished_at": "2025-01-02T00:00:05+00:00",
        "measured_at": "2025-01-02T00:00:05+00:00",
    }
    row.update(overrides)
    return row


def run_rows(run_id: str, endpoints: tuple[str, ...] = ("/healthz", "/ready", "/metrics")) -> list[dict]:
    return [make_row(run_id=run_id, endpoint=e) for e in endpoints]


def keys_of(rows: list[dict]) -> list[str]:
    return [key for key, _ in insight_payload.keyed_payloads(rows)]


def fast_client(url: str, **kwargs: Any) -> InsightClient:
    settings = {"timeout_s": 0.5, "retries": 1, "backoff_s": 0.01, **kwargs}
    return InsightClient(url, **settings)


def outbox(hook) -> list[dict[str, Any]]:
    """Every outbox row in seq order, straight from the database."""
    columns = (
        "seq", "idempotency_key", "payload", "attempts", "last_status", "last_error", "delivered_at", "rejected_at",
    )
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        cur.execute(f"SELECT {', '.join(columns)} FROM insight_outbox ORDER BY seq")
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def free_port() -> int:
    """A port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- fixtures
def migrated_hook(monkeypatch, uri: str, dialect: str):
    """dialect.get_hook + migrate on the database behind ``uri`` (an AIRFLOW_CONN_* value)."""
    from perf_profiler.storage.dialect import dialect_of, get_hook
    from perf_profiler.storage.migrations import migrate

    monkeypatch.setenv(f"AIRFLOW_CONN_{DB_CONN_ID.upper()}", uri)
    db = get_hook(DB_CONN_ID)
    assert dialect_of(db) == dialect
    migrate(db)
    return db


@pytest.fixture(params=["postgres", "sqlite"])
def hook(request, monkeypatch):
    """A migrated metrics database reached through an Airflow connection, on each dialect."""
    if request.param == "postgres":
        return migrated_hook(monkeypatch, request.getfixturevalue("pg_database"), "postgres")
    # JSON form: the URI "sqlite:////abs/path" parses into a schema that SqliteHook mangles.
    uri = json.dumps({"conn_type": "sqlite", "host": request.getfixturevalue("sqlite_path")})
    return migrated_hook(monkeypatch, uri, "sqlite")


@pytest.fixture
def pg_hook(monkeypatch, pg_database):
    return migrated_hook(monkeypatch, pg_database, "postgres")


@pytest.fixture
def fake():
    with FakeInsight() as server:
        yield server


# ----------------------------------------------------------------------------- payload and key
def test_payload_has_the_seed_shape_and_nothing_else():
    payload = insight_payload.build_payload(make_row())

    assert payload["source"] == "perf-profiler"
    assert set(payload) == {"source", "metrics"}
    metrics = payload["metrics"]
    assert set(metrics) == EXPECTED_METRICS
    assert metrics["p95_latency_ms"] == 125.4
    assert metrics["throughput_rps"] == 89.2
    assert (metrics["p50_latency_ms"], metrics["p99_latency_ms"]) == (12.5, 310.25)
    assert (metrics["requests"], metrics["errors"], metrics["error_rate"]) == (200, 2, 0.01)
    assert (metrics["service"], metrics["endpoint"], metrics["verdict"]) == ("registry", "/healthz", "pass")
    assert "HISTF" not in insight_payload.canonical_json(payload)


def test_payload_and_key_do_not_depend_on_the_database_types():
    """A row read back from PostgreSQL (Decimal, datetime) equals the same row from SQLite/memory."""
    from_memory = make_row()
    from_pg = make_row(
        p95_ms=Decimal("125.40"), throughput=Decimal("89.20"), p50_ms=Decimal("12.50"), p99_ms=Decimal("310.25"),
        budget_p95_ms=Decimal("800.00"),
        measured_at=datetime(2025, 1, 2, 0, 0, 5, tzinfo=timezone.utc),
        data_interval_start=datetime(2025, 1, 1, tzinfo=timezone.utc),
        data_interval_end=datetime(2025, 1, 2, tzinfo=timezone.utc),
    )
    assert insight_payload.build_payload(from_pg) == insight_payload.build_payload(from_memory)
    assert insight_payload.idempotency_key(from_pg) == insight_payload.idempotency_key(from_memory)


def test_key_is_stable_for_identical_content_and_changes_with_it():
    row = make_row()
    key = insight_payload.idempotency_key(row, insight_payload.build_payload(row))

    assert insight_payload.idempotency_key(dict(row)) == key
    assert insight_payload.payload_key(insight_payload.build_payload(row)) == key
    rejudged = insight_payload.idempotency_key(make_row(budget_p95_ms=100.0, verdict="fail"))
    other_run = insight_payload.idempotency_key(make_row(run_id="manual__2025-01-03"))
    assert len({key, rejudged, other_run}) == 3
    version, identity, content = key.split("-")
    assert version == "pp1"
    assert rejudged.split("-")[1] == identity, "same row identity keeps the identity part"
    assert other_run.split("-")[1] != identity
    assert rejudged.split("-")[2] != content


def test_histograms_and_unknown_fields_never_reach_the_payload():
    row = make_row(password="hunter2", latency_hist="SECRET-HIST")
    text = insight_payload.canonical_json(insight_payload.build_payload(row))
    assert "hunter2" not in text and "SECRET-HIST" not in text


# ----------------------------------------------------------------------------- delivery
def test_happy_path_delivers_each_key_once(hook, fake):
    rows = run_rows("run-1")
    client = fast_client(fake.url)

    first = insight.deliver(hook, client, insight_payload.keyed_payloads(rows))
    again = insight.deliver(hook, client, [insight_payload.build_payload(r) for r in rows])  # identical re-run

    assert (first.delivered, first.pending_after, first.failed, first.rejected) == (3, 0, 0, 0)
    assert first.oldest_pending_age_s is None and first.ok
    assert again.delivered == 0 and again.pending_after == 0
    assert fake.keys_in_arrival_order() == keys_of(rows)
    assert all(fake.deliveries[k] == 1 for k in keys_of(rows))
    assert len(fake.arrivals) == 3
    assert [m.json for m in fake.received] == [insight_payload.build_payload(r) for r in rows]
    assert all(e["delivered_at"] is not None and e["attempts"] == 1 for e in outbox(hook))


def test_changed_row_is_delivered_again_under_a_new_key(hook, fake):
    client = fast_client(fake.url)
    insight.deliver(hook, client, insight_payload.keyed_payloads([make_row()]))
    changed = insight_payload.keyed_payloads([make_row(budget_p95_ms=100.0, verdict="fail")])
    report = insight.deliver(hook, client, changed)

    assert report.delivered == 1
    assert [r.json["metrics"]["verdict"] for r in fake.received] == ["pass", "fail"]


@pytest.mark.parametrize("outage", ["fail", "down", "refused"])
def test_outage_keeps_payloads_and_next_run_sends_old_ones_first(hook, fake, outage):
    old_rows, new_rows = run_rows("run-1"), run_rows("run-2", ("/healthz", "/login"))
    url = f"http://127.0.0.1:{free_port()}" if outage == "refused" else fake.url
    if outage != "refused":
        fake.set_mode(outage)

    during = insight.deliver(hook, fast_client(url), insight_payload.keyed_payloads(old_rows))

    assert (during.delivered, during.failed, during.deferred, during.pending_after) == (0, 1, 2, 3)
    assert during.oldest_pending_age_s is not None and during.last_error
    assert fake.received == []
    stored = outbox(hook)
    assert [json.loads(e["payload"]) for e in stored] == [insight_payload.build_payload(r) for r in old_rows]
    assert stored[0]["attempts"] == 2 and stored[0]["last_error"], "retried once, then recorded"
    assert [e["attempts"] for e in stored[1:]] == [0, 0], "the drain stopped at the first failure"
    if outage == "fail":
        assert stored[0]["last_status"] == 500
        assert len(fake.arrivals) == 2  # one key, one retry: nothing behind it was tried

    fake.set_mode("ok")
    after = insight.deliver(hook, fast_client(fake.url), insight_payload.keyed_payloads(new_rows))

    assert (after.delivered, after.pending_after, after.failed) == (5, 0, 0)
    assert fake.keys_in_arrival_order() == keys_of(old_rows) + keys_of(new_rows)
    assert all(count == 1 for count in fake.deliveries.values()) and len(fake.deliveries) == 5


def test_several_failed_runs_are_delivered_in_run_order(hook, fake):
    runs = [run_rows(f"run-{n}", ("/a", "/b")) for n in range(3)]
    fake.set_mode("fail")
    for rows in runs[:2]:
        failed = insight.deliver(hook, fast_client(fake.url, retries=0), insight_payload.keyed_payloads(rows))
        assert failed.delivered == 0
    fake.set_mode("ok")
    report = insight.deliver(hook, fast_client(fake.url), insight_payload.keyed_payloads(runs[2]))

    assert report.delivered == 6
    assert fake.keys_in_arrival_order() == [k for rows in runs for k in keys_of(rows)]


def test_max_items_bounds_one_drain(hook, fake):
    insight.enqueue(hook, insight_payload.keyed_payloads(run_rows("run-1")))
    report = insight.drain(hook, fast_client(fake.url), max_items=2)

    assert (report.delivered, report.pending_after) == (2, 1)
    assert fake.keys_in_arrival_order() == keys_of(run_rows("run-1"))[:2]


def test_without_a_client_payloads_are_only_queued(hook):
    report = insight.deliver(hook, None, insight_payload.keyed_payloads(run_rows("run-1")))

    assert (report.delivered, report.failed, report.deferred, report.pending_after) == (0, 0, 0, 3)
    assert report.oldest_pending_age_s is not None and not report.ok
    assert [e["attempts"] for e in outbox(hook)] == [0, 0, 0]


def test_concurrent_drains_on_postgres_post_each_entry_once_and_in_order(pg_hook, fake):
    """Two DAG runs draining at once: the advisory lock makes the second wait for the first."""
    rows = run_rows("run-1", tuple(f"/e{n}" for n in range(6)))
    insight.enqueue(pg_hook, insight_payload.keyed_payloads(rows))
    fake.delay_s = 0.05
    client = fast_client(fake.url, timeout_s=2)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: insight.drain(pg_hook, client), range(2)))

    assert sorted(r.delivered for r in reports) == [0, 6]
    assert fake.keys_in_arrival_order() == keys_of(rows)
    assert len(fake.arrivals) == 6 and set(fake.deliveries.values()) == {1}


def test_hanging_engine_times_out_as_a_counted_failure(hook, fake):
    fake.set_mode("hang")
    client = fast_client(fake.url, timeout_s=0.3, retries=1, backoff_s=0.01)

    started = time.monotonic()
    report = insight.deliver(hook, client, insight_payload.keyed_payloads(run_rows("run-1")))
    elapsed = time.monotonic() - started

    assert (report.delivered, report.failed, report.pending_after) == (0, 1, 3)
    assert "timeout" in report.last_error
    assert elapsed < 10, f"a hanging engine must not hold the task ({elapsed:.1f} s)"
    assert len(fake.arrivals) == 2 and all(a.status is None for a in fake.arrivals)
    assert outbox(hook)[0]["last_error"].startswith("timeout")


def test_rejected_payload_is_kept_reported_and_not_retried(hook, fake):
    rows = run_rows("run-1")
    bad = keys_of(rows)[1]
    fake.reject_keys.add(bad)
    client = fast_client(fake.url)

    first = insight.deliver(hook, client, insight_payload.keyed_payloads(rows))
    second = insight.drain(hook, client)

    assert (first.delivered, first.rejected, first.pending_after, first.rejected_keys) == (2, 1, 0, (bad,))
    assert not first.ok
    assert second.delivered == 0 and second.rejected == 0
    assert [a.key for a in fake.arrivals].count(bad) == 1, "a rejected payload is not retried"
    [entry] = insight.rejected_entries(hook)
    assert (entry.idempotency_key, entry.last_status, entry.endpoint) == (bad, 422, "/ready")
    assert entry.last_error.startswith("HTTP 422")
    assert insight.enqueue(hook, [(bad, insight_payload.build_payload(rows[1]))]) == 0


def test_engine_in_reject_mode_rejects_everything_and_the_drain_continues(hook, fake):
    fake.set_mode("reject")
    report = insight.deliver(hook, fast_client(fake.url), insight_payload.keyed_payloads(run_rows("run-1")))
    assert (report.rejected, report.delivered, report.pending_after) == (3, 0, 0)
    assert len(fake.arrivals) == 3


def test_pending_older_than_reports_and_never_drops(hook, fake):
    fake.set_mode("down")
    insight.deliver(hook, fast_client(fake.url), insight_payload.keyed_payloads(run_rows("run-1")))
    time.sleep(0.05)

    assert insight.pending_older_than(hook, 3600) == []
    old = insight.pending_older_than(hook, 0.01)
    assert [e.endpoint for e in old] == ["/healthz", "/ready", "/metrics"]
    assert all(e.run_id == "run-1" and e.age_s > 0 for e in old)
    assert old[0].attempts == 2 and old[0].last_error
    assert len(outbox(hook)) == 3  # reporting removed nothing


# ----------------------------------------------------------------------------- token hygiene
def test_bearer_token_reaches_the_engine_but_not_logs_errors_or_repr(hook, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeInsight(token=TOKEN, echo_headers=True) as fake:
        client = fast_client(fake.url, token=TOKEN)
        fake.set_mode("fail")  # its 500 body echoes the Authorization header
        failed = insight.deliver(hook, client, insight_payload.keyed_payloads(run_rows("run-1")))
        fake.set_mode("ok")
        delivered = insight.drain(hook, client)

    assert fake.received and all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in fake.received)
    assert failed.last_error.startswith("HTTP 500") and "***" in failed.last_error, "the echo was scrubbed"
    assert delivered.delivered == 3
    assert "insight delivery of" in caplog.text, "the failure was logged (so the check below means something)"
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(client) and TOKEN not in str(client) and "***" in repr(client)
    assert TOKEN not in str(failed) and TOKEN not in json.dumps(failed.to_dict())
    assert all(TOKEN not in (e["last_error"] or "") for e in outbox(hook))


def test_wrong_token_holds_the_outbox_instead_of_rejecting_it(hook):
    with FakeInsight(token=TOKEN) as fake:
        client = fast_client(fake.url, token="wrong-token")
        report = insight.deliver(hook, client, insight_payload.keyed_payloads(run_rows("r")))

    assert (report.rejected, report.failed, report.pending_after) == (0, 1, 3)
    assert len(fake.arrivals) == 1, "401 is not retried within the run"
    assert outbox(hook)[0]["last_status"] == 401
