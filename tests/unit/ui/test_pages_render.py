"""The Performance pages rendered by the real app on a real SQLite metrics database: the numbers in
their tables are the stored ones, marks (regression, re-derived) follow the rows, every page says
"No data yet" before the migrations, and the static files are served by name only.

The Airflow login is replaced by a fixed ``Reader`` (the auth itself is tested against a real API
server in tests/integration/test_ui_auth.py and tests/browser/)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from perf_profiler.analysis import trends
from perf_profiler.model.identity import make_row_id
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.storage.trends_repo import open_trends
from perf_profiler.ui.app import create_app
from perf_profiler.ui.auth import Reader, require_dag_reader
from trend_rows import row_with_p95

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAG = "perf_profiler"


def client_for(dag_ids: frozenset[str]) -> TestClient:
    app = create_app()
    app.dependency_overrides[require_dag_reader] = lambda: Reader(user=None, dag_ids=dag_ids)
    return TestClient(app)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, sqlite_path: str) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", json.dumps({"conn_type": "sqlite", "host": sqlite_path}))
    return get_hook("perf_metrics_db")


def seeded(p95_ms: float, days_ago: int, endpoint: str, **extra: Any) -> dict[str, Any]:
    row = row_with_p95(p95_ms, NOW - timedelta(days=days_ago), endpoint)
    row.update(extra)
    row["id"] = make_row_id(row["tenant_id"], row["dag_id"], row["run_id"], row["service"], row["endpoint"])
    return row


@pytest.fixture
def stored(hook: Any) -> dict[str, Any]:
    """/healthz: 25 daily runs, the last a recorded regression, one re-derived; /upload fails its budget."""
    healthz = [seeded(100.0 + i % 3, 24 - i, "/healthz") for i in range(24)] + [seeded(300.0, 0, "/healthz")]
    healthz[10].update(origin="rederived", rederived_at=NOW.isoformat())
    upload = [seeded(900.0, 2 - i, "/upload") for i in range(3)]
    migrate(hook)
    upsert_metrics(hook, healthz + upload)
    with open_trends(hook) as repo:
        repo.record_regression(healthz[-1], trends.Baseline(101, 1, 111, 20))
    rows = {(r["endpoint"], r["run_id"]): r for r in fetch_metrics(hook)}
    return {"rows": rows, "healthz": healthz, "upload": upload}


def cells(html: str, table_id: str) -> list[dict[str, str]]:
    """Each body row of table ``table_id``: data-col -> data-value (plus the row's own data-* attributes)."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table, f"no table {table_id}"
    out = []
    for tr in re.findall(r"<tr(.*?)>(.*?)</tr>", table.group(0).split("<tbody>")[1], re.S):
        row = dict(re.findall(r'data-([\w-]+)="([^"]*)"', tr[0]))
        row.update(re.findall(r'data-col="(\w+)" data-value="([^"]*)"', tr[1]))
        out.append(row)
    return out


def test_overview_shows_the_stored_numbers_worst_first(stored: dict[str, Any]) -> None:
    html = client_for(frozenset({DAG})).get("/", params={"tenant": "default"}).text
    rows = cells(html, "overview-table")
    assert [r["endpoint"] for r in rows] == ["/upload", "/healthz"]  # the failing one first
    latest = stored["rows"][("/healthz", stored["healthz"][-1]["run_id"])]
    healthz = rows[1]
    for col in ("p50_ms", "p95_ms", "p99_ms", "throughput", "error_rate", "budget_p95_ms"):
        assert float(healthz[col]) == pytest.approx(float(latest[col]), rel=1e-12), col
    assert healthz["open_regression"] == "true" and 'class="regression"' in html
    assert float(healthz["headroom_ms"]) == pytest.approx(latest["budget_p95_ms"] - latest["p95_ms"])
    assert rows[0]["verdict"] == "fail" and rows[0]["open_regression"] == "false"


def test_endpoint_page_marks_regressions_and_rederived_points(stored: dict[str, Any]) -> None:
    params = {"tenant": "default", "dag_id": DAG, "service": "registry", "endpoint": "/healthz", "window": "all"}
    html = client_for(frozenset({DAG})).get("/endpoint", params=params).text
    rows = cells(html, "points-table")
    assert len(rows) == 25
    by_run = {r["run-id"]: r for r in rows}
    for seeded_row in stored["healthz"]:
        row, db = by_run[seeded_row["run_id"]], stored["rows"][("/healthz", seeded_row["run_id"])]
        assert float(row["p95_ms"]) == pytest.approx(float(db["p95_ms"]), rel=1e-12)
        assert row["origin"] == db["origin"]
    assert by_run[stored["healthz"][-1]["run_id"]]["regression"] == "true"
    assert [r["run-id"] for r in rows if r["origin"] == "rederived"] == [stored["healthz"][10]["run_id"]]
    seven = client_for(frozenset({DAG})).get("/endpoint", params={**params, "window": "7d"}).text
    assert len(cells(seven, "points-table")) == 7  # runs 6..0 days ago


def test_run_page_lists_the_rows_of_one_run(stored: dict[str, Any]) -> None:
    run_id = stored["upload"][-1]["run_id"]
    html = client_for(frozenset({DAG})).get("/run", params={"dag_id": DAG, "run_id": run_id}).text
    rows = cells(html, "run-table")
    assert [(r["endpoint"], r["verdict"]) for r in rows] == [("/healthz", "pass"), ("/upload", "fail")]
    for row in rows:
        assert float(row["p95_ms"]) == pytest.approx(float(stored["rows"][(row["endpoint"], run_id)]["p95_ms"]))


def test_a_dag_the_user_may_not_read_shows_no_rows(stored: dict[str, Any]) -> None:
    client = client_for(frozenset({"another_dag"}))
    assert "No data yet" in client.get("/").text
    run_id = stored["upload"][-1]["run_id"]
    assert "No data yet" in client.get("/run", params={"dag_id": DAG, "run_id": run_id}).text


@pytest.mark.parametrize("path", ["/", "/endpoint?dag_id=d&service=s&endpoint=/e", "/run?dag_id=d&run_id=r"])
def test_before_the_migrations_every_page_says_no_data_yet(hook: Any, path: str) -> None:
    response = client_for(frozenset({DAG, "d"})).get(path)
    assert response.status_code == 200 and "No data yet" in response.text


def test_static_files_by_known_name_only() -> None:
    client = client_for(frozenset({DAG}))
    assert "Plotly" in client.get("/static/endpoint.js").text
    plotly = client.get("/static/vendor/plotly.min.js")
    assert plotly.status_code == 200 and plotly.text.lstrip().startswith("/**") and "plotly.js v" in plotly.text[:200]
    for name in ("../pages.py", "..%2Fpages.py", "missing.js", "templates"):
        assert client.get(f"/static/{name}").status_code == 404


def test_the_tenant_selector_filters_the_overview(hook: Any, stored: dict[str, Any]) -> None:
    acme = seeded(50.0, 0, "/acme-only", tenant_id="acme")
    upsert_metrics(hook, [acme])
    client = client_for(frozenset({DAG}))
    default_page, acme_page = client.get("/").text, client.get("/", params={"tenant": "acme"}).text
    assert re.findall(r'<option value="(\w+)"', default_page) == ["acme", "default"]
    assert '<option value="acme" selected>' in acme_page
    assert [r["endpoint"] for r in cells(acme_page, "overview-table")] == ["/acme-only"]
    assert "/acme-only" not in default_page


def test_the_endpoint_table_is_capped_but_the_count_is_not(stored: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from perf_profiler.ui import pages

    monkeypatch.setattr(pages, "MAX_TABLE_ROWS", 5)
    params = {"dag_id": DAG, "service": "registry", "endpoint": "/healthz", "window": "all"}
    html = client_for(frozenset({DAG})).get("/endpoint", params=params).text
    rows = cells(html, "points-table")
    assert [r["run-id"] for r in rows] == [r["run_id"] for r in reversed(stored["healthz"])][:5]
    assert "25 in all" in html and "the latest 5" in html
