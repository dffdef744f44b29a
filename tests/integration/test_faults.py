"""The fault matrix end to end: misbehaving targets and failing dependencies, nothing lost.

* Faults at the targets go through a real ``dag.test()`` run: each lands in its own error class,
  the run completes and the stored row's error rate, errors_by_class and verdict say so.
* The metrics DB unreachable during ``store`` (tests/tcp_proxy.py in front of PostgreSQL): the
  task fails, Airflow retries it, and after recovery there is exactly one row per key.
* The Insight Engine failing for several runs: the outbox grows, entries past the retention
  window are reported, then everything drains in order, each key delivered once.
* A benchmark worker killed with SIGKILL mid-probe: no partial rows; the retry is complete.
"""
from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dag_runs import (
    DAG_ID,
    config,
    metrics_hook,
    nonzero,
    perf_dag,
    rows_per_key,
    run_dag,
    service,
    stored_rows,
    task_states,
    wait_for,
)
from fake_insight import FakeInsight
from servers import BenchServer, ScriptedServer, raw_tcp_server, refused_port, self_signed_server_context
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(240)

PG_HOST, PG_PORT = "127.0.0.1", 5432
#: a name under the reserved TLD .invalid (RFC 6761): resolution fails locally, no traffic anywhere
UNRESOLVABLE = "perf-profiler-fault.invalid"


@pytest.fixture
def dag() -> Any:
    return perf_dag()


@pytest.fixture
def pg_metrics(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", pg_database)
    return pg_database


# =========================================================================== misbehaving servers
async def _read_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
    """Accept, read the request, never answer (until the client gives up and closes)."""
    await _read_head(reader)
    await reader.read()  # returns at EOF: the client timed out and closed


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
    """Answer 200 with a 100 kB body, then send 3 bytes every 200 ms (for at most 30 s)."""
    await _read_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(150):
        if writer.transport.is_closing():
            return
        writer.write(b"abc")
        await writer.drain()
        await asyncio.sleep(0.2)


HUGE_BODY = 100 * 1024 * 1024


async def huge_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
    """Answer 200 with a 100 MB body; record how many bytes the client let us send."""
    await _read_head(reader)
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE_BODY}\r\n\r\n".encode())
    chunk, sent = b"x" * 65536, 0
    try:
        while sent < HUGE_BODY and not writer.transport.is_closing():
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    finally:
        server.sent_per_connection.append(sent)


# =========================================================================== faults at the targets
#: service name -> the error class every one of its requests must land in (None: healthy)
TARGET_FAULTS: dict[str, str | None] = {
    "healthy": None,
    "refused": "connect",
    "hang": "timeout",
    "drip": "timeout",
    "not-http": "protocol",
    "huge-body": "body_too_large",
    "redirect-loop": "redirect",
    "tls-self-signed": "tls",
    "tls-opt-out": None,
    "dns": "dns",
}


#: the healthy services get a generous timeout: a loaded machine must not make them fail
RELAXED = {"timeout_s": 10.0, "connect_timeout_s": 5.0}


@pytest.fixture
def fault_targets() -> Iterator[tuple[list[dict[str, Any]], ScriptedServer]]:
    with BenchServer() as bench, BenchServer(ssl_context=self_signed_server_context()) as tls, \
            raw_tcp_server() as raw, ScriptedServer(hang) as hung, ScriptedServer(drip) as dripping, \
            ScriptedServer(huge_body) as huge:
        yield [
            service("healthy", bench.url, "/ok", load=RELAXED),
            service("refused", f"http://127.0.0.1:{refused_port()}"),
            service("hang", hung.url),
            service("drip", dripping.url),
            service("not-http", raw.url),
            service("huge-body", huge.url),
            service("redirect-loop", bench.url, "/redirect-loop"),
            service("tls-self-signed", tls.url),                     # verification is on by default
            service("tls-opt-out", tls.url, verify_tls=False, load=RELAXED),  # the documented opt-out
            service("dns", f"http://{UNRESOLVABLE}:8080"),
        ], huge


def test_the_name_under_invalid_does_not_resolve_and_fails_fast() -> None:
    import socket

    start = time.monotonic()
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(UNRESOLVABLE, 8080)
    assert time.monotonic() - start < 5


def test_each_target_fault_lands_in_its_class_and_the_run_completes(
    dag: Any, pg_metrics: str, fault_targets: Any, monkeypatch: pytest.MonkeyPatch, either_engine: str
) -> None:
    """Both engines (plain http:// targets run on the one of this run; TLS always on aiohttp)."""
    services, huge = fault_targets
    assert [s["name"] for s in services] == list(TARGET_FAULTS)
    monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", json.dumps(config(services)))
    with FakeInsight() as insight:
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", insight.url)
        dag_run = run_dag(dag, datetime(2026, 5, 1, tzinfo=timezone.utc))
        payloads = {p.json["metrics"]["service"]: p.json["metrics"] for p in insight.received}

    assert dag_run.state == "success", task_states(dag_run)
    states = task_states(dag_run)
    assert states["store"] == states["post_to_insight"] == "success"
    assert states["budget_violated"] == "success" and states["within_budget"] == "skipped"
    benchmarks = [ti for ti in dag_run.get_task_instances() if ti.task_id == "benchmark"]
    assert len(benchmarks) == len(TARGET_FAULTS) and all(ti.state == "success" for ti in benchmarks)

    rows = {r["service"]: r for r in stored_rows(run_id=dag_run.run_id)}
    assert set(rows) == set(TARGET_FAULTS)
    for name, error_class in TARGET_FAULTS.items():
        row = rows[name]
        assert row["requests"] == 4, name
        if error_class is None:
            assert (row["ok_count"], row["error_rate"], row["verdict"]) == (4, 0.0, "pass"), name
            assert nonzero(row["errors_by_class"]) == {}, name
        else:
            assert (row["ok_count"], row["error_rate"], row["verdict"]) == (0, 1.0, "fail"), name
            assert nonzero(row["errors_by_class"]) == {error_class: 4}, name
        assert payloads[name]["error_rate"] == row["error_rate"], name
        assert payloads[name]["verdict"] == row["verdict"], name

    # the 100 MB body: the response arrived (200) but reading stopped at the cap (1 MiB by default):
    # the server could push only what the client read plus the socket buffers, never the 100 MB
    assert json.loads(rows["huge-body"]["status_codes"]) == {"200": 4}
    assert len(huge.sent_per_connection) == 4
    assert max(huge.sent_per_connection) < 32 * 1024 * 1024, huge.sent_per_connection
    # timeouts are measured at the timeout (1 s), not at the server's pace
    from perf_profiler.analysis import histogram

    for name in ("hang", "drip"):
        stats = histogram.summarize(histogram.decode(rows[name]["error_hist"]))
        assert stats.min_ms >= 900 and stats.max_ms < 6000, (name, stats)


# =========================================================================== the metrics DB unreachable
def _one_service_plan(url: str) -> dict[str, Any]:
    from perf_profiler.tasks import plan

    cfg = config([service("svc", url, "/delay/2", "/flaky/4")], requests=8, timeout_s=5.0)
    return plan.load_targets(json.dumps(cfg))


@pytest.mark.parametrize("outage", ["closed_port", "server_gone"])
def test_store_fails_while_the_db_is_unreachable_and_a_retry_writes_one_row_per_key(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, outage: str
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.model.identity import RunIdentity
    from perf_profiler.tasks import measure, persist

    identity = RunIdentity(dag_id=DAG_ID, run_id="scheduled__2026-05-02T02:00:00+00:00", run_type="scheduled",
                           data_interval_start="2026-05-01T02:00:00+00:00",
                           data_interval_end="2026-05-02T02:00:00+00:00")
    database = pg_database.rsplit("/", 1)[1]
    with BenchServer() as server, TcpProxy(PG_HOST, PG_PORT) as proxy:
        monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}")
        run_plan = _one_service_plan(server.url)
        results = [measure.benchmark(s) for s in run_plan["to_probe"]]
        if outage == "closed_port":
            proxy.down()
        else:
            proxy.set_mode("reset")  # accepts, then drops every connection: a server going away
        # psycopg and psycopg2 both say so: the connection to the (proxied) database failed
        unreachable = re.escape(f'connection to server at "127.0.0.1", port {proxy.port} failed')
        with pytest.raises(Exception, match=unreachable) as failure:
            persist.store_metrics(results, run_plan, identity)
        # an ordinary exception (psycopg OperationalError): Airflow retries it; a config error
        # (AirflowFailException) would not be retried
        assert not isinstance(failure.value, AirflowFailException)
        assert "OperationalError" in type(failure.value).__name__
        proxy.set_mode("forward")
        proxy.up()
        first = persist.store_metrics(results, run_plan, identity)
        second = persist.store_metrics(results, run_plan, identity)  # a further retry of the same run
        keys = rows_per_key()

    assert first["rows"] == second["rows"] == 2
    assert sorted(k[4] for k in keys) == ["/delay/2", "/flaky/4"]
    assert set(keys.values()) == {1}, keys


def _ti_state(task_id: str) -> str | None:
    """A task's state in the running dag.test() (read from Airflow's SQLite metadata DB)."""
    from airflow.configuration import conf

    path = conf.get("database", "sql_alchemy_conn").split("sqlite:///", 1)[1].split("?", 1)[0]
    with sqlite3.connect(path, timeout=10) as db:
        row = db.execute(
            "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = ? AND state = 'up_for_retry'",
            (DAG_ID, task_id)).fetchone()
    return row[0] if row else None


def test_dag_store_task_is_retried_by_airflow_after_the_db_comes_back(
    dag: Any, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = dag.get_task("store")
    assert store.retries >= 1 and store.retry_delay == timedelta(seconds=30) and store.retry_exponential_backoff
    monkeypatch.setattr(store, "retry_delay", timedelta(seconds=1))  # this test object only, not the DAG file
    database = pg_database.rsplit("/", 1)[1]
    with BenchServer() as server, TcpProxy(PG_HOST, PG_PORT) as proxy, FakeInsight() as insight:
        monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}")
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", insight.url)
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS",
                           json.dumps(config([service("svc", server.url, "/ok", "/delay/2")], requests=6)))
        proxy.down()  # the DB is unreachable from the start; load_targets and benchmark do not need it

        def recover() -> None:  # the DB comes back once Airflow has put store up for retry
            wait_for(lambda: _ti_state("store") == "up_for_retry", 120, "store to be up for retry")
            proxy.up()

        recovery = threading.Thread(target=recover, daemon=True)
        recovery.start()
        dag_run = run_dag(dag, datetime(2026, 5, 3, tzinfo=timezone.utc))
        recovery.join(timeout=5)
        keys = rows_per_key()
        delivered = len(insight.received)

    assert dag_run.state == "success", task_states(dag_run)
    store_ti = dag_run.get_task_instance("store")
    assert store_ti.state == "success"
    assert store_ti.try_number == 2, "the first try failed on the unreachable DB, the retry stored"
    assert sorted(k[4] for k in keys) == ["/delay/2", "/ok"] and set(keys.values()) == {1}
    assert all(k[2] == dag_run.run_id for k in keys)
    assert delivered == 2


# =========================================================================== the Insight Engine failing
def _outbox(hook: Any) -> list[tuple[int, str, bool]]:
    return [(int(seq), key, delivered is not None) for seq, key, delivered in hook.get_records(
        "SELECT seq, idempotency_key, delivered_at FROM insight_outbox ORDER BY seq")]


def test_insight_500_hang_down_for_several_runs_then_drains_in_order_once(
    dag: Any, pg_metrics: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    hook = metrics_hook()
    pending_after: list[int] = []
    with BenchServer() as server, FakeInsight() as insight:
        extra = {"timeout_s": 1, "retries": 1, "backoff_s": 0.1}
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": insight.port, "schema": "http", "extra": extra}))
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS",
                           json.dumps(config([service("svc", server.url, "/ok", "/delay/2")], requests=5)))
        for day, mode in enumerate(("fail", "hang", "down"), start=1):
            insight.set_mode(mode)
            if mode == "down":  # the first run's entries are now past the retention window (7 days)
                hook.run("UPDATE insight_outbox SET created_at = created_at - INTERVAL '8 days' WHERE seq IN "
                         "(SELECT seq FROM insight_outbox ORDER BY seq LIMIT 2)")
                caplog.clear()
            dag_run = run_dag(dag, datetime(2026, 6, day, tzinfo=timezone.utc))
            assert dag_run.state == "success", (mode, task_states(dag_run))
            assert task_states(dag_run)["post_to_insight"] == "success", mode
            pending_after.append(sum(1 for _, _, delivered in _outbox(hook) if not delivered))
        retention_lines = [r.getMessage() for r in caplog.records if "undelivered for" in r.getMessage()]
        assert insight.deliveries == {}, "nothing was accepted while the engine failed"
        assert {a.mode for a in insight.arrivals} == {"fail", "hang"}

        insight.set_mode("ok")
        dag_run = run_dag(dag, datetime(2026, 6, 4, tzinfo=timezone.utc))
        arrival_order = insight.keys_in_arrival_order()
        deliveries = dict(insight.deliveries)

    assert pending_after == [2, 4, 6], "the outbox grows by one entry per row and run"
    outbox = _outbox(hook)
    assert len(outbox) == 8 and all(delivered for _, _, delivered in outbox), "nothing dropped, all delivered"
    assert arrival_order == [key for _, key, _ in outbox], "delivered oldest first"
    assert set(deliveries.values()) == {1}, "each key delivered exactly once"
    # run 3 reported the two entries older than the retention window, and only those
    assert len(retention_lines) == 2, retention_lines
    assert all("svc" in line and "2026-06-01" in line for line in retention_lines), retention_lines


# =========================================================================== SIGKILL mid-probe
WORKER = """
import json, sys
from perf_profiler.tasks import measure
from perf_profiler.tasks import persist
from perf_profiler.tasks import plan
from perf_profiler.model.identity import RunIdentity
config, run_id = sys.argv[1], sys.argv[2]
run_plan = plan.load_targets(config)
results = [measure.benchmark(s) for s in run_plan["to_probe"]]
counts = [[e["endpoint"], e["requests"], e["ok"]] for r in results for e in r["endpoints"]]
print("RESULT", json.dumps(counts), flush=True)
persist.store_metrics(results, run_plan, RunIdentity(dag_id="perf_profiler", run_id=run_id, run_type="manual"))
print("STORED", flush=True)
"""


def _stderr_tail(errors: Any) -> str:
    errors.seek(0)
    return "the probe should still be running; its stderr: " + errors.read()[-3000:]


def test_worker_killed_mid_probe_leaves_no_rows_and_the_retry_is_complete(pg_metrics: str) -> None:
    from perf_profiler.storage.migrations import migrate

    assert perf_dag().get_task("benchmark").retries >= 1, "Airflow retries a lost benchmark attempt"
    migrate(metrics_hook())  # the table exists, so "no rows" below is a real check
    run_id = "manual__2026-07-01T00:00:00+00:00"
    with BenchServer() as server:
        cfg = json.dumps(config([service("svc", server.url, "/delay/40")], requests=100, concurrency=2,
                                timeout_s=5.0))
        # a file, not a pipe: a full pipe would stall the worker
        with tempfile.TemporaryFile(mode="w+") as errors:
            worker = subprocess.Popen([sys.executable, "-c", WORKER, cfg, run_id], stdout=subprocess.PIPE,
                                      stderr=errors, text=True)
            try:
                wait_for(lambda: server.stats.hits["/delay/40"] >= 10 or worker.poll() is not None, 90,
                         "the worker to be mid-probe")
                assert worker.poll() is None, _stderr_tail(errors)
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=30)
            finally:
                if worker.poll() is None:
                    worker.kill()
        hits_when_killed = server.stats.hits["/delay/40"]
        assert worker.returncode == -signal.SIGKILL
        assert 10 <= hits_when_killed < 100
        assert stored_rows(run_id=run_id) == [], "a killed benchmark leaves no partial rows"

        retry = subprocess.run([sys.executable, "-c", WORKER, cfg, run_id], capture_output=True, text=True,
                               timeout=120)
    assert retry.returncode == 0, retry.stderr[-2000:]
    marked = [line for line in retry.stdout.splitlines() if line.startswith(("RESULT ", "STORED"))]
    assert marked[1] == "STORED", retry.stdout[-2000:]
    assert json.loads(marked[0].removeprefix("RESULT ")) == [["/delay/40", 100, 100]], "the full 100 requests"
    [row] = stored_rows(run_id=run_id)
    assert (row["requests"], row["ok_count"], row["error_rate"]) == (100, 100, 0.0)
    assert set(rows_per_key().values()) == {1}
