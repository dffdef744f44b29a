"""probe: closed-loop load against real local aiohttp servers (tests/servers.py), no mocks."""
from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import aiohttp
import pytest
from servers import BenchServer, raw_tcp_server, refused_port, self_signed_server_context

from perf_profiler.analysis import histogram
from perf_profiler.engine.runner import ERROR_CLASSES, classify_error, run_probe
from perf_profiler.model.targets import Endpoint, LoadSettings, Service

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server() -> Iterator[BenchServer]:
    with BenchServer() as srv:
        yield srv


def probe(
    url: str, *endpoints: Endpoint, verify_tls: bool = True, use_uvloop: bool | None = None, **load: Any
) -> dict[str, Any]:
    """run_probe for a service ``svc`` at ``url``; ``load`` overrides LoadSettings fields."""
    settings = LoadSettings(**{"requests": 20, "concurrency": 4, "warmup": 0, **load})
    service = Service("svc", url, tuple(endpoints), load=settings, verify_tls=verify_tls)
    return run_probe(service, use_uvloop=use_uvloop)


def hist_count(encoded: str) -> int:
    return histogram.summarize(histogram.decode(encoded)).count


def assert_consistent(ep: dict[str, Any]) -> None:
    """Counts add up and match the histograms."""
    assert set(ep["errors"]) == set(ERROR_CLASSES)
    assert ep["requests"] == ep["ok"] + sum(ep["errors"].values())
    assert hist_count(ep["latency_hist"]) == ep["ok"]
    assert hist_count(ep["error_hist"]) == sum(ep["errors"].values())


# --------------------------------------------------------------------------- latency
def test_fixed_20ms_server_gives_p50_between_20_and_25ms(server: BenchServer) -> None:
    # low concurrency: client and server share this process (and the GIL) and the machine is shared
    result = probe(server.url, Endpoint("/delay/20"), requests=60, concurrency=2, warmup=5)
    (ep,) = result["endpoints"]
    assert_consistent(ep)
    assert ep["ok"] == 60
    stats = histogram.summarize(histogram.decode(ep["latency_hist"]))
    assert 20.0 <= stats.p50_ms <= 25.0, stats


# --------------------------------------------------------------------------- error rate
@pytest.mark.parametrize("warmup", [0, 7])
def test_failing_every_10th_request_gives_error_rate_exactly_10_percent(
    server: BenchServer, warmup: int
) -> None:
    requests = 200
    result = probe(server.url, Endpoint("/flaky/10"), requests=requests, concurrency=10, warmup=warmup)
    (ep,) = result["endpoints"]
    # the server fails its hits number 10, 20, ...; warm-up took hits 1..W, counted ones W+1..W+N
    failing = sum(1 for hit in range(warmup + 1, warmup + requests + 1) if hit % 10 == 0)
    assert failing == 20
    assert server.stats.hits["/flaky/10"] == warmup + requests
    assert_consistent(ep)
    assert ep["errors"] == {**dict.fromkeys(ERROR_CLASSES, 0), "status": failing}
    assert ep["status_codes"] == {"200": requests - failing, "500": failing}
    assert sum(ep["errors"].values()) / ep["requests"] == 0.10


# --------------------------------------------------------------------------- error classes
@contextlib.contextmanager
def refused() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    yield f"http://127.0.0.1:{refused_port()}", Endpoint("/ok"), {}


@contextlib.contextmanager
def timeout() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint("/delay/3000"), {"timeout_s": 0.3}


@contextlib.contextmanager
def oversize() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint("/bytes/300000"), {"max_body_bytes": 1000}


@contextlib.contextmanager
def unexpected_status() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint("/status/404", expected_status=(200,)), {}


@contextlib.contextmanager
def redirect_loop() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint("/redirect-loop"), {}


@contextlib.contextmanager
def not_http() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with raw_tcp_server() as raw:
        yield raw.url, Endpoint("/ok"), {}


@contextlib.contextmanager
def untrusted_cert() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer(ssl_context=self_signed_server_context()) as srv:
        yield srv.url, Endpoint("/ok"), {}


@pytest.mark.parametrize(
    ("scenario", "error_class"),
    [
        (refused, "connect"),
        (timeout, "timeout"),
        (oversize, "body_too_large"),
        (unexpected_status, "status"),
        (redirect_loop, "redirect"),
        (not_http, "protocol"),
        (untrusted_cert, "tls"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_each_failure_lands_in_its_own_class(scenario: Callable[..., Any], error_class: str) -> None:
    with scenario() as (url, endpoint, load):
        result = probe(url, endpoint, requests=6, concurrency=3, warmup=2, **load)
    (ep,) = result["endpoints"]
    assert_consistent(ep)
    assert ep["ok"] == 0
    assert ep["errors"] == {**dict.fromkeys(ERROR_CLASSES, 0), error_class: 6}


def test_timeout_latency_is_the_timeout(server: BenchServer) -> None:
    result = probe(server.url, Endpoint("/delay/3000"), requests=4, concurrency=4, timeout_s=0.3)
    stats = histogram.summarize(histogram.decode(result["endpoints"][0]["error_hist"]))
    assert stats.count == 4
    assert 295.0 <= stats.min_ms and stats.max_ms < 1500.0, stats


def test_status_codes_of_unexpected_and_oversize_responses_are_counted(server: BenchServer) -> None:
    result = probe(
        server.url,
        Endpoint("/status/404"),
        Endpoint("/bytes/5000"),
        Endpoint("/status/404", name="404 is fine", expected_status=(200, 404)),
        requests=5, max_body_bytes=1000,
    )
    missing, big, accepted = result["endpoints"]
    assert missing["status_codes"] == {"404": 5} and missing["errors"]["status"] == 5
    assert big["status_codes"] == {"200": 5} and big["errors"]["body_too_large"] == 5
    assert accepted["status_codes"] == {"404": 5} and accepted["ok"] == 5


def test_body_exactly_at_the_cap_is_ok_one_byte_more_is_too_large(server: BenchServer) -> None:
    result = probe(
        server.url, Endpoint("/bytes/70000"), Endpoint("/bytes/70001"), requests=5, max_body_bytes=70000
    )
    at_cap, over = result["endpoints"]
    assert at_cap["ok"] == 5
    assert over["ok"] == 0 and over["errors"]["body_too_large"] == 5


def test_tls_without_verification_succeeds() -> None:
    with BenchServer(ssl_context=self_signed_server_context()) as srv:
        result = probe(srv.url, Endpoint("/ok"), requests=5, verify_tls=False)
    assert result["endpoints"][0]["ok"] == 5


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (aiohttp.ClientConnectorDNSError(None, socket.gaierror(-2, "Name or service not known")), "dns"),
        (aiohttp.ClientConnectorError(None, socket.gaierror(-3, "Temporary failure")), "dns"),
        (aiohttp.ClientConnectorError(None, ConnectionRefusedError(111, "refused")), "connect"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "connect"),
        (aiohttp.ServerTimeoutError("read timeout"), "timeout"),
        (TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "protocol"),
        (aiohttp.ClientPayloadError("incomplete"), "protocol"),
        (aiohttp.InvalidURL("nope"), "client"),
        (OSError(28, "No space left"), "client"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_classify_error(exc: BaseException, error_class: str) -> None:
    assert classify_error(exc) == error_class


# --------------------------------------------------------------------------- load model
def test_warmup_requests_are_not_counted(server: BenchServer) -> None:
    result = probe(server.url, Endpoint("/ok"), requests=30, concurrency=3, warmup=7)
    (ep,) = result["endpoints"]
    assert server.stats.hits["/ok"] == 7 + 30
    assert ep["requests"] == ep["ok"] == 30
    assert hist_count(ep["latency_hist"]) == 30


@pytest.mark.parametrize("concurrency", [1, 8])
def test_concurrency_is_reached_and_never_exceeded(server: BenchServer, concurrency: int) -> None:
    result = probe(
        server.url, Endpoint("/delay/50"), requests=4 * concurrency, concurrency=concurrency, warmup=20
    )
    assert result["endpoints"][0]["ok"] == 4 * concurrency
    assert server.stats.max_in_flight == concurrency


def test_duration_mode_runs_about_duration_and_counts_what_it_did(server: BenchServer) -> None:
    result = probe(
        server.url, Endpoint("/delay/10"), requests=None, duration_s=0.6, concurrency=4, warmup=4
    )
    (ep,) = result["endpoints"]
    wall = ep["finished_at"] - ep["started_at"]
    assert 0.6 <= wall < 1.2
    assert server.stats.hits["/delay/10"] == 4 + ep["requests"]
    assert ep["requests"] == ep["ok"] == hist_count(ep["latency_hist"])
    # closed loop: each worker does at most one request per 10 ms; and it did get work done
    assert 20 <= ep["requests"] <= 4 * (0.6 / 0.010 + 1)


def test_endpoints_run_one_after_another_with_their_method_headers_and_body(server: BenchServer) -> None:
    result = probe(
        server.url,
        Endpoint("/delay/20"),
        Endpoint("/echo", method="POST", headers=(("X-Probe", "yes"),), body='{"ping": 1}'),
        requests=12, concurrency=4,
    )
    slow, echo = result["endpoints"]
    assert slow["finished_at"] <= echo["started_at"]
    assert (slow["endpoint"], echo["endpoint"], echo["method"]) == ("/delay/20", "POST /echo", "POST")
    assert server.stats.hits["/echo"] == 12 and echo["ok"] == 12
    seen = server.stats.last_request
    assert (seen.method, seen.headers.get("X-Probe"), seen.body) == ("POST", "yes", b'{"ping": 1}')
    assert server.stats.max_in_flight <= 4


# --------------------------------------------------------------------------- result shape
@pytest.mark.parametrize("use_uvloop", [True, False])
def test_result_is_the_json_contract(server: BenchServer, use_uvloop: bool) -> None:
    result = probe(server.url, Endpoint("/ok"), requests=10, use_uvloop=use_uvloop)
    assert json.loads(json.dumps(result)) == result
    assert result["service"] == "svc" and result["base_url"] == server.url
    assert result["load"] == asdict(LoadSettings(requests=10, concurrency=4, warmup=0))
    (ep,) = result["endpoints"]
    assert {"endpoint", "method", "path", "started_at", "finished_at", "requests", "ok", "errors",
            "status_codes", "latency_hist", "error_hist"} <= set(ep)
    assert result["started_at"] <= ep["started_at"] <= ep["finished_at"] <= result["finished_at"]
    assert ep["status_codes"] == {"200": 10}
    assert_consistent(ep)


def test_result_size_does_not_grow_with_requests(server: BenchServer) -> None:
    result = probe(server.url, Endpoint("/ok"), requests=2000, concurrency=8)
    assert result["endpoints"][0]["ok"] == 2000
    # histograms grow with the number of distinct buckets hit, not with N (2000 raw samples >= 10 KB)
    assert len(json.dumps(result)) < 8000


@pytest.mark.parametrize(
    ("load", "message"), [({"concurrency": 0}, "concurrency"), ({"requests": None}, "requests"), ({"model": "open"}, "model")]
)
def test_settings_the_engine_cannot_run_are_refused(load: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        probe("http://127.0.0.1:9", Endpoint("/ok"), **load)
