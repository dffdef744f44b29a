"""exchange: every way one HTTP exchange can fail lands in its own class, against real servers."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from perf_profiler.analysis import histogram
from perf_profiler.engine.canonical import USER_AGENT
from perf_profiler.engine.classify import ERROR_CLASSES
from perf_profiler.engine.exchange import MAX_REDIRECTS, request_spec
from perf_profiler.model.result import BenchmarkResult
from perf_profiler.model.targets import Endpoint, LoadSettings
from servers import BenchServer, raw_tcp_server, refused_port, self_signed_server_context

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def refused() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    yield f"http://127.0.0.1:{refused_port()}", Endpoint(path="/ok"), {}


@contextlib.contextmanager
def timeout() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint(path="/delay/3000"), {"timeout_s": 0.3}


@contextlib.contextmanager
def oversize() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint(path="/bytes/300000"), {"max_body_bytes": 1000}


@contextlib.contextmanager
def unexpected_status() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint(path="/status/404", expected_status=(200,)), {}


@contextlib.contextmanager
def redirect_loop() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer() as srv:
        yield srv.url, Endpoint(path="/redirect-loop"), {}


@contextlib.contextmanager
def not_http() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with raw_tcp_server() as raw:
        yield raw.url, Endpoint(path="/ok"), {}


@contextlib.contextmanager
def untrusted_cert() -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    with BenchServer(ssl_context=self_signed_server_context()) as srv:
        yield srv.url, Endpoint(path="/ok"), {}


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
def test_each_failure_lands_in_its_own_class(
    probe: Callable[..., BenchmarkResult], scenario: Callable[..., Any], error_class: str
) -> None:
    with scenario() as (url, endpoint, load):
        result = probe(url, endpoint, requests=6, concurrency=3, warmup=2, **load)
    (ep,) = result["endpoints"]
    assert ep["ok"] == 0
    assert ep["errors"] == {**dict.fromkeys(ERROR_CLASSES, 0), error_class: 6}


def test_timeout_latency_is_the_timeout(server: BenchServer, probe: Callable[..., BenchmarkResult]) -> None:
    result = probe(server.url, Endpoint(path="/delay/3000"), requests=4, concurrency=4, timeout_s=0.3)
    stats = histogram.summarize(histogram.decode(result["endpoints"][0]["error_hist"]))
    assert stats.count == 4
    assert stats.min_ms >= 295.0 and stats.max_ms < 1500.0, stats


def test_status_codes_of_unexpected_and_oversize_responses_are_counted(
    server: BenchServer, probe: Callable[..., BenchmarkResult]
) -> None:
    result = probe(
        server.url,
        Endpoint(path="/status/404"),
        Endpoint(path="/bytes/5000"),
        Endpoint(path="/status/404", name="404 is fine", expected_status=(200, 404)),
        requests=5, max_body_bytes=1000,
    )
    missing, big, accepted = result["endpoints"]
    assert missing["status_codes"] == {"404": 5} and missing["errors"]["status"] == 5
    assert big["status_codes"] == {"200": 5} and big["errors"]["body_too_large"] == 5
    assert accepted["status_codes"] == {"404": 5} and accepted["ok"] == 5


def test_body_exactly_at_the_cap_is_ok_one_byte_more_is_too_large(
    server: BenchServer, probe: Callable[..., BenchmarkResult]
) -> None:
    result = probe(
        server.url, Endpoint(path="/bytes/70000"), Endpoint(path="/bytes/70001"), requests=5, max_body_bytes=70000
    )
    at_cap, over = result["endpoints"]
    assert at_cap["ok"] == 5
    assert over["ok"] == 0 and over["errors"]["body_too_large"] == 5


def test_tls_without_verification_succeeds(probe: Callable[..., BenchmarkResult]) -> None:
    with BenchServer(ssl_context=self_signed_server_context()) as srv:
        result = probe(srv.url, Endpoint(path="/ok"), requests=5, verify_tls=False)
    assert result["endpoints"][0]["ok"] == 5


def test_request_spec_holds_what_the_hot_path_needs() -> None:
    # a config as written (lower-case method): the spec carries what validation made of it
    endpoint = Endpoint.model_validate({"path": "/x", "method": "post", "headers": (("X-A", "b"),), "body": '{"k": 1}'})
    spec = request_spec("http://127.0.0.1:1/", endpoint, LoadSettings(max_body_bytes=10))
    assert (spec.method, str(spec.url), spec.max_body, spec.expected) == ("POST", "http://127.0.0.1:1/x", 10, {200})
    # redirects are followed by the exchange itself (same origin only without a policy), at most 10
    # the canonical request's headers, all explicit (aiohttp adds only its Host, the same as ours)
    assert spec.kwargs == {"allow_redirects": False, "data": b'{"k": 1}', "headers": {
        "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity", "X-A": "b",
        "Content-Type": "application/octet-stream", "Content-Length": "8"}}
    assert spec.redirects.home == "http://127.0.0.1:1" and not spec.redirects.allowed
    assert spec.redirects.max_hops == MAX_REDIRECTS == 10
