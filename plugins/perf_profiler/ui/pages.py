"""The Performance view's HTML pages: Overview, Endpoint and Run (``router``, included by ``ui.app``).

Each page renders its numbers on the server into HTML tables, from the very payloads the JSON API
answers (``ui.api``'s route functions, called directly), so a page and the API never disagree and
a test can compare the page with the database: every number cell carries ``data-col`` and the
exact value in ``data-value`` (the text shown is rounded for reading). The charts are drawn in
the browser by the page's own script (``ui/static``) from the JSON API, with plotly.js served by
``ui.assets``. With no data (no run yet, or the migrations not applied) every page says
"No data yet" with HTTP 200.

Every route depends on ``ui.auth.require_dag_reader`` (the Airflow UI's cookie inside the UI's
iframe, or a bearer token), and the payloads hold only rows of the DAGs the user may read.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from perf_profiler.ui import api
from perf_profiler.ui.auth import ReaderDep, require_dag_reader

__all__ = ["MAX_TABLE_ROWS", "router"]

router = APIRouter(dependencies=[Depends(require_dag_reader)], tags=["pages"], include_in_schema=False)

#: The endpoint page's table lists at most this many runs (newest first); its charts draw every run.
MAX_TABLE_ROWS = 500
#: Pages carry what one user may read: never kept by a shared cache.
_HEADERS = {"Cache-Control": "private, no-store"}


@router.get("/", response_class=HTMLResponse, name="overview_page")
def overview_page(request: Request, reader: ReaderDep, hook: api.HookDep, tenant: str = "default") -> HTMLResponse:
    """Every service × endpoint of a tenant: its latest numbers, trend and regressions, worst first."""
    data = api.get_overview(reader=reader, hook=hook, tenant=tenant)
    tenants = api.get_tenants(reader=reader, hook=hook)["tenants"]
    if tenant not in tenants:
        tenants = sorted([*tenants, tenant])
    return _render(request, "overview.html", page="overview", script="overview.js", data=data,
                   tenants=tenants, config={"tenant": tenant})


@router.get("/endpoint", response_class=HTMLResponse, name="endpoint_page")
def endpoint_page(request: Request, reader: ReaderDep, hook: api.HookDep, dag_id: str, service: str,
                  endpoint: str, tenant: str = "default", window: api.Window = "90d") -> HTMLResponse:
    """One endpoint over a window: percentiles against the budget, throughput, errors, distributions."""
    data = api.get_endpoint(reader=reader, hook=hook, dag_id=dag_id, service=service, endpoint=endpoint,
                            tenant=tenant, window=window)
    config = {"tenant": tenant, "dag_id": dag_id, "service": service, "endpoint": endpoint, "window": window}
    return _render(request, "endpoint.html", page="endpoint", script="endpoint.js", data=data,
                   windows=list(api.WINDOWS), max_table_rows=MAX_TABLE_ROWS, config=config)


@router.get("/run", response_class=HTMLResponse, name="run_page")
def run_page(request: Request, reader: ReaderDep, hook: api.HookDep, dag_id: str, run_id: str) -> HTMLResponse:
    """The rows one DAG run stored (every tenant): the page behind the run's "Performance" tab."""
    data = api.get_run(reader=reader, hook=hook, dag_id=dag_id, run_id=run_id)
    return _render(request, "run.html", page="run", script=None, data=data, config={})


# --------------------------------------------------------------------------- rendering
def _render(request: Request, template: str, *, page: str, script: str | None, config: dict[str, Any],
            **context: Any) -> HTMLResponse:
    """One page; links and scripts are absolute below the app's mount point (``root_path``)."""
    base = str(request.scope.get("root_path", "")).rstrip("/")

    def url(path: str, **params: Any) -> str:
        query = urlencode({key: value for key, value in params.items() if value is not None})
        return f"{base}{path}" + (f"?{query}" if query else "")

    html = _environment().get_template(template).render(
        base=base, url=url, page=page, script=script, charts=script is not None,
        config={"base": base, **config}, **context,
    )
    return HTMLResponse(html, headers=_HEADERS)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The pages' Jinja2 environment (templates are package data of ``perf_profiler.ui``)."""
    env = Environment(loader=PackageLoader("perf_profiler.ui", "templates"),
                      autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(fmt=fmt_number, fmt_pct=fmt_percent, raw=raw_value)
    env.filters["short_time"] = short_time
    return env


def fmt_number(value: float | None, digits: int = 2) -> str:
    """A number for reading (thousands separated, ``digits`` decimals); an em dash for none."""
    return "—" if value is None else f"{value:,.{digits}f}"


def fmt_percent(value: float | None, digits: int = 2, signed: bool = False, scale: float = 1) -> str:
    """A percentage (``scale`` 100 for a fraction); ``signed`` shows a + on increases."""
    if value is None:
        return "—"
    return f"{value * scale:{'+' if signed else ''},.{digits}f} %"


def raw_value(value: Any) -> str:
    """The exact value for ``data-value``: Python's shortest round-trip repr of a float, "" for none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def short_time(value: str | None) -> str:
    """An ISO-8601 UTC time as ``YYYY-MM-DD HH:MM`` UTC (the full value stays in ``data-value``)."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")
