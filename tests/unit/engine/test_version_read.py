"""Reading a service's release from its version source (issue 15, point 5), against real servers:
a header of the first endpoint, a version endpoint's first line or JSON field; every failure is a
``VersionRead(None, why)``, never an exception; no redirect followed; long or control-character values refused."""
from __future__ import annotations

import asyncio
import time

import pytest

from perf_profiler.engine.version_read import BODY_CAP, read_version
from perf_profiler.model.secret_headers import with_secret_headers
from perf_profiler.model.targets import Service
from servers import ScriptedServer, refused_port


def answering(status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"", delay: float = 0.0,
              seen: list[bytes] | None = None) -> ScriptedServer:
    """A server answering every request with this raw response (and keeping each request's head in ``seen``)."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(head)
        await asyncio.sleep(delay)
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    return ScriptedServer(script)


def service(url: str, version: dict, **more: object) -> Service:
    return Service.model_validate({"name": "api", "base_url": url, "version": version,
                                   "load": {"timeout_s": 1.0, "connect_timeout_s": 0.5},
                                   "endpoints": [{"path": "/items?x=1", "headers": {"X-Trace": "t"}}], **more})


def test_a_header_of_one_get_to_the_first_endpoint():
    seen: list[bytes] = []
    with answering(headers={"X-Version": "  1.4.2+build.7 "}, seen=seen) as server:
        read = read_version(service(server.url, {"header": "X-Version"}))
    assert (read.version, read.error) == ("1.4.2+build.7", None)
    assert len(seen) == 1 and seen[0].startswith(b"GET /items?x=1 HTTP/1.1"), "one GET, to the first endpoint"
    assert b"X-Trace: t" in seen[0], "with the endpoint's headers"


def test_secret_headers_go_along_to_the_same_origin():
    seen: list[bytes] = []
    with answering(headers={"X-Version": "2"}, seen=seen) as server:
        armed = with_secret_headers(service(server.url, {"header": "X-Version"}), {"Authorization": "Bearer s3cr3t"})
        assert read_version(armed).version == "2"
    assert b"Authorization: Bearer s3cr3t" in seen[0]


def test_a_missing_header_is_no_version_and_says_why():
    with answering(headers={"X-Other": "1"}) as server:
        read = read_version(service(server.url, {"header": "X-Version"}))
    assert read.version is None and "without a 'X-Version' header" in (read.error or "")


def test_a_version_path_first_line_and_a_json_field():
    seen: list[bytes] = []
    with answering(body=b"\r\n 2026.11.30-rc1 \r\nbuilt by ci\r\n", seen=seen) as server:
        assert read_version(service(server.url, {"path": "/version"})).version == "2026.11.30-rc1"
    assert seen[0].startswith(b"GET /version HTTP/1.1")
    with answering(body=b'{"version": "3.2.1", "commit": "abc"}') as server:
        assert read_version(service(server.url, {"path": "/v", "json_field": "version"})).version == "3.2.1"
    with answering(body=b'{"build": 812}') as server:
        assert read_version(service(server.url, {"path": "/v", "json_field": "build"})).version == "812"


@pytest.mark.parametrize(("response", "version", "why"), [
    ({"status": 500, "body": b"1.0"}, {"path": "/version"}, "GET /version answered 500"),
    ({"status": 302, "headers": {"Location": "http://example.com/v", "X-Version": "9"}}, {"header": "X-Version"},
     "answered 302"),
    ({"body": b"x" * 300}, {"path": "/version"}, "longer than 256 characters (300)"),
    ({"body": b"1.0\x1b[31m"}, {"path": "/version"}, "control characters"),
    ({"headers": {"X-Version": "1.0\x7f"}}, {"header": "X-Version"}, "control characters"),
    ({"body": b"   \n"}, {"path": "/version"}, "is empty"),
    ({"body": b"<html>"}, {"path": "/v", "json_field": "version"}, "not JSON"),
    ({"body": b'{"version": true}'}, {"path": "/v", "json_field": "version"}, "no string or number"),
    ({"body": b'{"version": "1"}' + b" " * BODY_CAP}, {"path": "/v", "json_field": "version"}, "larger than"),
])
def test_unusable_answers_are_no_version_with_the_reason(response, version, why):
    with answering(**response) as server:
        read = read_version(service(server.url, version))
    assert read.version is None and why in (read.error or ""), read


def test_a_hanging_source_gives_up_at_the_total_timeout():
    with answering(headers={"X-Version": "1"}, delay=5.0) as server:
        started = time.perf_counter()
        read = read_version(service(server.url, {"header": "X-Version"}))
        took = time.perf_counter() - started
    assert read.version is None and "Timeout" in (read.error or "")
    assert took < 3.0, "load.timeout_s is 1 s"


def test_a_refused_connection_is_no_version():
    read = read_version(service(f"http://127.0.0.1:{refused_port()}", {"header": "X-Version"}))
    assert read.version is None and read.error


def test_no_source_reads_nothing():
    plain = Service.model_validate({"name": "api", "base_url": "http://127.0.0.1:9", "endpoints": [{"path": "/"}]})
    assert read_version(plain).version is None and read_version(plain).error is None
