"""``make demo``: simulated services + one real ``airflow dags test`` run of the DAG, on SQLite.

Starts the simulated services (``perf_profiler.demo.services``), prepares a local AIRFLOW_HOME under
``.demo/`` with the connections given as environment variables, runs the ``perf_profiler``
DAG once, prints the stored rows, the branch that ran and what the Insight Engine received,
then stops everything it started.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from perf_profiler.demo import services as demo

DAG_ID = "perf_profiler"
BRANCH_TASKS = ("within_budget", "budget_violated")


@contextmanager
def running_demo_services(port_offset: int = 0, seed: int = 6) -> Iterator[None]:
    """Serve the simulated services from a background thread for the duration of the block."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="demo-services", daemon=True)
    thread.start()
    runners = asyncio.run_coroutine_threadsafe(demo.start(port_offset=port_offset, seed=seed), loop).result(30)
    try:
        yield
    finally:
        for runner in runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def demo_environment(repo: Path, work: Path) -> dict[str, str]:
    """Environment for the Airflow commands: local home, SQLite metrics DB, demo connections."""
    insight = next(s for s in demo.SERVICES if s.name == "insight-engine")
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_PERF_METRICS_DB": json.dumps({"conn_type": "sqlite", "host": str(work / "perf_metrics.db")}),
        "AIRFLOW_CONN_INSIGHT_ENGINE": f"http://127.0.0.1:{insight.port}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    return env


def _airflow(env: dict[str, str], *args: str, quiet: bool = True, check: bool = True) -> str:
    airflow = str(Path(sys.executable).parent / "airflow")
    done = subprocess.run([airflow, *args], env=env, capture_output=quiet, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"`airflow {' '.join(args)}` failed:\n{done.stdout or ''}{done.stderr or ''}")
    return done.stdout or ""


def _last_run_states(work: Path) -> dict[str, str]:
    """Task states of the newest perf_profiler run, from the demo's Airflow metadata DB."""
    import sqlite3

    with sqlite3.connect(work / "airflow" / "airflow.db") as conn:
        rows = conn.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND map_index = -1 AND run_id = "
            "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)",
            (DAG_ID, DAG_ID),
        ).fetchall()
    return dict(rows)


def _stored_rows(work: Path) -> list[dict]:
    import sqlite3

    with sqlite3.connect(work / "perf_metrics.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM perf_metrics WHERE run_id = (SELECT run_id FROM perf_metrics "
            "ORDER BY measured_at DESC LIMIT 1) ORDER BY service, endpoint"
        ).fetchall()
    return [dict(r) for r in rows]


def _received_by_insight() -> list[dict]:
    insight = next(s for s in demo.SERVICES if s.name == "insight-engine")
    with urllib.request.urlopen(f"http://127.0.0.1:{insight.port}/metrics/received", timeout=5) as resp:
        return json.load(resp)


def run(repo: Path | None = None) -> int:
    from perf_profiler.analysis.budget import describe_violation
    from perf_profiler.analysis.report import table

    repo = repo or Path.cwd()
    work = repo / ".demo"
    work.mkdir(exist_ok=True)
    env = demo_environment(repo, work)
    print("preparing the local Airflow home in .demo/airflow ...", flush=True)
    _airflow(env, "db", "migrate")
    with running_demo_services():
        print("running `airflow dags test perf_profiler` against the simulated services ...", flush=True)
        _airflow(env, "dags", "test", DAG_ID, check=False)  # a failed gate is a result, shown below
        received = _received_by_insight()
    rows = _stored_rows(work)
    states = _last_run_states(work)
    print("\nperf_metrics (SQLite .demo/perf_metrics.db):\n" + table(rows))
    branch = [t for t in BRANCH_TASKS if states.get(t) == "success"]
    print(f"\nbranch taken by check_budget: {', '.join(branch) or 'none'}")
    for row in rows:
        if row["verdict"] == "fail":
            print("  " + describe_violation(row))
    gate = states.get("gate")
    print(f"gate (fail_on_violation=true, the default): {gate}"
          + (" — the run fails so that Airflow's alerting fires" if gate == "failed" else ""))
    print(f"Insight Engine received {len(received)} payloads, e.g.:")
    for item in received[:len(rows)]:
        m = item["payload"]["metrics"]
        print(f"  {m['service']:<18} {m['endpoint']:<10} p95_latency_ms={m['p95_latency_ms']} "
              f"throughput_rps={m['throughput_rps']} key={item['idempotency_key'][:12]}…")
    return 0
