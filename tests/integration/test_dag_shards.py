"""Shards in real ``dag.test()`` runs: mapped ``service[i/N]`` instances, the start line, store.

``dag.test()`` runs one task instance at a time, as a pool of 1 does: the first shard waits at
its start line until ``shard_start_timeout_s``, goes on alone, and the second arrives after that
start and runs alone. Both are said in the log and in the row; nothing is merged as if concurrent.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest

from dag_runs import config, perf_dag, run_dag, service, stored_rows, task_states
from fake_insight import FakeInsight
from servers import BenchServer


def _log_text(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    out, err = capfd.readouterr()
    return "\n".join([*(record.getMessage() for record in caplog.records), out, err])


def test_two_shards_serialised_by_a_pool_of_one_time_out_and_the_row_is_flagged(
    metrics_db: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    dag = perf_dag()
    with BenchServer() as server, FakeInsight() as insight:
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", insight.url)
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", json.dumps(config(
            [service("api", server.url, "/delay/5", load={"shards": 2, "shard_start_timeout_s": 1.0})],
            requests=30, concurrency=4)))
        dag_run = run_dag(dag, datetime(2026, 9, 2, tzinfo=timezone.utc))
        hits = server.stats.total_hits
    assert dag_run.state == "success", task_states(dag_run)
    labels = sorted(ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == "benchmark")
    assert labels == ["api[1/2]", "api[2/2]"]

    (row,) = stored_rows(run_id=dag_run.run_id)
    record = json.loads(row["shards"])
    assert row["requests"] == 30 == hits, "both shards merged once each"
    assert row["shards_not_concurrent"] is True
    assert any("timed out with 1 of 2" in reason for reason in record["not_concurrent"])
    # dag.test() picks either shard first: that one times out, the other comes after its start
    lines = {s["shard"]: s["start_line"] for s in record["shards"]}
    assert sorted((line["timed_out"], line["alone"]) for line in lines.values()) == [(True, False), (True, True)]
    late = next(label for label, line in lines.items() if line["alone"])
    assert any(reason.startswith(f"shard {late} (try 1") and "ran alone" in reason
               for reason in record["not_concurrent"])
    first = next(label for label in lines if label != late)
    logs = _log_text(capfd, caplog)
    assert f"{first} /delay/5: start line TIMED OUT after 1 s with 1 of 2 shards in" in logs
    assert f"{late} /delay/5: RUNS ALONE" in logs
    assert "api /delay/5: shards_not_concurrent -- its 2 shards did not run together" in logs
