"""Issue 10, class 4: probes that outlive their task.

SIGTERM/SIGINT stops a running probe within about a second (one path: ``engine.cancel``, used by
the ``benchmark`` task, which fails, and the CLI, which prints what it measured -- issue 14), and
worker processes die with their parent. Each probe runs
in a real subprocess against a real local server that counts the requests it receives.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers import BenchServer

#: A probe of ``/delay/20`` with the load given as JSON in argv[2], in its own process.
PROBE_SCRIPT = """
import json, sys
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
load = LoadSettings(**json.loads(sys.argv[2]))
service = Service(name="svc", base_url=sys.argv[1], endpoints=(Endpoint(path="/delay/20"),), load=load)
run_probe(service, use_uvloop=json.loads(sys.argv[3]))
print("finished", flush=True)
"""
CLI = Path(sys.executable).parent / "perf-profiler"


@pytest.fixture
def server() -> Iterator[BenchServer]:
    with BenchServer() as srv:
        yield srv


def _start_probe(server: BenchServer, use_uvloop: bool | None = None, **load: Any) -> subprocess.Popen[str]:
    settings = {"duration_s": 60, "concurrency": 4, "warmup": 0, **load}
    return subprocess.Popen([sys.executable, "-c", PROBE_SCRIPT, server.url, json.dumps(settings),
                             json.dumps(use_uvloop)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_load(server: BenchServer, proc: subprocess.Popen[str], hits: int = 20) -> None:
    """Until the target has seen ``hits`` requests (the probe is sending), then a little longer."""
    deadline = time.monotonic() + 60
    while server.stats.total_hits < hits:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the probe never loaded the target"
        time.sleep(0.05)
    time.sleep(0.5)


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[float, str]:
    """Send ``signum``; how long the process took to exit, and its stderr."""
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the probe ignored the signal")
    return time.monotonic() - sent, stderr


def _quiet_after(server: BenchServer, grace_s: float, watch_s: float) -> int:
    """Requests the target received in ``watch_s`` seconds after a ``grace_s`` for in-flight ones."""
    time.sleep(grace_s)
    before = server.stats.total_hits
    time.sleep(watch_s)
    return server.stats.total_hits - before


@pytest.mark.parametrize(("load", "use_uvloop"), [
    ({}, None),  # closed loop by duration, uvloop when installed
    ({}, False),  # the asyncio event loop
    ({"duration_s": None, "requests": 1_000_000}, None),  # closed loop counted by number
    ({"model": "open", "rate": 200, "concurrency": 50}, None),  # open loop
    ({"processes": 2}, None),  # worker processes
    ({"model": "open", "rate": 200, "concurrency": 50, "processes": 2}, None),
])
@pytest.mark.usefixtures("either_engine")
def test_sigterm_stops_the_probe_within_a_second(server: BenchServer, load: dict[str, Any],
                                                 use_uvloop: bool | None) -> None:
    proc = _start_probe(server, use_uvloop, **load)
    _wait_for_load(server, proc)
    took, stderr = _stop(proc, signal.SIGTERM)
    assert took < 2.5, f"exit took {took:.2f} s"
    assert proc.returncode != 0
    assert "ProbeCancelled" in stderr and "cancelled by SIGTERM" in stderr, stderr
    assert "partial results not stored" in stderr
    assert _quiet_after(server, 0.2, 1.0) == 0


@pytest.mark.usefixtures("either_engine")
def test_a_stop_during_the_warmup_also_cancels(server: BenchServer) -> None:
    proc = _start_probe(server, warmup=10_000)  # the safety cap: 50 s at 4 x 20 ms
    _wait_for_load(server, proc)
    took, stderr = _stop(proc, signal.SIGTERM)
    assert took < 2.5 and proc.returncode != 0
    assert "cancelled by SIGTERM" in stderr, stderr
    assert _quiet_after(server, 0.2, 1.0) == 0


#: The ``benchmark`` task's function (what Airflow runs) on the same service, in its own process.
TASK_SCRIPT = """
import sys
from perf_profiler.tasks.measure import benchmark
benchmark({"name": "svc", "base_url": sys.argv[1], "endpoints": [{"path": "/delay/20"}],
           "load": {"duration_s": 60, "concurrency": 4, "warmup": 0, "processes": int(sys.argv[2])}})
print("finished", flush=True)
"""


@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_stops_the_benchmark_task(server: BenchServer, processes: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", TASK_SCRIPT, server.url, str(processes)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_load(server, proc)
    took, stderr = _stop(proc, signal.SIGTERM)
    assert took < 2.5, f"exit took {took:.2f} s"
    assert proc.returncode != 0
    assert "ProbeCancelled" in stderr and "cancelled by SIGTERM" in stderr, stderr
    assert _quiet_after(server, 0.2, 1.0) == 0


def _children(pid: int) -> list[int]:
    """Pids of the multiprocessing workers (spawn_main) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # an unreaped zombie sends nothing


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("load", [{}, {"model": "open", "rate": 200, "concurrency": 50}])
def test_sigkill_of_the_parent_leaves_no_worker_loading_the_target(server: BenchServer,
                                                                   load: dict[str, Any]) -> None:
    proc = _start_probe(server, processes=2, **load)
    _wait_for_load(server, proc)
    workers = _children(proc.pid)
    assert len(workers) == 2
    proc.kill()  # outside any graceful path: the parent cannot tell its workers anything
    proc.wait()  # not communicate(): the workers hold the pipes open while they live
    killed = time.monotonic()
    assert _quiet_after(server, 1.5, 5.0) == 0  # grace for in-flight requests, then 5 s: nothing
    assert not [pid for pid in workers if _alive(pid)]
    assert time.monotonic() - killed < 10
    proc.communicate(timeout=5)  # the pipes closed: no worker holds them


@pytest.mark.parametrize("processes", [1, 2])
def test_the_cli_stops_on_ctrl_c_without_a_traceback_and_prints_what_it_measured(
        server: BenchServer, processes: int) -> None:
    """Issue 14: the CLI's on_cancel="partial" -- same path, but the summary of what was measured."""
    proc = subprocess.Popen([str(CLI), "probe", f"{server.url}/delay/20", "--duration", "30s", "--warmup", "0",
                             "-c", "4", "--processes", str(processes)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_load(server, proc)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=15)
    assert time.monotonic() - sent < 2.5
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted by SIGINT" in stderr and "INTERRUPTED by SIGINT" in stdout, (stdout, stderr)
    assert _quiet_after(server, 0.2, 1.0) == 0


def test_a_second_ctrl_c_exits_at_once(server: BenchServer) -> None:
    """The first waits for in-flight requests (here 3 s each); the second does not."""
    proc = subprocess.Popen([str(CLI), "probe", f"{server.url}/delay/3000", "--duration", "30s", "--warmup", "0",
                             "-c", "2", "--timeout", "20s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_load(server, proc, hits=2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None  # still waiting for the requests in flight
    took, stderr = _stop(proc, signal.SIGINT)
    assert took < 1.0, f"exit took {took:.2f} s"
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert "SIGINT again: exiting at once" in stderr


def test_handlers_are_restored_after_a_probe(server: BenchServer) -> None:
    """In this (main) thread: run_probe installs its handlers only while it runs."""
    from perf_profiler.engine.cancel import STOP
    from perf_profiler.engine.runner import run_probe
    from perf_profiler.model.targets import Endpoint, LoadSettings, Service

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    service = Service(name="svc", base_url=server.url, endpoints=(Endpoint(path="/ok"),),
                      load=LoadSettings(requests=10, concurrency=2, warmup=0))
    result = run_probe(service)
    assert result["endpoints"][0]["requests"] == 10
    assert {signum: signal.getsignal(signum) for signum in before} == before
    assert STOP.signal is None
    assert os.getpid()  # the test process survived
