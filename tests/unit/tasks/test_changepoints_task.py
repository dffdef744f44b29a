"""perf_trends' change points on real PostgreSQL and SQLite (issue 15): states move suspected ->
confirmed -> recovered, a spike stays an outlier, an acknowledgement survives re-detection and stops
the notification, a re-derived backfill re-evaluates."""
from __future__ import annotations

import math
from datetime import timedelta

import pytest

from changepoint_rows import START, nights, row_with_p95
from perf_profiler.storage.changepoints_repo import open_changepoints
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import changepoints as task


@pytest.fixture
def hook(metrics_db):
    db = get_hook("perf_metrics_db")
    migrate(db)
    return db


def judge(hook, rows: list[dict]) -> dict:
    upsert_metrics(hook, rows)
    return task.evaluate_changepoints(hook, rows[-1:])


def findings(hook, metric: str = "p95_ms") -> dict[tuple[str, str], dict]:
    with open_changepoints(hook) as repo:
        return {(f["kind"], f["run_id"]): f for f in repo.listed() if f["metric"] == metric}


def test_states_move_suspected_confirmed_recovered_and_notify_once(hook):
    history = nights([100.0] * 30 + [150.0] * 3 + [150.0] * 27 + [100.0] * 20)
    first_up = history[30]["run_id"]

    judge(hook, history[:31])  # the first night of the new level: one suspect night
    [suspect] = findings(hook).values()
    assert (suspect["kind"], suspect["state"], suspect["run_id"]) == ("regression", "suspected", first_up)

    result = judge(hook, history[:33])  # two more nights at the new level: confirmed, attributed to night 30
    found = findings(hook)
    assert found["regression", first_up]["state"] == "confirmed"
    assert found["regression", first_up]["confirmed_run_id"] == history[32]["run_id"]
    assert sorted((n["metric"], n["run_id"]) for n in result["notify"]) == [
        ("p50_ms", first_up), ("p95_ms", first_up), ("p99_ms", first_up)], "the whole distribution moved"
    with pytest.raises(Exception, match="3 new confirmed regression"):
        task.notify_regressions(result)

    again = judge(hook, history[:40])
    assert again["notify"] == [] and task.notify_regressions(again) == 0, "notified once, not every night"

    judge(hook, history)  # the level came back
    found = findings(hook)
    assert found["regression", first_up]["state"] == "recovered"
    assert found["regression", first_up]["recovered_run_id"] == history[60]["run_id"]
    assert found["improvement", history[60]["run_id"]]["state"] == "confirmed"


def test_a_one_night_spike_stays_an_outlier(hook):
    history = nights([100.0] * 30 + [300.0] + [100.0] * 10, seed=8)
    result = judge(hook, history)
    found = findings(hook)
    assert [(k, f["state"]) for k, f in found.items()] == [(("outlier", history[30]["run_id"]), "suspected")]
    assert result["notify"] == []


def test_an_acknowledgement_survives_redetection_and_stops_the_notification(hook):
    history = nights([100.0] * 30 + [150.0] * 10, seed=9)
    upsert_metrics(hook, history[:31])
    task.evaluate_changepoints(hook, history[30:31])
    key = {"tenant_id": "default", "dag_id": "perf_profiler", "service": "registry", "endpoint": "/healthz",
           "metric": "p95_ms"}
    with open_changepoints(hook) as repo:
        assert repo.acknowledge(key, history[30]["run_id"], "alice", "known: new TLS library") == 1

    result = judge(hook, history)  # confirmed meanwhile, acknowledged before: never notified
    [found] = [f for f in findings(hook).values() if f["kind"] == "regression"]
    assert (found["state"], found["acknowledged_by"], found["ack_note"]) == (
        "acknowledged", "alice", "known: new TLS library")
    assert "p95_ms" not in {n["metric"] for n in result["notify"]}, "only p50 and p99 were not acknowledged"
    judge(hook, history)
    assert [f["state"] for f in findings(hook).values() if f["kind"] == "regression"] == ["acknowledged"]


def test_a_rederived_backfill_reevaluates_the_change_points(hook):
    history = nights([100.0] * 30 + [150.0] * 10, seed=10)
    judge(hook, history)
    assert any(k[0] == "regression" for k in findings(hook))

    # the backfill re-derives the nights 30.. with what they really measured: no step at all
    rederived = [row_with_p95(100.0 * math.exp(0.005 * (i % 3 - 1)), START + timedelta(days=30 + i),
                              scheduled=True) for i in range(10)]
    judge(hook, rederived)
    assert not any(k[0] == "regression" for k in findings(hook)), "the stale change point was removed"


def test_perf_trends_notifies_in_its_own_task_after_analyse_without_retries():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "dags" / "perf_trends_dag.py"
    spec = importlib.util.spec_from_file_location("perf_trends_dag_notify_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.perf_trends()
    notify = dag.get_task("notify_regressions")
    assert notify.retries == 0, "a retry would alert again"
    assert notify.upstream_task_ids == {"analyse"}
    assert dag.get_task("apply_retention").upstream_task_ids == {"analyse"}


def test_a_change_point_is_news_only_when_a_judged_run_confirmed_it(hook):
    history = nights([100.0] * 30 + [150.0] * 10, seed=12)
    quiet = judge(hook, history)  # judged for night 39: the step was confirmed by night 32, long ago
    assert findings(hook)[("regression", history[30]["run_id"])]["state"] == "confirmed"
    assert quiet["notify"] == [], "an old change point found again (the history window moved) is not news"

    rederived = task.evaluate_changepoints(hook, [history[32]])  # a backfill re-derived the confirming night
    assert {(n["metric"], n["run_id"]) for n in rederived["notify"]} >= {("p95_ms", history[30]["run_id"])}


def test_the_baseline_is_the_level_since_the_latest_change_point(hook):
    from perf_profiler.storage import dashboard_repo
    from perf_profiler.tasks import trends

    history = nights([100.0] * 30 + [150.0] * 7, seed=13)
    upsert_metrics(hook, history)
    task.evaluate_changepoints(hook, history[:-1])  # the step at night 30 is known before night 36 is judged
    found = trends.analyse_trends([{"dag_id": "perf_profiler", "tenant_id": "default",
                                    "source_run_ids": [history[-1]["run_id"]]}])
    # over the last 20 runs (14 at 100 ms) night 36 would be a regression; against its level it is not
    assert found["regressions"] == []
    [row] = dashboard_repo.overview(hook, "default", {"perf_profiler"})
    assert row["baseline_p95_ms"] == pytest.approx(150, rel=0.03)
