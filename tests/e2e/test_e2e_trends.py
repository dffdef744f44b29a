"""The Asset perf_metrics and the downstream DAG perf_trends under a real scheduler.

History: ten nightly runs some weeks ago measured predictive-engine at ~5 ms (seeded rows). The
local predictive-engine now answers in ~60 ms, so the next measurement is a regression that
perf_trends — scheduled on the Asset the store task emits — must record in perf_regressions.
"""
from __future__ import annotations

import time

import pytest

from .e2e_env import DAG_ID, SERVICE_PATHS, TRENDS_DAG_ID, total_hits
from .metrics_db import ONE_DAY, measured_row, nightly, parse_ts, spread

pytestmark = pytest.mark.timeout(900)

SERVICE = "predictive-engine"
ENDPOINT = SERVICE_PATHS[SERVICE]
HISTORY_RUNS = 10


def seed_history(perf_db) -> None:
    rows = []
    for i in range(HISTORY_RUNS):
        logical = nightly(60 - i)
        rows.append(measured_row(
            SERVICE, ENDPOINT, spread(4.5 + 0.1 * (i % 3)),
            run_id=f"scheduled__{(logical + ONE_DAY).isoformat()}", run_type="scheduled",
            interval=(logical, logical + ONE_DAY), logical_date=logical, measured_at=logical + ONE_DAY,
        ))
    assert perf_db.seed(rows) == HISTORY_RUNS


def wait_for_trends_run(airflow, event_id: int, timeout: float = 240) -> dict:
    """The perf_trends run that consumed the Asset event ``event_id``, once finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        airflow.check_alive()
        for run in airflow.dag_runs(TRENDS_DAG_ID):
            path = f"/dags/{TRENDS_DAG_ID}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
            consumed = airflow.api("GET", path).json()["asset_events"]
            if any(event["id"] == event_id for event in consumed):
                left = max(1, deadline - time.monotonic())
                return airflow.wait_for_run(TRENDS_DAG_ID, run["dag_run_id"], timeout=left)
        time.sleep(2)
    runs = airflow.dag_runs(TRENDS_DAG_ID)
    raise AssertionError(f"no perf_trends run consumed asset event {event_id} in {timeout}s; runs: {runs}\n"
                         f"{airflow.diagnostics()}")


def test_perf_trends_records_an_injected_regression(airflow, services, perf_db, quiet):
    if airflow.missing_trends:
        pytest.fail(f"DAG {TRENDS_DAG_ID} is not deployed: {airflow.missing_trends}", pytrace=False)
    seed_history(perf_db)

    # A manual run without a logical date, over the REST API; the budget override makes it break
    # P-6 and fail_on_violation=false keeps the run green with the violation path in the grid.
    conf = {"services": [SERVICE], "budget_p95_ms": 10, "fail_on_violation": False}
    response = airflow.trigger(DAG_ID, conf)
    run_id = response.json()["dag_run_id"]
    assert response.json()["logical_date"] is None
    run = airflow.wait_for_run(DAG_ID, run_id, timeout=300)
    states = airflow.task_states(DAG_ID, run_id)
    assert run["state"] == "success", states
    assert (states["budget_violated"], states["within_budget"], states["gate"]) == ("success", "skipped", "success")
    assert total_hits(services)[SERVICE] > 0

    rows = perf_db.rows("run_id = %s", [run_id])
    assert [(r["service"], r["endpoint"], r["verdict"]) for r in rows] == [(SERVICE, ENDPOINT, "fail")]
    row = rows[0]
    assert row["run_type"] == "manual" and row["logical_date"] is None
    assert float(row["p95_ms"]) > 50, "the local predictive-engine answers in ~60 ms"

    # the store task emitted the Asset with the documented extras
    events = airflow.api("GET", "/assets/events", params={"source_dag_id": DAG_ID, "source_run_id": run_id}
                         ).json()["asset_events"]
    assert [(e["uri"], e["source_task_id"]) for e in events] == [("x-perf-profiler://perf_metrics", "store")]
    extra = events[0]["extra"]
    assert (extra["run_id"], extra["rows"], extra["violations"]) == (run_id, 1, 1), extra
    assert "data_interval_start" in extra and "data_interval_end" in extra

    # perf_trends ran on that event, after the store task
    trends_run = wait_for_trends_run(airflow, events[0]["id"])
    assert trends_run["state"] == "success", airflow.task_states(TRENDS_DAG_ID, trends_run["dag_run_id"])
    assert trends_run["run_type"] == "asset_triggered"
    store = next(ti for ti in airflow.task_instances(DAG_ID, run_id) if ti["task_id"] == "store")
    assert parse_ts(trends_run["start_date"]) >= parse_ts(store["end_date"])

    regressions = perf_db.query("SELECT * FROM perf_regressions WHERE run_id = %s", [run_id])
    assert [(r["service"], r["endpoint"], r["metric_id"]) for r in regressions] == [(SERVICE, ENDPOINT, row["id"])]
    found = regressions[0]
    assert found["p95_ms"] > found["threshold_ms"] > found["baseline_p95_ms"]
    assert 4.0 < found["baseline_p95_ms"] < 7.0, found   # the seeded history, not this run
    assert found["history_runs"] >= 5
