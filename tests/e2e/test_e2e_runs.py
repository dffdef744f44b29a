"""perf_profiler under a real scheduler: the nightly run, the UI trigger form, bad conf over REST, the gate.

Each test reads the results where a user would: the rows in perf_metrics, the run and task
states over the REST API, the task logs, and what the local services and the Insight Engine saw.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from perf_profiler.model.caps import MAX_REQUESTS

from .e2e_env import DAG_ID, DEFAULT_REQUESTS, SERVICE_PATHS, total_hits
from .metrics_db import parse_ts

pytestmark = pytest.mark.timeout(900)

UI_SERVICE = "runtime"
UI_REQUESTS = 25


def is_trigger_post(response: Any) -> bool:
    """Whether a browser response answers the form's POST that creates a run of the DAG."""
    return response.request.method == "POST" and response.url.endswith(f"/dags/{DAG_ID}/dagRuns")


def test_nightly_run_stores_its_interval_and_run_type(airflow, perf_db):
    """Unpausing made the scheduler create the latest nightly run; its rows carry the interval."""
    run = airflow.nightly_run
    assert run is not None, "the scheduler created no scheduled run of perf_profiler on unpause"
    assert run["state"] == "success", airflow.task_states(DAG_ID, run["dag_run_id"])
    start, end = parse_ts(run["data_interval_start"]), parse_ts(run["data_interval_end"])
    assert (start.hour, start.minute, (end - start).total_seconds()) == (2, 0, 86400.0)

    rows = perf_db.rows("run_id = %s", [run["dag_run_id"]])
    assert sorted(r["service"] for r in rows) == sorted(SERVICE_PATHS)
    for row in rows:
        assert row["run_type"] == "scheduled"
        assert row["data_interval_start"] == start and row["data_interval_end"] == end
        assert row["logical_date"] == parse_ts(run["logical_date"])
        assert row["requests"] == DEFAULT_REQUESTS and row["latency_hist"]


def test_trigger_form_in_browser(airflow, page, services, perf_db, insight, artifacts, quiet):
    """Trigger form: pick one service and a request count, submit, wait for success, check the rows."""
    page.set_viewport_size({"width": 1600, "height": 1700})  # the whole dialog in the screenshots
    page.goto(f"/dags/{DAG_ID}", wait_until="networkidle")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")

    # Targets: a multi-select of the configured services, all chosen by default; keep one.
    dialog.get_by_role("button", name="Targets").click()
    offered = dialog.locator("input[name=element_services]")
    offered.first.wait_for(state="attached")
    names = [offered.nth(i).input_value() for i in range(offered.count())]
    assert sorted(names) == sorted(SERVICE_PATHS), "the form offers the configured services, all by default"
    for name in names:
        if name != UI_SERVICE:
            dialog.get_by_label(f"Remove {name}").click()
    assert [offered.nth(i).input_value() for i in range(offered.count())] == [UI_SERVICE]
    chooser = dialog.get_by_role("combobox", name="Select one or multiple values")
    chooser.fill("http://127.0.0.1:9/not-a-target")  # only configured names can be chosen
    page.get_by_text("No options", exact=True).wait_for()
    chooser.press("Enter")
    chooser.fill("")
    chooser.evaluate("element => element.blur()")  # closes the menu (Escape would close the dialog)
    assert [offered.nth(i).input_value() for i in range(offered.count())] == [UI_SERVICE]
    page.screenshot(path=str(artifacts / "e2e-trigger-form-targets.png"))

    # Load: the request count (the field carries the engine's safety cap as its maximum).
    dialog.get_by_role("button", name="Load").click()
    requests_field = dialog.get_by_label("Requests per endpoint")
    assert requests_field.get_attribute("aria-valuemax") == str(MAX_REQUESTS)
    requests_field.fill(str(UI_REQUESTS))
    requests_field.press("Tab")
    page.screenshot(path=str(artifacts / "e2e-trigger-form-load.png"))

    # The conf the form will submit, as the form shows it.
    dialog.get_by_role("button", name="Advanced Options").click()
    editor = dialog.get_by_label("Editor content")
    editor.wait_for()
    shown = dialog.locator(".view-lines").inner_text() if dialog.locator(".view-lines").count() else ""
    page.screenshot(path=str(artifacts / "e2e-trigger-form.png"))
    assert re.search(rf'"services":\s*\[\s*"{UI_SERVICE}"\s*\]', shown), shown
    assert re.search(rf'"requests":\s*{UI_REQUESTS}\b', shown), shown

    with page.expect_response(is_trigger_post) as sent:
        dialog.get_by_role("button", name="Trigger").click()
    assert sent.value.status == 200, sent.value.text()
    created = sent.value.json()
    run_id = created["dag_run_id"]
    assert created["conf"]["services"] == [UI_SERVICE] and created["conf"]["requests"] == UI_REQUESTS
    assert created["run_type"] == "manual"

    run = airflow.wait_for_run(DAG_ID, run_id, timeout=300)
    assert run["state"] == "success", airflow.task_states(DAG_ID, run_id)

    page.set_viewport_size({"width": 1600, "height": 1000})
    page.goto(f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}", wait_until="networkidle")
    page.get_by_text(run_id, exact=True).first.wait_for()
    page.get_by_text("Success", exact=True).first.wait_for()
    page.get_by_text("load_targets", exact=True).first.wait_for()
    divider = page.get_by_role("separator").first  # widen the grid so every run's column shows
    divider.focus()
    for _ in range(3):
        divider.press("ArrowRight")
    page.screenshot(path=str(artifacts / "e2e-grid.png"))

    rows = perf_db.rows("run_id = %s", [run_id])
    assert [(r["service"], r["endpoint"]) for r in rows] == [(UI_SERVICE, SERVICE_PATHS[UI_SERVICE])]
    row = rows[0]
    assert row["requests"] == UI_REQUESTS and row["ok_count"] == UI_REQUESTS
    assert row["run_type"] == "manual" and row["verdict"] == "pass"
    assert row["data_interval_start"] == parse_ts(run["data_interval_start"])
    assert row["data_interval_end"] == parse_ts(run["data_interval_end"])
    hits = total_hits(services)
    assert hits == {name: (UI_REQUESTS if name == UI_SERVICE else 0) for name in SERVICE_PATHS}, hits
    posted = [r.json["metrics"] for r in insight.received if r.json["metrics"]["run_id"] == run_id]
    assert [(m["service"], m["requests"]) for m in posted] == [(UI_SERVICE, UI_REQUESTS)]


def test_trigger_form_refuses_a_bad_value(airflow, page):
    """A value outside the schema is refused: the form shows the param's error, no run is created."""
    before = len(airflow.dag_runs(DAG_ID))
    page.goto(f"/dags/{DAG_ID}", wait_until="networkidle")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Budget").click()
    tenant = dialog.locator("input[name=element_tenant]")
    tenant.fill("no spaces allowed!")
    tenant.press("Tab")
    with page.expect_response(is_trigger_post) as sent:
        dialog.get_by_role("button", name="Trigger").click()
    assert sent.value.status == 400
    dialog.get_by_text(re.compile(r"param tenant")).first.wait_for()
    assert len(airflow.dag_runs(DAG_ID)) == before


def test_rest_api_bad_conf_fails_the_first_task_naming_the_param(airflow, services, perf_db, quiet):
    """Conf that the API accepts but the config refuses fails load_targets, naming the param."""
    cases = {
        "requests_per_endpoint": {"requests_per_endpoint": 5},   # not a param of this DAG
        "services": {"services": ["nope"]},                      # not a configured service
    }
    for param, conf in cases.items():
        response = airflow.trigger(DAG_ID, conf, expect=(200, 400))
        if response.status_code == 400:  # refused before a run exists: the message must name it too
            assert param in response.json()["detail"], response.text
            continue
        run_id = response.json()["dag_run_id"]
        run = airflow.wait_for_run(DAG_ID, run_id, timeout=180)
        states = airflow.task_states(DAG_ID, run_id)
        assert run["state"] == "failed" and states["load_targets"] == "failed", states
        log = airflow.task_log(DAG_ID, run_id, "load_targets")
        assert re.search(rf"param '{param}'", log), log[-3000:]
        assert perf_db.rows("run_id = %s", [run_id]) == []

    # a value outside the schema never becomes a run: the API answers 400 naming the param
    refused = airflow.trigger(DAG_ID, {"requests": 0}, expect=400)
    assert "requests" in refused.json()["detail"], refused.text
    assert total_hits(services) == dict.fromkeys(SERVICE_PATHS, 0)


def test_gate_fails_the_run_after_storing_and_posting(airflow, perf_db, insight, quiet):
    """fail_on_violation: the final gate fails the run once the rows are stored and posted."""
    conf = {"services": ["registry"], "budget_p95_ms": 0.01, "fail_on_violation": True}
    run_id = airflow.trigger(DAG_ID, conf).json()["dag_run_id"]
    run = airflow.wait_for_run(DAG_ID, run_id, timeout=300)
    states = airflow.task_states(DAG_ID, run_id)
    assert run["state"] == "failed", states
    assert states["gate"] == "failed", states
    for task in ("store", "budget_violated", "post_to_insight"):
        assert states[task] == "success", states
    assert states["within_budget"] == "skipped", states
    assert "P-6 budget violated" in airflow.task_log(DAG_ID, run_id, "gate")

    rows = perf_db.rows("run_id = %s", [run_id])
    assert [(r["service"], r["verdict"], float(r["budget_p95_ms"])) for r in rows] == [("registry", "fail", 0.01)]
    posted = [r.json["metrics"] for r in insight.received if r.json["metrics"]["run_id"] == run_id]
    assert [(m["service"], m["verdict"]) for m in posted] == [("registry", "fail")], json.dumps(posted)
