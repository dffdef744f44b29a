"""Issue 10, class 4 under a real scheduler: a stopped ``benchmark`` stops loading its target.

Each test triggers a long run of one service (``SLOW_SERVICE``: two worker processes, a 120 s
duration), waits until its local server sees the load, stops the task in one of the ways a
deployment does, and counts the requests that server receives afterwards:

* the UI's "mark as failed": the supervisor's next heartbeat is refused and it sends SIGTERM to the
  task's process group (Airflow's own kill path);
* SIGTERM to the task process alone (what a pod or a worker shutdown delivers first);
* SIGKILL to the task process alone, outside every graceful path: its worker processes must die
  with it (parent-death signal), not go on loading the target while Airflow retries.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from servers import BenchServer

from .airflow_stack import AirflowStack
from .e2e_env import DAG_ID, SLOW_SERVICE

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the task process in /proc")]

LONG_RUN = {"services": [SLOW_SERVICE], "duration_s": 120, "fail_on_violation": False}


def _start_long_run(airflow: AirflowStack, target: BenchServer) -> str:
    """Trigger the long run; return its run_id once the target receives its load."""
    run_id = airflow.trigger(DAG_ID, LONG_RUN).json()["dag_run_id"]
    deadline = time.monotonic() + 180
    while target.stats.total_hits < 40:
        state = airflow.dag_run(DAG_ID, run_id)["state"]
        assert state not in ("success", "failed"), airflow.task_states(DAG_ID, run_id)
        assert time.monotonic() < deadline, f"the probe never loaded the target: {airflow.task_states(DAG_ID, run_id)}"
        time.sleep(0.2)
    return run_id


def _probe_processes(home: Path) -> tuple[int, list[int]]:
    """The task process of this deployment's running benchmark and its probe worker processes."""
    workers: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if b"spawn_main" in cmdline and f"AIRFLOW_HOME={home}".encode() in environ:
            workers[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    parents = set(workers.values())
    assert len(parents) == 1 and len(workers) == 2, f"expected one task with 2 workers: {workers}"
    return parents.pop(), sorted(workers)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _quiet_within(target: BenchServer, limit_s: float) -> float:
    """Seconds until the target stops receiving requests (no new one for 1 s), at most ``limit_s``."""
    start = time.monotonic()
    last_count, last_change = target.stats.total_hits, start
    while time.monotonic() - last_change < 1.0:
        assert time.monotonic() - start < limit_s, f"the target was still loaded after {limit_s} s"
        time.sleep(0.05)
        if target.stats.total_hits != last_count:
            last_count, last_change = target.stats.total_hits, time.monotonic()
    return last_change - start


def _hits_during(target: BenchServer, seconds: float) -> int:
    before = target.stats.total_hits
    time.sleep(seconds)
    return target.stats.total_hits - before


def _fail_the_run(airflow: AirflowStack, run_id: str) -> None:
    """Mark the run failed: a pending retry of ``benchmark`` is skipped, not started."""
    airflow.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": "failed"})
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=60)["state"] == "failed"


def test_marking_the_task_failed_stops_its_load(airflow, services, quiet):
    target = services[SLOW_SERVICE]
    run_id = _start_long_run(airflow, target)
    task, workers = _probe_processes(airflow.home)
    airflow.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/benchmark/0",
                json={"new_state": "failed"})
    took = _quiet_within(target, 30)  # the supervisor notices at its next heartbeat
    assert _hits_during(target, 5.0) == 0
    assert not [pid for pid in [task, *workers] if _alive(pid)]
    run = airflow.wait_for_run(DAG_ID, run_id, timeout=120)
    assert run["state"] == "failed" and airflow.task_states(DAG_ID, run_id)["benchmark[0]"] == "failed"
    log = airflow.task_log(DAG_ID, run_id, "benchmark", map_index=0)
    assert "cancelled by SIGTERM" in log, log[-3000:]
    print(f"quiet {took:.1f} s after the mark")


def test_sigterm_to_the_task_process_stops_its_load_within_a_second(airflow, services, quiet):
    target = services[SLOW_SERVICE]
    run_id = _start_long_run(airflow, target)
    task, workers = _probe_processes(airflow.home)
    os.kill(task, signal.SIGTERM)  # the task process only, not its group
    took = _quiet_within(target, 10)
    assert took < 1.5, f"the target was loaded {took:.2f} s after SIGTERM"
    assert _hits_during(target, 5.0) == 0
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in [task, *workers]):
        assert time.monotonic() < deadline, "the task or its workers outlived the SIGTERM"
        time.sleep(0.2)
    log = airflow.task_log(DAG_ID, run_id, "benchmark", map_index=0, try_number=1)
    assert "cancelled by SIGTERM" in log, log[-3000:]
    _fail_the_run(airflow, run_id)


def test_sigkill_of_the_task_process_leaves_no_worker_loading_the_target(airflow, services, quiet):
    target = services[SLOW_SERVICE]
    run_id = _start_long_run(airflow, target)
    task, workers = _probe_processes(airflow.home)
    os.kill(task, signal.SIGKILL)  # outside any graceful path: it cannot tell its workers anything
    time.sleep(1.5)  # in-flight requests (60 ms each) land
    assert _hits_during(target, 5.0) == 0, "a worker kept loading the target after its task was killed"
    assert not [pid for pid in workers if _alive(pid)]
    _fail_the_run(airflow, run_id)
    assert _hits_during(target, 2.0) == 0  # and no retry started a second probe
