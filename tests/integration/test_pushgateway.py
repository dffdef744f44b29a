"""P-4 to Prometheus end to end: real dag.test() runs push to a real Pushgateway that a real Prometheus scrapes.

Debian's ``prometheus-pushgateway`` and ``prometheus`` run as plain processes on free loopback ports
(tests/support/prometheus_stack.py; installed when missing). Prometheus loads the shipped alert rules
(docs/prometheus/perf_profiler_alerts.yml), so the P-6 alert is evaluated by the real thing.
"""
from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from dag_runs import config, perf_dag, run_dag, service, stored_rows, task_states
from prometheus_stack import Prometheus, Pushgateway, ensure_installed, poll
from servers import BenchServer, refused_port

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "docs" / "prometheus"
RULES = RULES_DIR / "perf_profiler_alerts.yml"
CONN_ENV = "AIRFLOW_CONN_PROMETHEUS_PUSHGATEWAY"
SECRET = "s3cr3t-gateway-password"
WAIT_S = 30  # a few 1 s scrape/evaluation intervals, with room for a loaded machine


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pushgateway, Prometheus]]:
    ensure_installed()
    workdir = tmp_path_factory.mktemp("prometheus")
    with Pushgateway(workdir) as gateway, Prometheus(workdir, gateway, rule_files=[RULES]) as prometheus:
        yield gateway, prometheus


@pytest.fixture(scope="module")
def dag() -> Any:
    """The parsed DAG; module-scoped, so Airflow has set up its logging before any test's caplog."""
    return perf_dag()


@pytest.fixture
def pg_metrics(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", pg_database)
    return pg_database


def set_targets(monkeypatch: pytest.MonkeyPatch, *services: dict[str, Any]) -> str:
    targets = json.dumps(config(list(services), requests=10, concurrency=5, timeout_s=5.0))
    monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", targets)
    return targets


def stored_p95(run_id: str) -> dict[tuple[str, str], float]:
    return {(r["service"], r["endpoint"]): float(r["p95_ms"]) for r in stored_rows(run_id=run_id)}


def p95_in_prometheus(prometheus: Prometheus) -> dict[tuple[str, str], float]:
    series = prometheus.query('profiler_latency_p95{job="perf_profiler"}')
    return {(s["metric"]["service"], s["metric"]["endpoint"]): float(s["value"][1]) for s in series}


def wait_for_p95(prometheus: Prometheus, expected: dict[tuple[str, str], float]) -> None:
    """Poll Prometheus until its p95 series are exactly ``expected`` (bounded)."""
    poll(lambda: True if p95_in_prometheus(prometheus) == expected else None, WAIT_S,
         f"Prometheus to return {expected} (last: {p95_in_prometheus(prometheus)})")


def firing(prometheus: Prometheus) -> set[tuple[str, str]] | None:
    alerts = [a for a in prometheus.alerts() if a["labels"]["alertname"] == "PerfProfilerP95BudgetBroken"]
    return {(a["labels"]["service"], a["labels"]["endpoint"]) for a in alerts if a["state"] == "firing"} or None


def test_shipped_alert_rules_pass_promtool() -> None:
    ensure_installed()
    checked = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rules found" in checked.stdout
    tested = subprocess.run(["promtool", "test", "rules", "perf_profiler_alerts_test.yml"], cwd=RULES_DIR,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_prometheus_returns_each_stored_p95_and_a_subset_run_leaves_the_others_alone(
    stack: tuple[Pushgateway, Prometheus], dag: Any, pg_metrics: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perf_profiler.model.identity import RunIdentity
    from perf_profiler.tasks import persist, plan

    gateway, prometheus = stack
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": gateway.port}))
    with BenchServer() as fast, BenchServer() as slow:
        targets = set_targets(monkeypatch, service("fast", fast.url, "/delay/5", "/ok"),
                              service("slow", slow.url, "/delay/850"))
        first = run_dag(dag, datetime(2026, 9, 1, tzinfo=timezone.utc))
        assert first.state == "success", task_states(first)
        expected = stored_p95(first.run_id)
        assert set(expected) == {("fast", "/delay/5"), ("fast", "/ok"), ("slow", "/delay/850")}
        wait_for_p95(prometheus, expected)
        # the shipped P-6 rule, evaluated by Prometheus, fires for the slow endpoint only
        assert poll(lambda: firing(prometheus), WAIT_S, "the P-6 alert to fire") == {("slow", "/delay/850")}

        # a backfill re-derivation of that interval describes the past: nothing is pushed
        pushed_at = gateway.push_times()
        assert set(pushed_at) == {("default", "fast"), ("default", "slow")}
        [row, *_] = stored_rows(run_id=first.run_id)
        backfill = RunIdentity(dag_id=row["dag_id"], run_id="backfill__2026-09-01", run_type="backfill",
                               data_interval_start=row["data_interval_start"],
                               data_interval_end=row["data_interval_end"])
        rederived = persist.store_metrics([], plan.load_targets(targets, {}, {}, "backfill"), backfill)
        assert rederived["mode"] == "rederive" and rederived["rows"] == 3
        assert gateway.push_times() == pushed_at

        # a manual run of `fast` only, now measuring one other endpoint: fast's group is replaced
        # (its old endpoints disappear), slow's group keeps its values and its push time
        set_targets(monkeypatch, service("fast", fast.url, "/delay/30"), service("slow", slow.url, "/delay/850"))
        second = run_dag(dag, datetime(2026, 9, 2, tzinfo=timezone.utc), conf={"services": ["fast"]})
        assert second.state == "success", task_states(second)
        assert slow.stats.total_hits == 10, "the subset run sent nothing to slow"

    after = stored_p95(second.run_id)
    assert set(after) == {("fast", "/delay/30")}
    wait_for_p95(prometheus, {**after, ("slow", "/delay/850"): expected[("slow", "/delay/850")]})
    pushed_again = gateway.push_times()
    assert pushed_again[("default", "slow")] == pushed_at[("default", "slow")]
    assert pushed_again[("default", "fast")] > pushed_at[("default", "fast")]
    errors = prometheus.query('profiler_errors{job="perf_profiler",service="fast"}')
    assert [(s["metric"]["endpoint"], s["metric"]["dag_id"], s["value"][1]) for s in errors] == [
        ("/delay/30", "perf_profiler", "0")]


def test_gateway_down_run_succeeds_with_a_warning_naming_the_gateway(
    dag: Any, pg_metrics: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = refused_port()
    monkeypatch.setenv(CONN_ENV, json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": port, "login": "pusher", "password": SECRET}))
    with BenchServer() as fast:
        set_targets(monkeypatch, service("fast", fast.url, "/ok"))
        dag_run = run_dag(dag, datetime(2026, 9, 3, tzinfo=timezone.utc))

    assert dag_run.state == "success"
    assert task_states(dag_run)["store"] == "success"
    assert len(stored_rows(run_id=dag_run.run_id)) == 1, "the database holds the run's numbers"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Pushgateway http://127.0.0.1:{port}: push of tenant default service fast failed" in w
               for w in warnings), warnings
    assert SECRET not in caplog.text
