"""The Performance API's change points on real PostgreSQL and SQLite (issue 15): the endpoint's marks
(change points apart from outliers), the overview with confirmed regressions first, and the
acknowledgement, which needs DAG edit access (dependencies overridden; the real server's 403 for a
viewer is tested in tests/integration/test_ui_auth.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from changepoint_rows import nights
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import changepoints as task
from perf_profiler.ui.app import create_app
from perf_profiler.ui.auth import Reader, require_dag_editor, require_dag_reader

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=44)


class User:
    def get_name(self) -> str:
        return "alice"


@pytest.fixture
def stored(metrics_db):
    """/healthz: 30 nights at 100 ms, a spike, then 14 nights at 150 ms; /flat: 45 flat nights."""
    hook = get_hook("perf_metrics_db")
    migrate(hook)
    step = nights([100.0] * 25 + [300.0] + [100.0] * 4 + [150.0] * 15, start=START)
    flat = nights([100.0] * 45, seed=3, endpoint="/flat", start=START)
    upsert_metrics(hook, [*step, *flat])
    task.evaluate_changepoints(hook, [step[-1], flat[-1]])
    return step


def client(editable: set[str]) -> TestClient:
    app = create_app()
    app.dependency_overrides[require_dag_reader] = lambda: Reader(user=User(), dag_ids=frozenset({"perf_profiler"}))
    app.dependency_overrides[require_dag_editor] = lambda: Reader(user=User(), dag_ids=frozenset(editable))
    return TestClient(app)


def test_the_endpoint_marks_change_points_and_outliers_apart_and_the_overview_puts_regressions_first(stored):
    with client({"perf_profiler"}) as api:
        series = api.get("/api/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                                  "endpoint": "/healthz", "window": "all"}).json()
        overview = api.get("/api/overview").json()["rows"]
        listed = api.get("/api/regressions").json()["changepoints"]
    marks = {(m["kind"], m["run_id"]): m["state"] for m in series["changepoints"] if m["metric"] == "p95_ms"}
    assert marks[("regression", stored[30]["run_id"])] == "confirmed"
    assert marks[("outlier", stored[25]["run_id"])] == "suspected"
    assert [r["endpoint"] for r in overview] == ["/healthz", "/flat"]
    assert [r["confirmed_regression"] for r in overview] == [True, False]
    assert (listed[0]["kind"], listed[0]["state"], listed[0]["run_id"]) == (
        "regression", "confirmed", stored[30]["run_id"])


def test_acknowledging_needs_edit_access_and_shows_as_acknowledged(stored):
    ack = {"dag_id": "perf_profiler", "service": "registry", "endpoint": "/healthz",
           "run_id": stored[30]["run_id"], "note": "new TLS library, expected"}
    with client(set()) as viewer:
        assert viewer.post("/api/regressions/ack", params=ack).status_code == 403
    with client({"perf_profiler"}) as editor:
        assert editor.post("/api/regressions/ack", params={**ack, "run_id": "manual__none"}).status_code == 404
        answer = editor.post("/api/regressions/ack", params=ack)
        assert answer.status_code == 200 and answer.json()["by"] == "alice"
        listed = editor.get("/api/regressions").json()["changepoints"]
    [regression] = [f for f in listed if f["kind"] == "regression" and f["metric"] == "p95_ms"]
    assert (regression["state"], regression["ack_note"], regression["acknowledged_by"]) == (
        "acknowledged", "new TLS library, expected", "alice")


def test_the_pages_show_the_change_points_and_confirmed_regressions(stored):
    with client({"perf_profiler"}) as api:
        page = api.get("/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                            "endpoint": "/healthz", "window": "all"}).text
        overview = api.get("/").text
    assert 'id="changepoints-table"' in page
    assert (f'data-metric="p95_ms" data-kind="regression" data-state="confirmed" '
            f'data-run-id="{stored[30]["run_id"]}"') in page
    assert (f'data-metric="p95_ms" data-kind="outlier" data-state="suspected" '
            f'data-run-id="{stored[25]["run_id"]}"') in page
    assert overview.index("confirmed regression</span>") < overview.index("/flat")
