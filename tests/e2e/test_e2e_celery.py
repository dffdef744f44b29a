"""Issue 13 on a real CeleryExecutor: one service's load sharded across two Celery workers.

Redis is the broker (the one at 127.0.0.1:6379 when it answers, else a ``redis-server`` of our
own), a throwaway PostgreSQL database is Airflow's metadata DB and Celery's result backend,
another one is ``perf_metrics_db``; scheduler, dag-processor, api-server and two
``airflow celery worker`` processes (``--celery-hostname w1@%h`` and ``w2@%h``, which is
Celery's ``-n``) run as subprocesses.

Both workers run on this one machine: their host names come from ``celery worker -n``
(``--celery-hostname``) and the deployment's ``hostname_callable``
(``tests/support/worker_hostname.py``). Different names prove that the shards ran in different
worker processes, not on different machines.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_insight import FakeInsight
from servers import BenchServer
from throwaway_pg import throwaway_databases

from .airflow_stack import AirflowStack
from .celery_stack import REDIS_PORT, CeleryStack, redis_answers, start_redis
from .e2e_env import DAG_ID
from .metrics_db import MetricsDB

pytestmark = [pytest.mark.timeout(900)]

DELAY_MS = 20
SERVICE = "api"
TARGETS = {"version": 1, "services": [{
    "name": SERVICE, "endpoints": [{"path": f"/delay/{DELAY_MS}"}],
    "load": {"requests": 40, "concurrency": 4, "warmup": 0, "timeout_s": 5, "shards": 2,
             "shard_start_timeout_s": 120}}]}


@pytest.fixture(scope="module")
def celery_env() -> Iterator[dict[str, Any]]:
    """Databases, broker, target server, Insight fake and the running Celery deployment."""
    with throwaway_databases("perf_e2e_celery") as uris:
        yield from _celery_deployment(uris)


def _celery_deployment(uris: dict[str, str]) -> Iterator[dict[str, Any]]:
    home = Path(tempfile.mkdtemp(prefix="perf-e2e-celery-"))
    redis_proc = None
    stack = None
    try:
        if redis_answers():
            broker = f"redis://127.0.0.1:{REDIS_PORT}/0"
        else:
            redis_proc, port = start_redis(home)
            broker = f"redis://127.0.0.1:{port}/0"
        with BenchServer() as server, FakeInsight() as insight:
            targets = json.loads(json.dumps(TARGETS))
            targets["services"][0]["base_url"] = server.url
            stack = CeleryStack(
                home, uris["metadata"].replace("postgresql://", "postgresql+psycopg2://", 1),
                broker_url=broker, result_backend=f"db+{uris['metadata']}",
                extra_env={
                    "AIRFLOW_VAR_PERF_PROFILER_TARGETS": json.dumps(targets),
                    "AIRFLOW_CONN_PERF_METRICS_DB": uris["metrics"],
                    "AIRFLOW_CONN_INSIGHT_ENGINE": insight.url,
                    # a lost worker's task is noticed after 20 s without heartbeat (default 300 s)
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                })
            stack.start()
            stack.wait_for_dag(DAG_ID)
            stack.unpause(DAG_ID)
            _wait_for_nightly_run(stack)
            yield {"stack": stack, "server": server, "db": MetricsDB(uris["metrics"])}
    finally:
        if stack is not None:
            stack.stop()
        if redis_proc is not None:
            redis_proc.kill()
            redis_proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def _wait_for_nightly_run(stack: AirflowStack) -> None:
    """Unpausing creates the latest nightly run: let it finish so the tests start quiet."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = stack.dag_runs(DAG_ID, run_type="scheduled")
        if runs:
            stack.wait_for_run(DAG_ID, runs[0]["dag_run_id"], timeout=300)
            return
        time.sleep(1)


def _benchmarks(stack: AirflowStack, run_id: str) -> list[dict[str, Any]]:
    return sorted((ti for ti in stack.task_instances(DAG_ID, run_id) if ti["task_id"] == "benchmark"),
                  key=lambda ti: ti["map_index"])


def _row(db: MetricsDB, run_id: str) -> dict[str, Any]:
    rows = db.query("SELECT * FROM perf_metrics WHERE run_id = %s", (run_id,))
    assert len(rows) == 1, rows
    return rows[0]


def test_two_shards_on_two_workers_start_together_and_merge_exactly(celery_env: dict[str, Any]) -> None:
    stack, server, db = celery_env["stack"], celery_env["server"], celery_env["db"]
    server.stats.reset()
    run_id = stack.trigger(DAG_ID, {"services": [SERVICE], "duration_s": 4, "fail_on_violation": False}
                           ).json()["dag_run_id"]
    run = stack.wait_for_run(DAG_ID, run_id, timeout=300)
    assert run["state"] == "success", stack.task_states(DAG_ID, run_id)

    tis = _benchmarks(stack, run_id)
    assert [ti["rendered_map_index"] for ti in tis] == ["api[1/2]", "api[2/2]"]
    assert {ti["hostname"] for ti in tis} == {"w1", "w2"}, "one shard on each worker process"
    assert all(ti["queue"] == stack.bench_queue for ti in tis)
    row = _row(db, run_id)
    record = row["shards"]
    assert row["shards_not_concurrent"] is False, record["not_concurrent"]
    assert {s["host"] for s in record["shards"]} == {"w1", "w2"}
    assert record["overlap_s"] > 3.0
    assert server.stats.max_in_flight > 2, "each shard has 2 in flight: the server saw both at once"
    assert row["requests"] == sum(s["requests"] for s in record["shards"]) == server.stats.total_hits
    assert DELAY_MS <= float(row["p50_ms"]) < DELAY_MS + 15, "p50 is the server's known delay"


def test_a_lost_worker_s_shard_is_retried_on_the_other_counted_once_and_flagged(celery_env: dict[str, Any]) -> None:
    stack, server, db = celery_env["stack"], celery_env["server"], celery_env["db"]
    run_id = stack.trigger(DAG_ID, {"services": [SERVICE], "duration_s": 30, "fail_on_violation": False}
                           ).json()["dag_run_id"]
    deadline = time.monotonic() + 180
    while True:  # both shards probing: each on its worker, the server loaded
        tis = _benchmarks(stack, run_id)
        if len(tis) == 2 and all(ti["state"] == "running" and ti["hostname"] for ti in tis):
            break
        assert time.monotonic() < deadline, stack.task_states(DAG_ID, run_id)
        time.sleep(0.5)
    server.stats.reset()
    while server.stats.total_hits < 50:
        assert time.monotonic() < deadline, "the shards never loaded the target"
        time.sleep(0.2)
    lost = next(ti for ti in tis if ti["hostname"] == "w1")
    stack.kill_worker("w1")  # as a lost machine: the worker and its task processes, all at once

    partial_rows = 0
    while (run := stack.dag_run(DAG_ID, run_id))["state"] not in ("success", "failed"):
        states = {ti["map_index"]: ti["state"] for ti in _benchmarks(stack, run_id)}
        if set(states.values()) != {"success"}:
            partial_rows += len(db.query("SELECT id FROM perf_metrics WHERE run_id = %s", (run_id,)))
        assert time.monotonic() < deadline + 400, stack.task_states(DAG_ID, run_id)
        time.sleep(1)
    assert run["state"] == "success", stack.task_states(DAG_ID, run_id)
    assert partial_rows == 0, "no row while a shard was missing"

    retried = next(ti for ti in _benchmarks(stack, run_id) if ti["map_index"] == lost["map_index"])
    assert retried["try_number"] == 2 and retried["hostname"] == "w2", retried
    row = _row(db, run_id)
    record = row["shards"]
    label = retried["rendered_map_index"]  # while running, the label is not rendered yet
    by_label = {s["shard"]: s for s in record["shards"]}
    assert by_label[label]["try_number"] == 2 and by_label[label]["host"] == "w2"
    assert row["requests"] == sum(s["requests"] for s in record["shards"]), "the retried shard counted once"
    assert row["requests"] < server.stats.total_hits, "the killed try's requests are not in the row"
    assert row["shards_not_concurrent"] is True
    assert any(reason.startswith(f"shard {label} (try 2, host w2) ran alone") for reason in record["not_concurrent"])
    with contextlib.suppress(Exception):
        stack.start_worker("w1")  # leave the deployment as it was for any later test
