"""The Performance app: ``create_app()`` builds the FastAPI app Airflow mounts at ``/perf-profiler``.

FastAPI's own ``/docs``, ``/redoc`` and ``/openapi.json`` are off (Airflow does not protect a
plugin app, and they would describe it to anyone). Every route comes from a router whose routes
depend on ``ui.auth.require_dag_reader`` (or ``require_dag_editor``): the JSON API (``ui.api``),
the HTML pages (``ui.pages``) and the static files (``ui.assets``, no unprotected StaticFiles
mount). ``tests/integration/test_ui_auth.py`` walks ``create_app().routes`` to hold that.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging

from fastapi import FastAPI

from perf_profiler.ui import URL_PREFIX, api

__all__ = ["URL_PREFIX", "create_app"]

log = logging.getLogger(__name__)

#: Routers of the pages helper: included when their modules are present in this build.
_OPTIONAL_ROUTERS = ("perf_profiler.ui.pages", "perf_profiler.ui.assets")


def create_app() -> FastAPI:
    """A new Performance app (cheap: no database or network is touched until a request)."""
    app = FastAPI(title="perf-profiler", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(api.router)
    for name in _OPTIONAL_ROUTERS:
        if importlib.util.find_spec(name) is None:
            log.debug("perf-profiler UI: %s is not part of this build", name)
            continue
        app.include_router(importlib.import_module(name).router)
    return app
