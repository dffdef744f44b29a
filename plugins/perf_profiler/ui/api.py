"""The JSON API of the Performance view (``/perf-profiler/api/...``): every chart's data.

Every GET route needs a user allowed to read DAGs (``ui.auth.require_dag_reader``) and returns only
rows of the DAGs that user may read; the one write (``POST /api/regressions/ack``) needs edit access
to the DAG (``ui.auth.require_dag_editor``): a viewer gets 403. Numbers are JSON numbers (latencies in ms),
times ISO-8601 UTC text. Before any run, or before the migrations ran, answers say
``"has_data": false`` (HTTP 200). The shapes are documented in the README ("The Performance API").
Routes are plain ``def``: FastAPI runs them in its thread pool, so the blocking database calls
never stall the API server's event loop.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from airflow.providers.common.sql.hooks.sql import DbApiHook
from fastapi import APIRouter, Depends, HTTPException, status

from perf_profiler.storage import dashboard_repo as repo
from perf_profiler.storage.dialect import DEFAULT_CONN_ID, get_hook
from perf_profiler.ui.auth import EditorDep, ReaderDep

__all__ = ["WINDOWS", "HookDep", "Window", "metrics_hook", "router"]

log = logging.getLogger(__name__)

Window = Literal["7d", "30d", "90d", "all"]
#: Days each window reaches back from now (None: every run).
WINDOWS: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "all": None}

router = APIRouter(prefix="/api", tags=["performance"])


def metrics_hook() -> DbApiHook | None:
    """The hook of the ``perf_metrics_db`` connection; None (so "no data") when it is not defined."""
    from airflow.exceptions import AirflowNotFoundException

    try:
        return get_hook(DEFAULT_CONN_ID)
    except AirflowNotFoundException:
        log.warning("perf-profiler UI: no Airflow connection %r: showing no data", DEFAULT_CONN_ID)
        return None


#: The metrics hook of a route (None when the connection is not defined).
HookDep = Annotated[DbApiHook | None, Depends(metrics_hook)]


@router.get("/tenants")
def get_tenants(reader: ReaderDep, hook: HookDep) -> dict[str, Any]:
    """The tenants with rows of DAGs the user may read."""
    return {"tenants": repo.tenants(hook, reader.dag_ids) if hook else []}


@router.get("/overview")
def get_overview(reader: ReaderDep, hook: HookDep, tenant: str = "default") -> dict[str, Any]:
    """Every service × endpoint of a tenant with its latest numbers, worst first."""
    rows = repo.overview(hook, tenant, reader.dag_ids) if hook else []
    return {"tenant": tenant, "has_data": bool(rows), "rows": rows}


@router.get("/endpoint")
def get_endpoint(reader: ReaderDep, hook: HookDep, dag_id: str, service: str, endpoint: str,
                 tenant: str = "default", window: Window = "90d") -> dict[str, Any]:
    """One endpoint's runs in a window (counted back from now), oldest first, with its regressions."""
    days = WINDOWS[window]
    since = None if days is None else datetime.now(timezone.utc) - timedelta(days=days)
    series = (repo.endpoint_series(hook, tenant=tenant, dag_id=dag_id, service=service, endpoint=endpoint,
                                   since=since, dag_ids=reader.dag_ids) if hook else repo.EndpointSeries())
    return {"tenant": tenant, "dag_id": dag_id, "service": service, "endpoint": endpoint, "window": window,
            "budget_p95_ms": series.budget_p95_ms, "has_data": bool(series.points), "points": series.points,
            "regressions": series.regressions, "changepoints": series.changepoints}


@router.get("/regressions")
def get_regressions(reader: ReaderDep, hook: HookDep, tenant: str = "default") -> dict[str, Any]:
    """The change points, outliers and drift of a tenant's readable DAGs, confirmed regressions first."""
    found = repo.changepoints(hook, tenant, reader.dag_ids) if hook else []
    return {"tenant": tenant, "has_data": bool(found), "changepoints": found}


@router.post("/regressions/ack")
def post_regression_ack(editor: EditorDep, hook: HookDep, dag_id: str, service: str, endpoint: str, run_id: str,
                        note: str, tenant: str = "default", metric: str = "p95_ms") -> dict[str, Any]:
    """Acknowledge the regression of one endpoint attributed to ``run_id`` (stops its notification)."""
    from perf_profiler.storage.changepoints_repo import open_changepoints

    if dag_id not in editor.dag_ids:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "no edit access to this DAG")
    if hook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no metrics database")
    key = {"tenant_id": tenant, "dag_id": dag_id, "service": service, "endpoint": endpoint, "metric": metric}
    by = str(getattr(editor.user, "get_name", lambda: editor.user)())
    with open_changepoints(hook) as writer:
        count = writer.acknowledge(key, run_id, by, note)
    if not count:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no regression of this endpoint attributed to this run")
    return {"acknowledged": True, "dag_id": dag_id, "service": service, "endpoint": endpoint, "metric": metric,
            "run_id": run_id, "by": by, "note": note}


@router.get("/distribution")
def get_distribution(reader: ReaderDep, hook: HookDep, dag_id: str, service: str, endpoint: str, run_id: str,
                     tenant: str = "default") -> dict[str, Any]:
    """One run's latency distribution: the percentile spectrum of its stored HDR histogram."""
    from perf_profiler.analysis.spectrum import percentile_spectrum

    stored = (repo.latency_histogram(hook, tenant=tenant, dag_id=dag_id, service=service, endpoint=endpoint,
                                     run_id=run_id, dag_ids=reader.dag_ids) if hook else None)
    if stored is None or stored.latency_hist is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no stored latency histogram for this run")
    try:
        spectrum = percentile_spectrum(stored.latency_hist)
    except ValueError as exc:
        log.warning("perf-profiler UI: unreadable latency histogram of %s/%s: %s", dag_id, run_id, exc)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the stored latency histogram is unreadable") from None
    return {"run_id": stored.run_id, "measured_at": stored.measured_at, "total_count": spectrum.total_count,
            "spectrum": [{"percentile": p.percentile, "inverse_tail": p.inverse_tail, "latency_ms": p.latency_ms}
                         for p in spectrum.points]}


@router.get("/run")
def get_run(reader: ReaderDep, hook: HookDep, dag_id: str, run_id: str) -> dict[str, Any]:
    """The rows of one DAG run (every tenant); a DAG the user may not read yields no rows."""
    rows = repo.run_rows(hook, dag_id=dag_id, run_id=run_id, dag_ids=reader.dag_ids) if hook else []
    return {"dag_id": dag_id, "run_id": run_id, "has_data": bool(rows), "rows": rows}
