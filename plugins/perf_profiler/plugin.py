"""The Airflow plugin of perf-profiler (``name = "perf_profiler"``).

Registered by the ``airflow.plugins`` entry point of the installed package, or, when the package
is used from a plugins folder without being installed, by ``plugins/perf_profiler_plugin.py``.
Airflow imports this module in every component (scheduler, dag-processor, API server, workers),
so it stays cheap: no DB, network or heavy import at its top level. The Performance app
(``ui.app``) is built only when a component asks for the plugin's FastAPI apps (the API server,
``airflow plugins``): ``fastapi_apps`` is computed on first access.

The UI shows the app in an iframe: ``external_views`` with a ``url_route`` are embedded at
``/plugin/<url_route>``; the ``dag_run`` one is a tab of every DAG run, its ``href`` filled in
by the UI (``{DAG_ID}``, ``{RUN_ID}``).
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from perf_profiler.ui import URL_PREFIX

PLUGIN_NAME = "perf_profiler"

EXTERNAL_VIEWS: list[dict[str, Any]] = [
    # nav_top_level: a top-level entry even when other plugins' entries fold into a "Plugins" menu
    {"name": "Performance", "href": f"{URL_PREFIX}/", "destination": "nav", "url_route": "performance",
     "nav_top_level": True},
    {"name": "Performance", "href": f"{URL_PREFIX}/run?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
     "destination": "dag_run", "url_route": "performance-run"},
]


class PerfProfilerPlugin(AirflowPlugin):
    """perf-profiler's registration with Airflow: the Performance app and its UI entries."""

    name = PLUGIN_NAME
    external_views = EXTERNAL_VIEWS

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The Performance app, mounted by the API server at ``URL_PREFIX`` (built on first access)."""
        from perf_profiler.ui.app import create_app

        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "perf-profiler"}]
