"""Plugins-folder entry of perf-profiler: the only module Airflow's plugin scan imports here.

Airflow imports every ``.py`` file under the plugins folder as a top-level module named after the
file and registers each ``AirflowPlugin`` subclass found in it; ``.airflowignore`` keeps the scan
out of the ``perf_profiler`` package, which is imported only by its package name.

When the package is pip-installed, its ``airflow.plugins`` entry point registers the same class,
and Airflow reports a second registration as an import error ("already registered"). So this
module offers the class only when that entry point is absent: one registration either way.
"""
from __future__ import annotations

from importlib.metadata import entry_points

ENTRY_POINT = "perf_profiler.plugin:PerfProfilerPlugin"

if not any(ep.value == ENTRY_POINT for ep in entry_points(group="airflow.plugins")):
    from perf_profiler.plugin import PerfProfilerPlugin

    __all__ = ["PerfProfilerPlugin"]
