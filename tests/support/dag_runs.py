"""Shared helpers of the DAG-level suites: the parsed DAG, real dag.test() runs, stored rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "perf_profiler_dag.py"
DAG_ID = "perf_profiler"

_DAG: list[Any] = []


def perf_dag() -> Any:
    """The parsed DAG (Airflow's metadata DB migrated once per test process)."""
    if not _DAG:
        subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                       check=True, capture_output=True, env=os.environ.copy())
        from airflow import settings
        from airflow.dag_processing.dagbag import DagBag

        settings.configure_orm()
        bag = DagBag(dag_folder=str(DAG_FILE))
        assert bag.import_errors == {}
        _DAG.append(bag.get_dag(DAG_ID))
    return _DAG[0]


def run_dag(dag: Any, day: datetime, conf: dict[str, Any] | None = None) -> Any:
    """One real ``dag.test()`` run; budget violations do not fail the run unless asked."""
    return dag.test(logical_date=day, run_after=day, run_conf={"fail_on_violation": False, **(conf or {})})


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances() if ti.map_index < 1}


def config(services: list[dict[str, Any]], **load: Any) -> dict[str, Any]:
    defaults = {"requests": 4, "concurrency": 2, "warmup": 0, "timeout_s": 1.0, "connect_timeout_s": 1.0, **load}
    return {"version": 1, "defaults": {"load": defaults}, "services": services}


def service(name: str, base_url: str, *paths: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "base_url": base_url, "endpoints": [{"path": p} for p in paths or ("/ok",)], **extra}


def metrics_hook() -> Any:
    from perf_profiler.storage.dialect import get_hook

    return get_hook("perf_metrics_db")


def stored_rows(**filters: Any) -> list[dict[str, Any]]:
    from perf_profiler.storage.metrics_repo import fetch_metrics

    return fetch_metrics(metrics_hook(), dag_id=DAG_ID, **filters)


def rows_per_key() -> dict[tuple[str, ...], int]:
    records = metrics_hook().get_records(
        "SELECT tenant_id, dag_id, run_id, service, endpoint, COUNT(*) FROM perf_metrics "
        "GROUP BY tenant_id, dag_id, run_id, service, endpoint")
    return {tuple(r[:5]): int(r[5]) for r in records}


def nonzero(errors_by_class: str) -> dict[str, int]:
    return {k: v for k, v in json.loads(errors_by_class).items() if v}


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
