"""Body framing, interim responses and misbehaving servers: both engines give the same result.

Each case is a raw server script (tests/support/servers.ScriptedServer) answering every request
on a connection the same way; the suite runs once per engine (the autouse ``engine`` fixture), and
every case states the one outcome both engines must report: the counts by class, the status codes
and how many connections the server saw (keep-alive reuse, reconnects).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from perf_profiler.model.result import BenchmarkResult
from perf_profiler.model.targets import Endpoint
from servers import ScriptedServer

REQUESTS = 6


@dataclass(frozen=True)
class Case:
    reply: bytes  # the answer to every request
    close_after: bool = False  # close the connection after each answer
    errors: str | None = None  # the class every request lands in (None: all ok)
    status: str | None = "200"  # the status code counted for each request (None: none arrived)
    connections: int | None = None  # connections the server must have seen
    method: str = "GET"
    expected: tuple[int, ...] = (200,)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CASES = {
    "content-length, keep-alive": Case(OK, connections=2),
    "chunked": Case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n",
                    connections=2),
    "eof-delimited": Case(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 1500, close_after=True,
                          connections=REQUESTS),
    "connection: close": Case(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                              close_after=True, connections=REQUESTS),
    "http/1.0": Case(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", close_after=True, connections=REQUESTS),
    "100 continue first": Case(b"HTTP/1.1 100 Continue\r\n\r\n" + OK, connections=2),
    "204": Case(b"HTTP/1.1 204 No Content\r\n\r\n", status="204", expected=(204,), connections=2),
    "304 with a length": Case(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", status="304",
                              expected=(304,), connections=2),
    "head with a length": Case(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", method="HEAD", connections=2),
    "unexpected status": Case(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", errors="status", status="503",
                              connections=2),
    "over the cap": Case(b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + b"x" * 3000, errors="body_too_large"),
    "status beats the cap": Case(b"HTTP/1.1 500 Oops\r\nContent-Length: 3000\r\n\r\n" + b"x" * 3000,
                                 errors="status", status="500"),
    "chunked over the cap": Case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n" + b"x" * 3000
                                 + b"\r\n0\r\n\r\n", errors="body_too_large"),
    "malformed length": Case(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok", errors="protocol", status=None),
    "not http": Case(b"SSH-2.0-OpenSSH_9.2\r\n", close_after=True, errors="protocol", status=None),
    "truncated body": Case(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close_after=True,
                           errors="protocol"),
}


def _script(case: Case) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter, ScriptedServer], Awaitable[None]]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(case.reply)
            await writer.drain()
            if case.close_after:
                writer.close()
                return

    return answer


@pytest.mark.parametrize("name", list(CASES))
def test_each_framing_and_misbehaviour_is_classified_the_same(
    probe: Callable[..., BenchmarkResult], name: str
) -> None:
    case = CASES[name]
    with ScriptedServer(_script(case)) as server:
        endpoint = Endpoint(path="/", method=case.method, expected_status=case.expected)  # type: ignore[arg-type]
        (ep,) = probe(server.url, endpoint, requests=REQUESTS, concurrency=2, max_body_bytes=2048)["endpoints"]
        connections = server.connections
    errors = {k: n for k, n in ep["errors"].items() if n}
    assert errors == ({} if case.errors is None else {case.errors: REQUESTS})
    assert ep["ok"] == (REQUESTS if case.errors is None else 0)
    assert ep["status_codes"] == ({} if case.status is None else {case.status: REQUESTS})
    if case.connections is not None:
        assert connections == case.connections


async def _close_on_the_second_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                       server: ScriptedServer) -> None:
    """Answer one request keep-alive, then close the connection when the next one arrives (the race
    of a server closing an idle connection just as the client reuses it)."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(OK)
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")


def test_a_reused_connection_closed_before_the_answer_is_resent_once(probe: Callable[..., BenchmarkResult]) -> None:
    with ScriptedServer(_close_on_the_second_request) as server:
        (ep,) = probe(server.url, Endpoint(path="/"), requests=REQUESTS, concurrency=1)["endpoints"]
        connections = server.connections
    assert (ep["ok"], ep["requests"]) == (REQUESTS, REQUESTS)
    assert connections == REQUESTS  # each request after the first was resent on a new connection


def test_a_post_is_not_resent(probe: Callable[..., BenchmarkResult]) -> None:
    with ScriptedServer(_close_on_the_second_request) as server:
        (ep,) = probe(server.url, Endpoint(path="/", method="POST", body="x"), requests=2, concurrency=1,
                      allow_writes=True)["endpoints"]
    assert ep["ok"] == 1
    assert {k: n for k, n in ep["errors"].items() if n} == {"protocol": 1}  # aiohttp: ServerDisconnectedError


def test_a_connect_that_hangs_is_a_timeout_at_the_connect_timeout(probe: Callable[..., BenchmarkResult]) -> None:
    """A listener whose accept queue is full drops new SYNs: the connect hangs until connect_timeout_s."""
    import socket

    from perf_profiler.analysis import histogram

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):  # fill the accept queue (never accepted)
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            fillers.append(sock)
        try:
            (ep,) = probe(f"http://127.0.0.1:{port}", Endpoint(path="/"), requests=2, concurrency=2,
                          timeout_s=10.0, connect_timeout_s=0.3)["endpoints"]
        finally:
            for sock in fillers:
                sock.close()
    assert {k: n for k, n in ep["errors"].items() if n} == {"timeout": 2}
    slowest = histogram.summarize(histogram.decode(ep["error_hist"])).max_ms
    assert slowest < 5000, "the connect timeout (0.3 s) ended them, not the total timeout (10 s)"
