"""The Airflow plugin of perf-profiler (``name = "perf_profiler"``).

Registered by the ``airflow.plugins`` entry point of the installed package, or, when the package
is used from a plugins folder without being installed, by ``plugins/perf_profiler_plugin.py``.
Airflow imports this module in every component (scheduler, dag-processor, API server, workers),
so it stays cheap: no DB, network or heavy import at its top level.
"""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

PLUGIN_NAME = "perf_profiler"


class PerfProfilerPlugin(AirflowPlugin):
    """perf-profiler's registration with Airflow (the UI's apps and views attach here)."""

    name = PLUGIN_NAME
