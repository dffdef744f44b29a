"""Task bodies on their own: a retried store task updates the same rows, never duplicates."""
from __future__ import annotations

import json

import pytest

from perf_profiler.model.identity import RunIdentity
from perf_profiler.tasks import measure, persist, plan, verdict
from servers import BenchServer


def _plan(url: str) -> dict:
    config = {"services": [{"name": "svc", "base_url": url, "endpoints": [{"path": "/delay/3"}, {"path": "/flaky/5"}],
                            "load": {"requests": 20, "concurrency": 4, "warmup": 0}}]}
    return plan.load_targets(json.dumps(config))


def test_retried_store_updates_rows_in_place(metrics_db):
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics

    identity = RunIdentity(dag_id="perf_profiler", run_id="scheduled__2026-03-01T02:00:00+00:00",
                           run_type="scheduled", data_interval_start="2026-02-28T02:00:00+00:00",
                           data_interval_end="2026-03-01T02:00:00+00:00")
    with BenchServer() as server:
        run_plan = _plan(server.url)
        first = persist.store_metrics([measure.benchmark(run_plan["to_probe"][0])], run_plan, identity)
        rows_before = fetch_metrics(get_hook("perf_metrics_db"))
        second = persist.store_metrics([measure.benchmark(run_plan["to_probe"][0])], run_plan, identity)
        rows_after = fetch_metrics(get_hook("perf_metrics_db"))

    assert first["rows"] == second["rows"] == 2
    assert len(rows_before) == len(rows_after) == 2
    assert {r["id"] for r in rows_before} == {r["id"] for r in rows_after}
    before = {r["endpoint"]: r for r in rows_before}
    after = {r["endpoint"]: r for r in rows_after}
    assert after["/flaky/5"]["measured_at"] > before["/flaky/5"]["measured_at"]
    assert after["/flaky/5"]["created_at"] == before["/flaky/5"]["created_at"]
    assert float(after["/flaky/5"]["error_rate"]) == pytest.approx(0.2)
    assert [v["endpoint"] for v in second["violations"]] == ["/flaky/5"]


def test_branch_choice_and_violation_lines():
    stored = {"rows": 2, "violations": [{"service": "s", "endpoint": "/x", "p95_ms": 950.0, "budget_p95_ms": 800.0,
                                         "error_rate": 0.0, "budget_error_rate": 0.01, "verdict": "fail"}]}
    assert verdict.choose_branch(stored) == "budget_violated"
    assert verdict.choose_branch({**stored, "violations": []}) == "within_budget"
    [line] = verdict.log_violations(stored)
    assert "service=s endpoint=/x p95=950.0ms budget=800ms" in line


def test_backfill_rederives_stored_interval_with_new_budget_and_sends_nothing(metrics_db):
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics

    scheduled = RunIdentity(dag_id="perf_profiler", run_id="scheduled__2026-03-02T02:00:00+00:00",
                            run_type="scheduled", data_interval_start="2026-03-01T02:00:00+00:00",
                            data_interval_end="2026-03-02T02:00:00+00:00")
    backfill = RunIdentity(dag_id="perf_profiler", run_id="backfill__2026-03-02T02:00:00+00:00",
                           run_type="backfill", data_interval_start=scheduled.data_interval_start,
                           data_interval_end=scheduled.data_interval_end)
    with BenchServer() as server:
        measured = _plan(server.url)
        persist.store_metrics([measure.benchmark(measured["to_probe"][0])], measured, scheduled)
        hits = server.stats.total_hits
        strict = plan.load_targets(json.dumps({"services": [{"name": "svc", "base_url": server.url,
            "endpoints": [{"path": "/delay/3", "budget": {"p95_ms": 1}},
                          {"path": "/flaky/5", "budget": {"error_rate": 0.5}}]}]}),
            {}, {}, "backfill")
        assert strict["to_probe"] == [] and strict["mode"] == "rederive"
        before = fetch_metrics(get_hook("perf_metrics_db"))
        stored = persist.store_metrics([], strict, backfill)
        after = fetch_metrics(get_hook("perf_metrics_db"))
        assert server.stats.total_hits == hits, "a backfill sends no request"

    assert len(after) == len(before) == 2
    assert stored["source_run_ids"] == [scheduled.run_id]
    assert {r["endpoint"]: r["verdict"] for r in before} == {"/delay/3": "pass", "/flaky/5": "fail"}
    assert {r["endpoint"]: r["verdict"] for r in after} == {"/delay/3": "fail", "/flaky/5": "pass"}
    assert {r["endpoint"]: r["budget_p95_ms"] for r in after} == {"/delay/3": 1.0, "/flaky/5": 800.0}
    assert [r["p95_ms"] for r in after] == [r["p95_ms"] for r in before]


def test_backfill_of_an_interval_without_data_is_skipped(metrics_db):
    from airflow.sdk.exceptions import AirflowSkipException

    run_plan = plan.load_targets(json.dumps({"services": [{"name": "svc", "base_url": "http://127.0.0.1:9",
                                                           "endpoints": [{"path": "/"}]}]}), {}, {}, "backfill")
    identity = RunIdentity(dag_id="perf_profiler", run_id="backfill__x", run_type="backfill",
                           data_interval_start="2025-01-01T02:00:00+00:00",
                           data_interval_end="2025-01-02T02:00:00+00:00")
    with pytest.raises(AirflowSkipException, match="no data for interval"):
        persist.store_metrics([], run_plan, identity)
