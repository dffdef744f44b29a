"""Fixtures of the engine tests: a real local aiohttp server and ``probe``, run_probe in one call.

``probe`` also checks what must hold for every result the engine returns, whatever the test:
every error class is present, the counts add up and they match the histograms.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from perf_profiler.analysis import histogram
from perf_profiler.engine.classify import ERROR_CLASSES
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.result import BenchmarkResult, EndpointResult
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
from servers import BenchServer


@pytest.fixture(autouse=True)
def engine(either_engine: str) -> str:
    """Every engine test runs against both engines (the fast path and aiohttp)."""
    return either_engine


@pytest.fixture
def server() -> Iterator[BenchServer]:
    with BenchServer() as srv:
        yield srv


def hist_count(encoded: str) -> int:
    return histogram.summarize(histogram.decode(encoded)).count


def assert_consistent(ep: EndpointResult) -> None:
    """Counts add up and match the histograms."""
    assert set(ep["errors"]) == set(ERROR_CLASSES)
    assert ep["requests"] == ep["ok"] + sum(ep["errors"].values())
    assert hist_count(ep["latency_hist"]) == ep["ok"]
    assert hist_count(ep["error_hist"]) == sum(ep["errors"].values())


def _probe(
    url: str, *endpoints: Endpoint, verify_tls: bool = True, use_uvloop: bool | None = None,
    allow_writes: bool = False, **load: Any
) -> BenchmarkResult:
    """run_probe for a service ``svc`` at ``url``; ``load`` overrides LoadSettings fields."""
    settings = LoadSettings(**{"requests": 20, "concurrency": 4, "warmup": 0, **load})
    service = Service(name="svc", base_url=url, endpoints=tuple(endpoints), load=settings, verify_tls=verify_tls,
                      allow_state_changing_methods=allow_writes)
    result = run_probe(service, use_uvloop=use_uvloop)
    for ep in result["endpoints"]:
        assert_consistent(ep)
    return result


@pytest.fixture
def probe(engine: str) -> Callable[..., BenchmarkResult]:
    """``probe(url, *endpoints, verify_tls=True, use_uvloop=None, **load)`` -> the result dict.

    A plain http:// service is probed by the engine of the test's run (``engine``) unless it
    names one; https:// always by aiohttp.
    """

    def probe_with(url: str, *endpoints: Endpoint, **kwargs: Any) -> BenchmarkResult:
        result = _probe(url, *endpoints, **kwargs)
        expected = kwargs.get("engine", engine) if url.startswith("http://") else "aiohttp"
        assert result["engine"] == expected
        return result

    return probe_with
