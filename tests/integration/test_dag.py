"""The perf_profiler DAG end to end: real dag.test() runs against real local services and DBs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fake_insight import FakeInsight
from servers import BenchServer, refused_port

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "perf_profiler_dag.py"
DAG_ID = "perf_profiler"


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's own metadata DB (SQLite in the throwaway AIRFLOW_HOME), migrated once."""
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                   check=True, capture_output=True, env=os.environ.copy())
    from airflow import settings

    settings.configure_orm()
    return settings


@pytest.fixture(scope="session")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


def targets(services: dict[str, tuple[str, list[str]]], requests: int = 40) -> str:
    """Targets JSON for local servers: name → (base_url, paths)."""
    return json.dumps({
        "version": 1,
        "defaults": {"load": {"requests": requests, "concurrency": 5, "warmup": 0, "timeout_s": 5}},
        "services": [
            {"name": name, "base_url": base, "endpoints": [{"path": p} for p in paths]}
            for name, (base, paths) in services.items()
        ],
    })


@pytest.fixture
def insight(monkeypatch):
    with FakeInsight() as fake:
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", fake.url)
        yield fake


def run_dag(dag, logical_date: datetime, conf: dict | None = None, state: str = "success"):
    dag_run = dag.test(logical_date=logical_date, run_after=logical_date, run_conf=conf)
    assert dag_run.state == state
    return dag_run


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances() if ti.map_index < 1}


def stored_rows() -> list[dict]:
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics

    rows = fetch_metrics(get_hook("perf_metrics_db"), dag_id=DAG_ID)
    return sorted(rows, key=lambda r: (r["service"], r["endpoint"]))


def test_dag_file_parses_without_heavy_imports_db_or_network():
    """Importing the DAG file imports neither numpy nor aiohttp, opens no socket, touches no DB."""
    probe = textwrap.dedent(f"""
        import socket, sys, time
        def refuse(*a, **k): raise AssertionError("network or DB access at parse time")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import airflow.sdk
        before = set(sys.modules)
        start = time.perf_counter()
        import importlib.util
        spec = importlib.util.spec_from_file_location("perf_profiler_dag", {str(DAG_FILE)!r})
        module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
        elapsed = time.perf_counter() - start
        new = set(sys.modules) - before
        heavy = sorted(m for m in new if m in ("numpy", "aiohttp", "hdrh", "psycopg2", "sqlite3") or m.startswith(
            ("perf_profiler.engine", "perf_profiler.storage", "perf_profiler.insight", "perf_profiler.analysis")))
        print(heavy, elapsed)
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "plugins")})
    heavy, _ = done.stdout.strip().rsplit(" ", 1)
    assert heavy == "[]"


def test_dagbag_has_the_dag_with_its_contract(dag):
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.doc_md and "P-6" in dag.doc_md
    assert set(dag.task_ids) == {"load_targets", "benchmark", "store", "check_budget", "within_budget",
                                 "budget_violated", "post_to_insight", "gate"}
    assert dag.get_task("post_to_insight").trigger_rule == "none_failed_min_one_success"
    benchmark = dag.get_task("benchmark")
    assert benchmark.pool == "default_pool"  # no hand-made pool needed ([perf_profiler] benchmark_pool)
    assert benchmark.max_active_tis_per_dag == 2
    assert benchmark.map_index_template == "{{ service_name }}"
    assert dag.get_task("load_targets").retries == 2
    pushes_each_key = [task.task_id for task in dag.tasks if getattr(task, "multiple_outputs", False)]
    assert pushes_each_key == [], "one XCom per task: a `-> dict` task must not also push every key"


def test_full_run_stores_rows_takes_violation_branch_and_posts(dag, metrics_db, insight, monkeypatch):
    with BenchServer() as fast, BenchServer() as slow:
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", targets({
            "fast": (fast.url, ["/delay/20", "/flaky/10"]),
            "slow": (slow.url, ["/delay/900"]),
        }, requests=40))
        when = datetime(2026, 3, 1, tzinfo=timezone.utc)
        dag_run = run_dag(dag, when, state="failed")  # fail_on_violation defaults to true

    rows = stored_rows()
    assert [(r["service"], r["endpoint"]) for r in rows] == [
        ("fast", "/delay/20"), ("fast", "/flaky/10"), ("slow", "/delay/900")]
    by_endpoint = {r["endpoint"]: r for r in rows}
    assert 20 <= float(by_endpoint["/delay/20"]["p50_ms"]) <= 25
    assert float(by_endpoint["/flaky/10"]["error_rate"]) == pytest.approx(0.10)
    assert float(by_endpoint["/delay/900"]["p95_ms"]) >= 900
    assert [r["verdict"] for r in rows] == ["pass", "fail", "fail"]
    assert all(r["requests"] == 40 and r["run_id"] == dag_run.run_id for r in rows)
    assert rows[0]["data_interval_end"] is not None

    states = task_states(dag_run)
    assert states["budget_violated"] == "success"
    assert states["within_budget"] == "skipped"
    assert states["post_to_insight"] == "success"
    assert states["gate"] == "failed", "the gate fails the run only after storing and posting"

    payloads = [r.json for r in insight.received]
    assert len(payloads) == len(rows)
    for payload in payloads:
        assert payload["source"] == "perf-profiler"
        assert {"service", "endpoint", "p95_latency_ms", "throughput_rps"} <= payload["metrics"].keys()
    assert {(p["metrics"]["service"], p["metrics"]["endpoint"]) for p in payloads} == {
        (r["service"], r["endpoint"]) for r in rows}


def test_all_fast_takes_within_budget_and_rerun_updates_in_place(dag, metrics_db, insight, monkeypatch):
    when = datetime(2026, 3, 2, tzinfo=timezone.utc)
    with BenchServer() as fast:
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", targets({"fast": (fast.url, ["/delay/5", "/ok"])}))
        first = run_dag(dag, when)
        first_states = task_states(first)
        before = stored_rows()
        second = run_dag(dag, when)
        after = stored_rows()

    assert first_states["within_budget"] == "success"
    assert first_states["budget_violated"] == "skipped"
    assert second.run_id == first.run_id
    assert len(after) == len(before) == 2
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert all(a["measured_at"] != b["measured_at"] for a, b in zip(after, before, strict=True))


def test_the_release_is_stored_per_row_and_the_detector_parameters_ride_the_asset_event(
        dag, metrics_db, insight, monkeypatch):
    """Issue 15: a service's version source read once per run (a failed read is NULL, the run goes on);
    the run's resolved ``regressions`` parameters in the perf_metrics Asset event for perf_trends."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with BenchServer() as server:
        config = json.loads(targets({"versioned": (server.url, ["/ok"]), "unreadable": (server.url, ["/ok"])}))
        config["services"][0]["version"] = {"path": "/echo"}  # body "echo"
        config["services"][1]["version"] = {"path": "/status/503"}
        config["services"][1]["regressions"] = {"min_effect": 0.5}
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", json.dumps(config))
        dag_run = run_dag(dag, datetime(2026, 3, 9, tzinfo=timezone.utc))
        assert server.stats.hits["/echo"] == 1 and server.stats.hits["/status/503"] == 1

    assert [(r["service"], r["service_version"]) for r in stored_rows()] == [
        ("unreadable", None), ("versioned", "echo")]
    metrics = {p.json["metrics"]["service"]: p.json["metrics"] for p in insight.received}
    assert metrics["versioned"]["service_version"] == "echo"
    assert "service_version" not in metrics["unreadable"], "left out while NULL"
    with create_session() as session:
        events = [e for e in session.query(AssetEvent).all() if e.extra.get("run_id") == dag_run.run_id]
        extra = dict(max(events, key=lambda e: e.timestamp).extra)  # the Airflow DB outlives one parametrisation
    assert [(s, e, p["min_effect"]) for s, e, p in extra["regressions"]] == [("unreadable", "/ok", 0.5)]


def test_insight_down_keeps_outbox_and_next_run_delivers_each_key_once(dag, metrics_db, monkeypatch):
    from perf_profiler.storage.dialect import get_hook

    with BenchServer() as fast:
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", targets({"fast": (fast.url, ["/ok", "/delay/2"])}))
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", f"http://127.0.0.1:{refused_port()}")
        run_dag(dag, datetime(2026, 3, 3, tzinfo=timezone.utc))
        hook = get_hook("perf_metrics_db")
        pending = hook.get_records("SELECT idempotency_key FROM insight_outbox WHERE delivered_at IS NULL")
        assert len(pending) == 2

        with FakeInsight() as fake:
            monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", fake.url)
            run_dag(dag, datetime(2026, 3, 4, tzinfo=timezone.utc))
            keys = fake.keys_in_arrival_order()
            deliveries = dict(fake.deliveries)

    assert len(keys) == 4
    assert set(keys[:2]) == {k for (k,) in pending}, "the outbox of the earlier run goes first"
    assert all(count == 1 for count in deliveries.values())
    left = hook.get_records("SELECT COUNT(*) FROM insight_outbox WHERE delivered_at IS NULL")
    assert left[0][0] == 0


@pytest.mark.parametrize(("bad", "field"), [
    ('{"version": 1, "services": [{"name": "a", "base_url": "ftp://x", "endpoints": [{"path": "/"}]}]}', "base_url"),
    ('{"version": 1, "services": [{"name": "a", "base_url": "http://x", "endpoints": []}]}', "endpoints"),
    ('{"version": 1, "services": [{"name": "a", "base_url": "http://x", "endpoints": [{"path": "/"}],'
     ' "load": {"concurrency": 0}}]}', "concurrency"),
    ('{"version": 1, "services": [{"name": "a", "base_url": "http://x", "endpoints": [{"path": "/"}],'
     ' "colour": 1}]}', "colour"),
    ('{"version": 1, "services": [', "line"),
    ('{"version": 1, "services": [{"name": "a", "base_url": "http://x", "endpoints": [{"path": "/"}]},'
     ' {"name": "a", "base_url": "http://y", "endpoints": [{"path": "/"}]}]}', "duplicate"),
])
def test_bad_targets_fail_in_load_targets_naming_the_field(dag, monkeypatch, bad, field):
    from airflow.sdk import DagRunState

    monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", bad)
    dag_run = dag.test(logical_date=datetime(2026, 3, 5, tzinfo=timezone.utc))
    assert dag_run.state == DagRunState.FAILED
    states = task_states(dag_run)
    assert states["load_targets"] == "failed"
    assert states["store"] in ("upstream_failed", "failed", None)  # store runs ALL_DONE, fails without a plan
    assert dag_run.get_task_instance("load_targets").try_number == 1, "a config error is not retried"
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.tasks.plan import load_targets

    with pytest.raises(AirflowFailException, match=field):
        load_targets(bad)


def test_params_pick_services_and_override_load_without_failing_on_violation(dag, metrics_db, insight, monkeypatch):
    with BenchServer() as fast, BenchServer() as slow:
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", targets({
            "fast": (fast.url, ["/flaky/2"]), "slow": (slow.url, ["/delay/900"])}))
        conf = {"services": ["fast"], "requests": 7, "tenant": "team-a", "fail_on_violation": False}
        dag_run = run_dag(dag, datetime(2026, 3, 6, tzinfo=timezone.utc), conf=conf)
        assert slow.stats.total_hits == 0, "a service not picked receives nothing"

    rows = stored_rows()
    assert [(r["service"], r["requests"], r["tenant_id"]) for r in rows] == [("fast", 7, "team-a")]
    states = task_states(dag_run)
    assert states["budget_violated"] == "success"
    assert states["gate"] == "success"


@pytest.mark.parametrize(("conf", "message"), [
    ({"requests": 0}, "param 'requests'"),
    ({"concurrency": 10**6}, "param 'concurrency'"),
    ({"services": ["nope"]}, "unknown service 'nope'"),
    ({"requets": 5}, "param 'requets': unknown param"),
    ({"load_model": "open"}, "rate"),
])
def test_bad_conf_fails_in_load_targets_naming_the_param(dag, monkeypatch, conf, message):
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.tasks.plan import load_targets

    config = targets({"fast": ("http://127.0.0.1:9", ["/ok"])})
    with pytest.raises(AirflowFailException, match=message):
        load_targets(config, {}, conf)


def test_manual_run_without_logical_date_stores_run_type_and_no_interval(dag, metrics_db, insight, monkeypatch):
    with BenchServer() as fast:
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", targets({"fast": (fast.url, ["/ok"])}, requests=5))
        dag_run = dag.test(logical_date=None)
    assert dag_run.state == "success"
    [row] = stored_rows()
    assert row["run_id"] == dag_run.run_id
    assert row["run_type"] == "manual"
    assert row["logical_date"] is None and row["data_interval_start"] is None
