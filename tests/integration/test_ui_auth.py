"""The Performance app behind Airflow's authentication, on a REAL Airflow API server.

One ``airflow api-server`` (tests/e2e/airflow_stack.py, API server only) with simple auth manager
users ``viewer`` (role viewer) and ``admin`` instead of ALL_ADMINS, this repository's plugins
folder (so the plugin mounts ``create_app()`` at ``/perf-profiler``), and a ``perf_metrics_db``
seeded with rows of the DAG ``perf_profiler`` (known to Airflow after ``airflow dags reserialize``)
and of ``retired_dag`` (no such DAG: the auth manager lets no one read it).

The routes are taken from ``create_app().routes``, so a route added later is checked too:
anonymous, a malformed token, a token signed with another key and an expired token are refused
(401/403, never data); a viewer's token (or the UI's cookie) gets 200 on every read route.

Per-DAG limits: SimpleAuthManager authorizes by role only (``is_authorized_dag`` ignores the DAG),
so a viewer may read every DAG Airflow knows. What it cannot read here is a DAG Airflow does not
know (``get_authorized_dag_ids`` lists DAGs of the metadata DB), which shows the server-side
``dag_id`` filter on the real server; a Reader limited to chosen DAG ids is tested with the
dependency overridden in tests/unit/ui/test_ui_api.py.
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi.routing import APIRoute

from perf_profiler.model.identity import make_row_id
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.ui import URL_PREFIX
from perf_profiler.ui.app import create_app
from throwaway_pg import throwaway_databases
from trend_rows import row_with_p95

# The e2e harness, by its path from the repository root (the root is not always on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.e2e.airflow_stack import AirflowStack

NOW = datetime.now(timezone.utc).replace(microsecond=0)
LATEST_RUN = f"manual__{NOW.isoformat()}"
#: A value for every query or path parameter a route of the app may take (a new one must be added);
#: ``name``: a file of ui.assets' static route.
SAMPLE = {"tenant": "default", "dag_id": "perf_profiler", "service": "registry", "endpoint": "/healthz",
          "run_id": LATEST_RUN, "window": "all", "name": "perf.css", "note": "known",
          "metric": "p95_ms"}
REFUSED = (401, 403)


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, str]]:
    with throwaway_databases("perf_uiauth") as uris:
        yield uris


def _seed(metrics_uri: str) -> None:
    """Ten daily runs of perf_profiler's registry /healthz (the last now) and one of retired_dag."""
    rows = [row_with_p95(100.0 + i, NOW - timedelta(days=9 - i)) for i in range(10)]
    retired = row_with_p95(55.0, NOW)
    retired.update(dag_id="retired_dag", id=make_row_id("default", "retired_dag", retired["run_id"], "registry",
                                                        "/healthz"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_PERF_METRICS_DB", metrics_uri)
        hook = get_hook()
        migrate(hook)
        upsert_metrics(hook, [*rows, retired])


@pytest.fixture(scope="module")
def stack(databases: dict[str, str]) -> Iterator[AirflowStack]:
    _seed(databases["metrics"])
    home = Path(tempfile.mkdtemp(prefix="perf-uiauth-"))
    airflow = AirflowStack(home, databases["metadata"], components=("api-server",),
                           users={"viewer": "viewer", "admin": "admin"},
                           extra_env={"AIRFLOW_CONN_PERF_METRICS_DB": databases["metrics"]})
    try:
        airflow.start()
        airflow.airflow("dags", "reserialize", timeout=300)  # DagModel rows: what a viewer may read
        yield airflow
    except BaseException:
        print(airflow.diagnostics())
        raise
    finally:
        airflow.stop()


def routes() -> list[tuple[str, str, str]]:
    """(method, path, name) of every route of the app, as served under the plugin's prefix."""
    found: list[tuple[str, str, str]] = []
    for route in create_app().routes:
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        found.extend((method, URL_PREFIX + getattr(route, "path", ""), getattr(route, "name", "")) for method in methods
                     if method != "HEAD")
    return found


def request_of(path: str) -> tuple[str, dict[str, str]]:
    """The URL (path parameters filled from SAMPLE) and the query parameters the route declares."""
    route = next(r for r in create_app().routes if URL_PREFIX + getattr(r, "path", "") == path)
    params: dict[str, str] = {}
    if isinstance(route, APIRoute):
        for param in route.dependant.path_params:
            path = path.replace("{" + param.name + "}", SAMPLE.get(param.name, "x"))
        for param in route.dependant.query_params:
            assert param.name in SAMPLE, f"{path}: add a sample value for the query parameter {param.name!r}"
            params[param.name] = SAMPLE[param.name]
    return path, params


def expired_copy(token: str, secret: str) -> str:
    """``token`` with its times moved an hour into the past, signed again with the server's key."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    past = int(time.time()) - 3600
    claims.update(iat=past, nbf=past, exp=past + 60)
    extra = {"kid": header["kid"]} if "kid" in header else None
    return jwt.encode(claims, secret, algorithm=header["alg"], headers=extra)


def test_the_app_has_routes_to_check():
    paths = {path for _, path, _ in routes()}
    assert {f"{URL_PREFIX}/api/overview", f"{URL_PREFIX}/api/endpoint", f"{URL_PREFIX}/api/distribution",
            f"{URL_PREFIX}/api/run", f"{URL_PREFIX}/api/tenants"} <= paths


def test_every_route_refuses_anonymous_and_bad_tokens(stack):
    viewer = stack.token("viewer")
    forged = jwt.encode({"sub": "1", "exp": int(time.time()) + 600}, "not-the-key" * 6, algorithm="HS512")
    bad = {"anonymous": {}, "garbage": {"Authorization": "Bearer not-a-token"},
           "other key": {"Authorization": f"Bearer {forged}"},
           "expired": {"Authorization": f"Bearer {expired_copy(viewer, stack.env['AIRFLOW__API_AUTH__JWT_SECRET'])}"},
           "garbage cookie": {"Cookie": "_token=not-a-token"}}
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        for method, path, _ in routes():
            url, params = request_of(path)
            for what, headers in bad.items():
                answer = client.request(method, url, params=params, headers=headers)
                assert answer.status_code in REFUSED, (what, method, url, answer.status_code, answer.text[:300])
                assert "p95_ms" not in answer.text and "rows" not in answer.text, (what, url)


def test_a_viewer_reads_every_route_with_a_token_or_the_ui_cookie(stack):
    """Every GET route answers 200 (any writing route added later: 403 for a viewer)."""
    viewer = stack.token("viewer")
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        for method, path, _ in routes():
            url, params = request_of(path)
            answer = client.request(method, url, params=params, headers={"Authorization": f"Bearer {viewer}"})
            if method == "GET":
                assert answer.status_code == 200, (url, answer.status_code, answer.text[:500])
            else:  # a writing route needs DAG edit access, which a viewer lacks
                assert answer.status_code == 403, (method, url, answer.status_code)
        cookie = client.get(f"{URL_PREFIX}/api/overview", headers={"Cookie": f"_token={viewer}"})
        assert cookie.status_code == 200 and cookie.json()["has_data"] is True


def test_the_viewer_sees_the_stored_rows_and_none_of_a_dag_it_may_not_read(stack):
    headers = {"Authorization": f"Bearer {stack.token('viewer')}"}
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=headers) as client:
        overview = client.get(f"{URL_PREFIX}/api/overview").json()
        assert [(r["dag_id"], r["endpoint"], r["run_id"]) for r in overview["rows"]] == [
            ("perf_profiler", "/healthz", LATEST_RUN)]
        assert len(overview["rows"][0]["trend"]) == 10
        retired = client.get(f"{URL_PREFIX}/api/run", params={"dag_id": "retired_dag", "run_id": LATEST_RUN})
        assert retired.status_code == 200 and retired.json()["rows"] == []
        series = client.get(f"{URL_PREFIX}/api/endpoint", params={**SAMPLE, "dag_id": "retired_dag"}).json()
        assert series["points"] == []
        assert client.get(f"{URL_PREFIX}/api/tenants").json() == {"tenants": ["default"]}


def test_fastapi_docs_are_not_served_and_the_views_are_registered(stack):
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(URL_PREFIX + path).status_code == 404, path
        plugins = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {stack.token('admin')}"}).json()
    (ours,) = [p for p in plugins["plugins"] if p["name"] == "perf_profiler"]
    assert [a["url_prefix"] for a in ours["fastapi_apps"]] == [URL_PREFIX]
    views = {(v["destination"], v["url_route"], v["href"]) for v in ours["external_views"]}
    assert ("nav", "performance", f"{URL_PREFIX}/") in views
    assert ("dag_run", "performance-run", f"{URL_PREFIX}/run?dag_id={{DAG_ID}}&run_id={{RUN_ID}}") in views
