"""Task ``benchmark``: a probe with a state-changing method is logged as such on every run (P-3)."""
from __future__ import annotations

import logging

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
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"shop: probing with state-changing methods (allow_state_changing_methods is true): "
                        f"{method} /echo"] * 2


def test_a_read_only_run_logs_no_warning(caplog):
    with BenchServer() as server, caplog.at_level(logging.INFO, logger=measure.__name__):
        measure.benchmark(_service(server.url, "HEAD", allow=False))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_xcom_without_the_opt_in_is_refused_before_any_request():
    with BenchServer() as server:
        with pytest.raises(TargetsError, match="method POST changes state"):
            measure.benchmark(_service(server.url, "POST", allow=False))
        assert server.stats.hits == {}
