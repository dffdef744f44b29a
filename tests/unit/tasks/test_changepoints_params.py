"""perf_trends judges each series with its endpoint's ``regressions`` parameters (issue 15, point 7) and
judges the error-rate series (point 1), on real PostgreSQL and SQLite.

The parameters travel in the ``perf_metrics`` Asset event: ``store`` puts the run's resolved detector
parameters (those not default) in its extras; ``analyse`` reads them (``tasks.changepoints.detector_params``).
"""
from __future__ import annotations

import pytest

from changepoint_rows import nights
from perf_profiler.model.identity import RunIdentity
from perf_profiler.model.targets import parse_targets
from perf_profiler.storage.changepoints_repo import open_changepoints
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import changepoints as task
from perf_profiler.tasks import trends
from perf_profiler.tasks.persist import asset_extra, stored_summary

CONFIG = {
    "version": 1,
    "services": [
        {"name": "registry", "base_url": "http://127.0.0.1:9001", "endpoints": [{"path": "/healthz"}]},
        {"name": "tolerant", "base_url": "http://127.0.0.1:9002", "regressions": {"min_effect": 0.5},
         "endpoints": [{"path": "/healthz"}]},
    ],
}


@pytest.fixture
def hook(metrics_db):
    db = get_hook("perf_metrics_db")
    migrate(db)
    return db


def event_for(rows: list[dict], config: dict = CONFIG) -> dict:
    """The Asset event ``store`` would emit for the run of ``rows[-1]`` under ``config``."""
    plan = {"mode": "measure", "options": {"fail_on_violation": True},
            "services": [s.model_dump(mode="json") for s in parse_targets(config)]}
    last = rows[-1]
    identity = RunIdentity(dag_id=last["dag_id"], run_id=last["run_id"], run_type="scheduled")
    return asset_extra(stored_summary([r for r in rows if r["run_id"] == last["run_id"]], identity, plan))


def confirmed(hook, service: str, metric: str = "p95_ms") -> list[dict]:
    with open_changepoints(hook) as repo:
        return [f for f in repo.listed() if f["service"] == service and f["metric"] == metric
                and f["kind"] == "regression" and f["state"] == "confirmed"]


def test_a_service_with_min_effect_half_does_not_confirm_a_20_percent_step_the_default_confirms(hook):
    levels = [100.0] * 30 + [120.0] * 8
    strict = nights(levels, seed=21, service="registry")
    tolerant = nights(levels, seed=21, service="tolerant")
    upsert_metrics(hook, strict + tolerant)
    extra = event_for(strict + tolerant)
    assert extra["regressions"] == [["tolerant", "/healthz", {
        "p_value": 0.001, "min_effect": 0.5, "confirm_runs": 3, "min_history": 15, "drift_runs": 30,
        "min_error_rate_effect": 0.005}]], "only the endpoint off the defaults travels"

    trends.analyse_trends([extra])

    [step] = confirmed(hook, "registry")
    assert step["run_id"] == strict[30]["run_id"]
    assert confirmed(hook, "tolerant") == [], "the same +20 % step is below this service's minimum effect"
    methods = dict(hook.get_records("SELECT service, method FROM perf_changepoints WHERE metric = 'p95_ms'"))
    assert "min effect 5.0%" in methods["registry"]
    assert "min effect 50.0%" in methods["tolerant"], "the findings say how they were judged"


def test_events_without_parameters_judge_with_the_defaults(hook):
    tolerant = nights([100.0] * 30 + [120.0] * 8, seed=22, service="tolerant")
    upsert_metrics(hook, tolerant)
    old_event = {"dag_id": "perf_profiler", "tenant_id": "default", "source_run_ids": [tolerant[-1]["run_id"]]}
    trends.analyse_trends([old_event])  # an event stored before the key existed
    assert [f["run_id"] for f in confirmed(hook, "tolerant")] == [tolerant[30]["run_id"]]


def test_a_backfill_event_carries_todays_parameters_and_rejudges_the_history(hook):
    tolerant = nights([100.0] * 30 + [120.0] * 8, seed=23, service="tolerant")
    upsert_metrics(hook, tolerant)
    today = {**CONFIG, "services": [{**CONFIG["services"][1], "regressions": {"min_effect": 0.05}}]}
    trends.analyse_trends([event_for(tolerant, {**CONFIG, "services": [CONFIG["services"][1]]})])
    assert confirmed(hook, "tolerant") == []
    trends.analyse_trends([event_for(tolerant, today)])  # the config changed; a backfill's event re-judges
    assert [f["run_id"] for f in confirmed(hook, "tolerant")] == [tolerant[30]["run_id"]]


def test_the_error_rate_series_is_judged_stored_and_notified_once(hook):
    history = nights([100.0] * 40, seed=24, error_rates=[0.0] * 30 + [0.02] * 10)
    upsert_metrics(hook, history[:33])
    result = task.evaluate_changepoints(hook, history[32:33])
    [step] = confirmed(hook, "registry", "error_rate")
    assert (step["run_id"], step["confirmed_run_id"]) == (history[30]["run_id"], history[32]["run_id"])
    assert step["effect"] == pytest.approx(0.02, abs=0.005)
    assert [(n["metric"], n["run_id"]) for n in result["notify"]] == [("error_rate", history[30]["run_id"])]
    with pytest.raises(Exception, match="1 new confirmed regression"):
        task.notify_regressions(result)
    upsert_metrics(hook, history)
    assert task.evaluate_changepoints(hook, history[-1:])["notify"] == []
    assert confirmed(hook, "registry") == [], "the latency did not move"


def test_a_one_night_error_burst_is_an_outlier(hook):
    history = nights([100.0] * 40, seed=25, error_rates=[0.01] * 30 + [0.05] + [0.01] * 9)
    upsert_metrics(hook, history)
    result = task.evaluate_changepoints(hook, history[-1:])
    with open_changepoints(hook) as repo:
        found = [(f["kind"], f["state"], f["run_id"]) for f in repo.listed() if f["metric"] == "error_rate"]
    assert found == [("outlier", "suspected", history[30]["run_id"])]
    assert result["notify"] == []
