"""What the e2e deployment is configured with (shared by conftest.py and the tests)."""
from __future__ import annotations

import json

from servers import BenchServer

DAG_ID = "perf_profiler"
TRENDS_DAG_ID = "perf_trends"
#: service name (as in dags/config/targets.json, which the trigger form offers) → test server path
SERVICE_PATHS = {
    "registry": "/ok",
    "runtime": "/ok",
    "insight-engine": "/ok",
    "predictive-engine": "/delay/60",   # slow on purpose: the regression perf_trends must find
}
DEFAULT_REQUESTS = 20
#: The slow service's load is spread over two worker processes (the kill tests count them).
SLOW_SERVICE = "predictive-engine"
SLOW_SERVICE_LOAD = {"processes": 2}


def targets_json(services: dict[str, BenchServer]) -> str:
    """The Variable perf_profiler_targets: the configured names, pointed at the local servers."""
    return json.dumps({
        "version": 1,
        "defaults": {"load": {"requests": DEFAULT_REQUESTS, "concurrency": 4, "warmup": 0, "timeout_s": 5}},
        "services": [
            {"name": name, "base_url": services[name].url, "endpoints": [{"path": path}],
             **({"load": SLOW_SERVICE_LOAD} if name == SLOW_SERVICE else {})}
            for name, path in SERVICE_PATHS.items()
        ],
    })


def total_hits(services: dict[str, BenchServer]) -> dict[str, int]:
    """Requests each local service has received since the last reset."""
    return {name: server.stats.total_hits for name, server in services.items()}


def reset_hits(services: dict[str, BenchServer]) -> None:
    for server in services.values():
        server.stats.reset()
