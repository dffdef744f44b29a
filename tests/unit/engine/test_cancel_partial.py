"""engine.cancel's two choices on a stop: the task's "raise" and the CLI's "partial" (issue 14)."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from perf_profiler.engine.cancel import STOP, ProbeCancelled
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
from servers import BenchServer


def _stop_after(server: BenchServer, path: str, hits: int) -> threading.Thread:
    """Set the stop flag (as a signal handler would) once the server has seen ``hits`` requests."""
    def watch() -> None:
        while server.stats.hits[path] < hits:
            threading.Event().wait(0.01)
        STOP.set("SIGTEST")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _service(server: BenchServer, **load: Any) -> Service:
    return Service(name="svc", base_url=server.url,
                   endpoints=(Endpoint(path="/delay/10"), Endpoint(path="/ok")),
                   load=LoadSettings.model_validate({"duration_s": 30, "concurrency": 4, "warmup": 5, **load}))


@pytest.mark.parametrize("load", [{}, {"model": "open", "rate": 200, "concurrency": 20}])
def test_partial_returns_what_was_measured_marked_interrupted(server: BenchServer, load: dict) -> None:
    watcher = _stop_after(server, "/delay/10", 60)
    result = run_probe(_service(server, **load), on_cancel="partial")
    watcher.join(timeout=5)
    assert result["interrupted"] == "SIGTEST"
    assert [e["endpoint"] for e in result["endpoints"]] == ["/delay/10"]  # the second never started
    counted = result["endpoints"][0]["requests"]
    assert counted == server.stats.hits["/delay/10"] - 5  # in-flight requests finished and were counted
    assert server.stats.hits["/ok"] == 0
    assert STOP.signal is None and not STOP.partial  # reset for the next probe


def test_raise_keeps_nothing(server: BenchServer) -> None:
    watcher = _stop_after(server, "/delay/10", 30)
    with pytest.raises(ProbeCancelled, match="cancelled by SIGTEST"):
        run_probe(_service(server))
    watcher.join(timeout=5)


def test_a_stop_during_the_warmup_returns_no_endpoint(server: BenchServer) -> None:
    watcher = _stop_after(server, "/delay/10", 10)
    result = run_probe(_service(server, warmup=10_000), on_cancel="partial")
    watcher.join(timeout=5)
    assert result["interrupted"] == "SIGTEST" and result["endpoints"] == []
