"""closed loop: latency, error rate, warm-up, concurrency and duration against a real local server."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from perf_profiler.analysis import histogram
from perf_profiler.engine.classify import ERROR_CLASSES
from perf_profiler.model.result import BenchmarkResult
from perf_profiler.model.targets import Endpoint
from servers import BenchServer

pytestmark = pytest.mark.timeout(60)

Probe = Callable[..., BenchmarkResult]


def hist_count(encoded: str) -> int:
    return histogram.summarize(histogram.decode(encoded)).count


# --------------------------------------------------------------------------- latency
def test_fixed_20ms_server_gives_p50_between_20_and_25ms(server: BenchServer, probe: Probe) -> None:
    # low concurrency: client and server share this process (and the GIL) and the machine is shared
    result = probe(server.url, Endpoint(path="/delay/20"), requests=60, concurrency=2, warmup=5)
    (ep,) = result["endpoints"]
    assert ep["ok"] == 60
    stats = histogram.summarize(histogram.decode(ep["latency_hist"]))
    assert 20.0 <= stats.p50_ms <= 25.0, stats


# --------------------------------------------------------------------------- error rate
@pytest.mark.parametrize("warmup", [0, 7])
def test_failing_every_10th_request_gives_error_rate_exactly_10_percent(
    server: BenchServer, probe: Probe, warmup: int
) -> None:
    requests = 200
    result = probe(server.url, Endpoint(path="/flaky/10"), requests=requests, concurrency=10, warmup=warmup)
    (ep,) = result["endpoints"]
    # the server fails its hits number 10, 20, ...; warm-up took hits 1..W, counted ones W+1..W+N
    failing = sum(1 for hit in range(warmup + 1, warmup + requests + 1) if hit % 10 == 0)
    assert failing == 20
    assert server.stats.hits["/flaky/10"] == warmup + requests
    assert ep["errors"] == {**dict.fromkeys(ERROR_CLASSES, 0), "status": failing}
    assert ep["status_codes"] == {"200": requests - failing, "500": failing}
    assert sum(ep["errors"].values()) / ep["requests"] == 0.10


# --------------------------------------------------------------------------- load model
def test_warmup_requests_are_not_counted(server: BenchServer, probe: Probe) -> None:
    result = probe(server.url, Endpoint(path="/ok"), requests=30, concurrency=3, warmup=7)
    (ep,) = result["endpoints"]
    assert server.stats.hits["/ok"] == 7 + 30
    assert ep["requests"] == ep["ok"] == 30
    assert hist_count(ep["latency_hist"]) == 30


@pytest.mark.parametrize("concurrency", [1, 8])
def test_concurrency_is_reached_and_never_exceeded(server: BenchServer, probe: Probe, concurrency: int) -> None:
    result = probe(
        server.url, Endpoint(path="/delay/50"), requests=4 * concurrency, concurrency=concurrency, warmup=20
    )
    assert result["endpoints"][0]["ok"] == 4 * concurrency
    assert server.stats.max_in_flight == concurrency


def test_duration_mode_runs_about_duration_and_counts_what_it_did(server: BenchServer, probe: Probe) -> None:
    result = probe(
        server.url, Endpoint(path="/delay/10"), requests=None, duration_s=0.6, concurrency=4, warmup=4
    )
    (ep,) = result["endpoints"]
    wall = ep["finished_at"] - ep["started_at"]
    assert 0.6 <= wall < 1.2
    assert server.stats.hits["/delay/10"] == 4 + ep["requests"]
    assert ep["requests"] == ep["ok"] == hist_count(ep["latency_hist"])
    # closed loop: each worker does at most one request per 10 ms; and it did get work done
    assert 20 <= ep["requests"] <= 4 * (0.6 / 0.010 + 1)
