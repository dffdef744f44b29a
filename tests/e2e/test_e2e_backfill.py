"""A 3-day backfill under a real scheduler: it never measures, it re-derives or marks no data.

The timetable is ``CronDataIntervalTimetable("0 2 * * *", UTC)``: logical date D covers
[D 02:00, D+1 02:00). ``airflow backfill create`` makes one run per logical date in
[--from-date, --to-date] (both inclusive), so ``--from-date 2026-03-10 --to-date
2026-03-12T02:00:00+00:00`` gives exactly the three runs of March 10, 11 and 12, while
``--to-date 2026-03-12`` leaves the 12th out (its logical date is 02:00, after midnight).
The test uses the three days starting 20 days ago, written the same way.
"""
from __future__ import annotations

import itertools
import json
import time
from datetime import datetime

import pytest

from .e2e_env import DAG_ID, SERVICE_PATHS, total_hits
from .metrics_db import ONE_DAY, measured_row, nightly, parse_ts, spread

pytestmark = pytest.mark.timeout(900)

LOGICAL_DATES = [nightly(20), nightly(19), nightly(18)]
FROM_DATE, TO_DATE = LOGICAL_DATES[0].date().isoformat(), LOGICAL_DATES[-1].isoformat()
#: seeded history: service → centre of its latencies (ms). With budget 800 both pass; with 50
#: runtime (p95 ≈ 142 ms) fails and registry (p95 ≈ 4.7 ms) still passes.
SEEDED = {"registry": 4.0, "runtime": 120.0}
NEW_BUDGET_MS = 50.0


def run_backfill(airflow, *options: str, timeout: float = 300) -> list[dict]:
    """``airflow backfill create`` as the README documents it; wait for it; its runs by logical date."""
    airflow.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", FROM_DATE, "--to-date", TO_DATE,
                    "--max-active-runs", "1", *options)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        airflow.check_alive()
        backfills = airflow.api("GET", "/backfills", params={"dag_id": DAG_ID, "limit": 100}).json()["backfills"]
        latest = max(backfills, key=lambda b: b["id"])
        if latest["completed_at"]:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"backfill not completed after {timeout}s: {latest}\n{airflow.diagnostics()}")
    runs = [r for r in airflow.dag_runs(DAG_ID, run_type="backfill")
            if parse_ts(r["logical_date"]) in LOGICAL_DATES]
    runs = [airflow.wait_for_run(DAG_ID, r["dag_run_id"], timeout=60) for r in runs]
    return sorted(runs, key=lambda r: r["logical_date"])


def run_span(run: dict) -> tuple[datetime, datetime, str]:
    """When a finished run started and ended, and its id."""
    start, end = parse_ts(run["start_date"]), parse_ts(run["end_date"])
    assert start is not None and end is not None, f"run {run['dag_run_id']} did not both start and end: {run}"
    return start, end, run["dag_run_id"]


def assert_one_at_a_time(runs: list[dict]) -> None:
    spans = sorted(run_span(r) for r in runs)
    for (_, end, first), (start, _, second) in itertools.pairwise(spans):
        assert end <= start, f"backfill runs overlapped: {first} ended {end}, {second} started {start}"


def rows_in_backfill_window(perf_db) -> list[dict]:
    return perf_db.rows("data_interval_start >= %s AND data_interval_start < %s",
                           [LOGICAL_DATES[0], LOGICAL_DATES[-1] + ONE_DAY])


def test_backfill_never_measures(airflow, services, perf_db, insight, quiet):
    # ---- 1. nothing stored for these days: every interval is marked no-data, nothing is sent
    runs = run_backfill(airflow)
    assert [parse_ts(r["logical_date"]) for r in runs] == LOGICAL_DATES
    for run, logical in zip(runs, LOGICAL_DATES, strict=True):
        interval = (parse_ts(run["data_interval_start"]), parse_ts(run["data_interval_end"]))
        assert interval == (logical, logical + ONE_DAY)
        states = airflow.task_states(DAG_ID, run["dag_run_id"])
        assert run["state"] == "success" and states["store"] == "skipped", states
        assert not any(key.startswith("benchmark") and state == "success" for key, state in states.items()), states
        log = airflow.task_log(DAG_ID, run["dag_run_id"], "store")
        assert "no data for interval" in log and logical.isoformat() in log, log[-3000:]
    assert_one_at_a_time(runs)
    assert total_hits(services) == dict.fromkeys(SERVICE_PATHS, 0)
    assert rows_in_backfill_window(perf_db) == []
    assert perf_db.rows("run_id = ANY(%s)", [[r["dag_run_id"] for r in runs]]) == []
    assert insight.received == []

    # ---- 2. history measured by the nightly runs of those days, then a budget change
    seeded = [
        measured_row(service, SERVICE_PATHS[service], spread(centre),
                     run_id=f"scheduled__{(logical + ONE_DAY).isoformat()}", run_type="scheduled",
                     interval=(logical, logical + ONE_DAY), logical_date=logical,
                     measured_at=logical + ONE_DAY + (ONE_DAY / 144))
        for logical in LOGICAL_DATES for service, centre in SEEDED.items()
    ]
    assert perf_db.seed(seeded) == len(seeded)
    before = {row["id"]: row for row in rows_in_backfill_window(perf_db)}
    assert {row["verdict"] for row in before.values()} == {"pass"}
    total_before = perf_db.count()

    conf = {"budget_p95_ms": NEW_BUDGET_MS, "fail_on_violation": False}
    runs = run_backfill(airflow, "--reprocess-behavior", "completed", "--dag-run-conf", json.dumps(conf))
    assert [parse_ts(r["logical_date"]) for r in runs] == LOGICAL_DATES
    for run in runs:
        states = airflow.task_states(DAG_ID, run["dag_run_id"])
        assert run["state"] == "success", states
        assert states["store"] == "success" and states["budget_violated"] == "success", states
        assert "re-deriving" in airflow.task_log(DAG_ID, run["dag_run_id"], "store")
    assert_one_at_a_time(runs)

    assert total_hits(services) == dict.fromkeys(SERVICE_PATHS, 0), "a backfill sent requests"
    assert perf_db.count() == total_before, "a backfill added rows"
    after = {row["id"]: row for row in rows_in_backfill_window(perf_db)}
    assert after.keys() == before.keys()
    for row_id, row in after.items():
        old = before[row_id]
        expected = "fail" if row["service"] == "runtime" else "pass"
        assert (row["verdict"], float(row["budget_p95_ms"])) == (expected, NEW_BUDGET_MS), row
        assert float(row["p95_ms"]) == pytest.approx(float(old["p95_ms"]), abs=0.011)
        for same in ("run_id", "run_type", "requests", "measured_at", "data_interval_start", "latency_hist"):
            assert row[same] == old[same], same

    posted = {(m["run_id"], m["service"]): m for m in (r.json["metrics"] for r in insight.received)}
    assert set(posted) == {(row["run_id"], row["service"]) for row in after.values()}
    assert {(m["service"], m["verdict"], m["budget_p95_ms"]) for m in posted.values()} == {
        ("registry", "pass", NEW_BUDGET_MS), ("runtime", "fail", NEW_BUDGET_MS)}
