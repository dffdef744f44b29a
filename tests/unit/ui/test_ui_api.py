"""The JSON API of the Performance view through FastAPI's TestClient on real PostgreSQL and SQLite.

The reader dependency is overridden with a ``Reader`` of chosen DAG ids (authentication itself is
tested against a real Airflow API server in tests/integration/test_ui_auth.py); the database is
the ``perf_metrics_db`` connection, as in a deployment.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from perf_profiler.analysis.spectrum import percentile_spectrum
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.ui.app import create_app
from perf_profiler.ui.auth import Reader, require_dag_reader
from trend_rows import row_with_p95

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def client_for(dag_ids: set[str]) -> TestClient:
    app = create_app()
    app.dependency_overrides[require_dag_reader] = lambda: Reader(user=None, dag_ids=frozenset(dag_ids))
    return TestClient(app)


@pytest.fixture
def client(metrics_db: str) -> Iterator[TestClient]:
    with client_for({"perf_profiler"}) as test_client:
        yield test_client


@pytest.fixture
def stored(metrics_db: str) -> list[dict[str, Any]]:
    """40 daily runs of registry /healthz (the newest now), migrated and stored; returns the stored rows."""
    hook = get_hook()
    migrate(hook)
    upsert_metrics(hook, [row_with_p95(100.0 + i, NOW - timedelta(days=39 - i)) for i in range(40)])
    return fetch_metrics(hook)


def test_without_a_migrated_database_every_answer_says_no_data(client):
    assert client.get("/api/tenants").json() == {"tenants": []}
    assert client.get("/api/overview").json() == {"tenant": "default", "has_data": False, "rows": []}
    answer = client.get("/api/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                                 "endpoint": "/healthz"})
    assert answer.status_code == 200 and answer.json()["has_data"] is False and answer.json()["points"] == []
    run = client.get("/api/run", params={"dag_id": "perf_profiler", "run_id": "manual__x"}).json()
    assert run == {"dag_id": "perf_profiler", "run_id": "manual__x", "has_data": False, "rows": []}


def test_overview_endpoint_and_run_answer_with_the_stored_numbers(client, stored):
    latest = max(stored, key=lambda r: r["measured_at"])
    overview = client.get("/api/overview", params={"tenant": "default", "unknown": "ignored"}).json()
    assert overview["has_data"] is True and len(overview["rows"]) == 1
    row = overview["rows"][0]
    assert (row["run_id"], row["p95_ms"], row["measured_at"]) == (latest["run_id"], latest["p95_ms"],
                                                                   latest["measured_at"])
    assert len(row["trend"]) == 30

    week = client.get("/api/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                               "endpoint": "/healthz", "window": "7d"}).json()
    everything = client.get("/api/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                                     "endpoint": "/healthz", "window": "all"}).json()
    assert [len(week["points"]), len(everything["points"])] == [7, 40]  # 7 days back: runs 0..6 days old
    assert everything["points"][-1]["p95_ms"] == latest["p95_ms"] and everything["window"] == "all"

    run = client.get("/api/run", params={"dag_id": "perf_profiler", "run_id": latest["run_id"]}).json()
    assert [(r["endpoint"], r["p95_ms"]) for r in run["rows"]] == [("/healthz", latest["p95_ms"])]
    assert client.get("/api/tenants").json() == {"tenants": ["default"]}


def test_a_distribution_is_the_percentile_spectrum_of_the_stored_histogram(client, stored):
    row = stored[0]
    params = {"dag_id": "perf_profiler", "service": "registry", "endpoint": "/healthz", "run_id": row["run_id"]}
    answer = client.get("/api/distribution", params=params).json()
    spectrum = percentile_spectrum(row["latency_hist"])
    assert answer["total_count"] == spectrum.total_count == 100
    assert answer["spectrum"][-1] == {"percentile": 100.0, "inverse_tail": None,
                                      "latency_ms": pytest.approx(row["max_ms"], rel=1e-3)}
    assert answer["spectrum"][0]["percentile"] == 0.0
    levels = [point["percentile"] for point in answer["spectrum"]]
    assert levels == sorted(levels) and len(levels) == len(spectrum.points)
    missing = client.get("/api/distribution", params={**params, "run_id": "manual__nope"})
    assert missing.status_code == 404


def test_a_run_without_its_histogram_is_404(client, stored):
    hook = get_hook()
    conn = hook.get_conn()
    try:
        conn.cursor().execute("UPDATE perf_metrics SET latency_hist = NULL")
        conn.commit()
    finally:
        conn.close()
    params = {"dag_id": "perf_profiler", "service": "registry", "endpoint": "/healthz",
              "run_id": stored[0]["run_id"]}
    assert client.get("/api/distribution", params=params).status_code == 404


def test_a_dag_the_user_may_not_read_shows_none_of_its_rows(metrics_db, stored):
    with client_for({"another_dag"}) as other:
        assert other.get("/api/overview").json()["rows"] == []
        assert other.get("/api/tenants").json() == {"tenants": []}
        assert other.get("/api/run", params={"dag_id": "perf_profiler",
                                             "run_id": stored[0]["run_id"]}).json()["rows"] == []
        assert other.get("/api/endpoint", params={"dag_id": "perf_profiler", "service": "registry",
                                                  "endpoint": "/healthz", "window": "all"}).json()["points"] == []


@pytest.mark.parametrize(("path", "params", "missing"), [
    ("/api/endpoint", {"dag_id": "d", "service": "s", "endpoint": "/e", "window": "2d"}, "window"),
    ("/api/endpoint", {"service": "s", "endpoint": "/e"}, "dag_id"),
    ("/api/distribution", {"dag_id": "d", "service": "s", "endpoint": "/e"}, "run_id"),
    ("/api/run", {"dag_id": "d"}, "run_id"),
])
def test_bad_or_missing_parameters_are_422_naming_them(client, path, params, missing):
    answer = client.get(path, params=params)
    assert answer.status_code == 422
    assert missing in [error["loc"][-1] for error in answer.json()["detail"]]


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_fastapi_docs_and_schema_are_not_served(path):
    with TestClient(create_app()) as anonymous:
        assert anonymous.get(path).status_code == 404


def test_anonymous_requests_are_refused_before_any_data(metrics_db, stored):
    """No credential at all: refused before the auth manager is asked (tokens: test_ui_auth.py)."""
    with TestClient(create_app()) as anonymous:
        for route in ("/api/tenants", "/api/overview", "/api/run?dag_id=perf_profiler&run_id=x"):
            answer = anonymous.get(route)
            assert answer.status_code in (401, 403) and "rows" not in answer.text, route


def test_without_the_metrics_connection_every_answer_says_no_data(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PERF_METRICS_DB", raising=False)
    with client_for({"perf_profiler"}) as client:
        assert client.get("/api/overview").json() == {"tenant": "default", "has_data": False, "rows": []}
        assert client.get("/api/tenants").json() == {"tenants": []}
        params = {"dag_id": "perf_profiler", "service": "registry", "endpoint": "/healthz", "run_id": "r"}
        assert client.get("/api/distribution", params=params).status_code == 404
