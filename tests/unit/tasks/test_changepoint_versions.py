"""A change point names the release of its new level (issue 15, point 5), on real PostgreSQL and SQLite:
``first_version`` (the first run of the new level's) and ``previous_version`` (the latest stored before it),
in ``perf_changepoints``, the notify log lines, ``perf-profiler regressions list``, ``/api/regressions`` and
the endpoint page."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from changepoint_rows import nights
from perf_profiler.cli.main import main
from perf_profiler.storage.changepoints_repo import open_changepoints
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import changepoints as task
from perf_profiler.ui.app import create_app
from perf_profiler.ui.auth import Reader, require_dag_reader

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=40)


class User:
    def get_name(self) -> str:
        return "alice"


@pytest.fixture
def released(metrics_db):
    """30 nights of release 1.0 at 100 ms (the last one's version unread), then 1.1 at 150 ms."""
    hook = get_hook("perf_metrics_db")
    migrate(hook)
    history = nights([100.0] * 30 + [150.0] * 6, seed=31, start=START)
    for i, row in enumerate(history):
        row["service_version"] = None if i == 29 else "1.0" if i < 30 else "1.1"
    upsert_metrics(hook, history)
    return hook, history


def test_the_change_point_names_its_release_and_the_one_before(released, caplog):
    hook, history = released
    upsert_metrics(hook, history[:33])
    with caplog.at_level(logging.WARNING, logger=task.__name__):
        result = task.evaluate_changepoints(hook, history[32:33])
    with open_changepoints(hook) as repo:
        [found] = [f for f in repo.listed() if f["metric"] == "p95_ms" and f["kind"] == "regression"]
    assert (found["run_id"], found["first_version"], found["previous_version"]) == (history[30]["run_id"], "1.1",
                                                                                  "1.0")
    assert any("release 1.1 (was 1.0)" in r.getMessage() for r in caplog.records), "the notify line names it"
    [p95] = [n for n in result["notify"] if n["metric"] == "p95_ms"]
    assert (p95["first_version"], p95["previous_version"]) == ("1.1", "1.0")
    with caplog.at_level(logging.ERROR, logger=task.__name__), pytest.raises(Exception, match="new confirmed"):
        task.notify_regressions(result)
    assert any("from run " + history[30]["run_id"] + ", release 1.1 (was 1.0)" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


def test_list_api_and_page_show_the_release(released, capsys):
    hook, history = released
    task.evaluate_changepoints(hook, history[-1:])
    assert main(["regressions", "list"]) == 0
    out = capsys.readouterr().out
    assert f"p95_ms run {history[30]['run_id']} " in out and "release 1.1 (was 1.0)" in out

    app = create_app()
    app.dependency_overrides[require_dag_reader] = lambda: Reader(user=User(), dag_ids=frozenset({"perf_profiler"}))
    with TestClient(app) as api:
        listed = api.get("/api/regressions").json()["changepoints"]
        series = api.get("/api/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                                  "endpoint": "/healthz", "window": "all"}).json()
        page = api.get("/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                            "endpoint": "/healthz", "window": "all"})
    [first] = [f for f in listed if f["metric"] == "p95_ms" and f["kind"] == "regression"]
    assert (first["first_version"], first["previous_version"]) == ("1.1", "1.0")
    marks = [m for m in series["changepoints"] if m["kind"] == "regression" and m["metric"] == "p95_ms"]
    assert marks[0]["first_version"] == "1.1", "the chart's mark tooltip reads it"
    assert page.status_code == 200 and "1.1 (was 1.0)" in page.text


def test_a_re_detection_rewrites_the_versions(released):
    hook, history = released
    task.evaluate_changepoints(hook, history[-1:])
    history[30]["service_version"] = "1.1-hotfix"  # e.g. a row re-stored with its release
    upsert_metrics(hook, history[30:31])
    task.evaluate_changepoints(hook, history[-1:])
    with open_changepoints(hook) as repo:
        [found] = [f for f in repo.listed() if f["metric"] == "p95_ms" and f["kind"] == "regression"]
    assert found["first_version"] == "1.1-hotfix"
