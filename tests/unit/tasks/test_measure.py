"""Task ``benchmark``: a probe with a state-changing method is logged as such on every run (P-3)."""
from __future__ import annotations

import logging

import airflow  # noqa: F401 -- importing Airflow sets up logging: before caplog listens (this file run alone)
import pytest

from perf_profiler.model.errors import TargetsError
from perf_profiler.tasks import measure
from servers import BenchServer


def _service(url: str, method: str, allow: bool) -> dict:
    return {"name": "shop", "base_url": url, "allow_state_changing_methods": allow,
            "load": {"requests": 3, "concurrency": 1, "warmup": 0},
            "endpoints": [{"path": "/ok"}, {"path": "/echo", "method": method, "body": "{}"}]}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_run_with_a_state_changing_method_logs_a_warning(method, caplog):
    with BenchServer() as server, caplog.at_level(logging.INFO, logger=measure.__name__):
        for _ in range(2):
            result = measure.benchmark(_service(server.url, method, allow=True))
            assert [e["method"] for e in result["endpoints"]] == ["GET", method]
        assert server.stats.hits["/echo"] == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and _not_saturation(r)]
    assert warnings == [f"shop: probing with state-changing methods (allow_state_changing_methods is true): "
                        f"{method} /echo"] * 2


def test_a_read_only_run_logs_no_warning(caplog):
    with BenchServer() as server, caplog.at_level(logging.INFO, logger=measure.__name__):
        measure.benchmark(_service(server.url, "HEAD", allow=False))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and _not_saturation(r)] == []


def _not_saturation(record: logging.LogRecord) -> bool:
    """A CLIENT SATURATED warning says the (busy, shared) test machine could not keep up, not the method."""
    return "CLIENT SATURATED" not in record.getMessage()


def test_an_xcom_without_the_opt_in_is_refused_before_any_request():
    with BenchServer() as server:
        with pytest.raises(TargetsError, match="method POST changes state"):
            measure.benchmark(_service(server.url, "POST", allow=False))
        assert server.stats.hits == {}


FD_LIMITED_BENCHMARK = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))  # soft = hard: nothing to raise
from airflow.sdk.exceptions import AirflowFailException
from perf_profiler.tasks import measure
try:
    measure.benchmark(json.loads(sys.argv[1]))
except AirflowFailException as error:
    print("FAIL_AT_ONCE", error)
"""


def test_a_file_descriptor_limit_fails_the_task_at_once_without_a_request() -> None:
    """Refused by RLIMIT_NOFILE: AirflowFailException (a retry on the same worker cannot help)."""
    import json
    import subprocess
    import sys

    with BenchServer() as server:
        service = {"name": "svc", "base_url": server.url, "endpoints": [{"path": "/ok"}],
                   "load": {"requests": 500, "concurrency": 300, "warmup": 0}}
        done = subprocess.run([sys.executable, "-c", FD_LIMITED_BENCHMARK, json.dumps(service)],
                              capture_output=True, text=True, timeout=120)
        hits = server.stats.total_hits
    assert done.stdout.startswith("FAIL_AT_ONCE"), done.stdout + done.stderr[-2000:]
    assert "300" in done.stdout and "96" in done.stdout, "the message names the connections and the limit"
    assert hits == 0


# --------------------------------------------------------------------------- the service's release (issue 15)


def _versioned(url: str, version: dict) -> dict:
    return {"name": "shop", "base_url": url, "version": version,
            "load": {"requests": 3, "concurrency": 1, "warmup": 0}, "endpoints": [{"path": "/ok"}]}


def test_the_release_is_read_once_and_carried_in_the_result(caplog):
    with BenchServer() as server, caplog.at_level(logging.INFO, logger=measure.__name__):
        result = measure.benchmark(_versioned(server.url, {"path": "/echo"}))
        assert server.stats.hits["/echo"] == 1, "read once per run, outside the measured load"
        assert server.stats.hits["/ok"] == 3
    assert result["service_version"] == "echo"
    assert "shop: service version echo" in [r.getMessage() for r in caplog.records]


def test_a_failed_read_never_fails_the_benchmark_the_version_is_null_and_a_warning_says_why(caplog):
    with BenchServer() as server, caplog.at_level(logging.INFO, logger=measure.__name__):
        result = measure.benchmark(_versioned(server.url, {"path": "/status/503"}))
    assert result["service_version"] is None
    assert [e["requests"] for e in result["endpoints"]] == [3], "measured all the same"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and _not_saturation(r)]
    assert warnings == ["shop: no service version this run (stored as NULL): GET /status/503 answered 503"]


def test_without_a_version_source_the_result_has_no_version_key():
    with BenchServer() as server:
        result = measure.benchmark({**_versioned(server.url, {"path": "/echo"}), "version": None})
        assert "/echo" not in server.stats.hits
    assert "service_version" not in result
