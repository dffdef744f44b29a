"""One canonical request: both engines send byte-identical requests for the same endpoint."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from perf_profiler.engine.canonical import USER_AGENT, canonical_request, wire_bytes
from perf_profiler.model.result import BenchmarkResult
from perf_profiler.model.targets import Endpoint
from recording import RecordingServer

ENDPOINTS = {
    "get": Endpoint(path="/items?limit=5&q=a%20b"),
    "head": Endpoint(path="/health", method="HEAD"),
    "options": Endpoint(path="/x", method="OPTIONS"),
    "headers": Endpoint(path="/h", headers=(("X-Trace", "1"), ("Accept", "application/json"))),
    "host-override": Endpoint(path="/v", headers=(("Host", "api.example"),)),
    "gzip-asked": Endpoint(path="/z", headers=(("Accept-Encoding", "gzip"),)),
    "post-body": Endpoint(path="/p", method="POST", body='{"k": "v\u00e9"}'),
    "post-typed": Endpoint(path="/p", method="POST", body="a=1", headers=(("Content-Type", "text/plain"),)),
    "put-empty": Endpoint(path="/e", method="PUT"),
}


def _recorded(probe: Callable[..., BenchmarkResult], endpoint: Endpoint, engine: str) -> list[bytes]:
    with RecordingServer() as server:
        result = probe(server.url, endpoint, requests=3, concurrency=1, engine=engine, allow_writes=True)
        url = server.url
    assert result["engine"] == engine
    assert result["endpoints"][0]["ok"] == 3, {k: n for k, n in result["endpoints"][0]["errors"].items() if n}
    return [r.replace(url.removeprefix("http://").encode(), b"<host>") for r in server.requests]


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_both_engines_send_the_same_bytes(probe: Callable[..., BenchmarkResult], name: str) -> None:
    endpoint = ENDPOINTS[name]
    fast, aiohttp = _recorded(probe, endpoint, "fast"), _recorded(probe, endpoint, "aiohttp")
    assert len(fast) == len(aiohttp) == 3
    assert len(set(fast)) == 1, "one request, encoded once"
    assert fast == aiohttp
    # and it is the canonical request
    expected = wire_bytes(canonical_request("http://127.0.0.1:1", endpoint)).replace(b"127.0.0.1:1", b"<host>")
    assert fast[0] == expected


def test_the_canonical_request_is_honest_about_encodings_and_names_the_client() -> None:
    request = canonical_request("http://svc:8080/api/", Endpoint(path="/a?b=1"))
    assert wire_bytes(request) == (
        b"GET /api/a?b=1 HTTP/1.1\r\nHost: svc:8080\r\nUser-Agent: " + USER_AGENT.encode()
        + b"\r\nAccept: */*\r\nAccept-Encoding: identity\r\n\r\n")
    assert canonical_request("http://svc:80", Endpoint(path="/")).headers[0] == ("Host", "svc")
    body = canonical_request("http://svc", Endpoint(path="/p", method="POST", body="xy"))
    assert body.headers[-2:] == (("Content-Type", "application/octet-stream"), ("Content-Length", "2"))
    assert wire_bytes(body).endswith(b"\r\n\r\nxy")
