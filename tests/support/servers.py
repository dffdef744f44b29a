"""Real local test servers on 127.0.0.1 (random ports), each served from its own event-loop thread.

- :class:`BenchServer` -- an aiohttp app with routes that misbehave on purpose, and
  :class:`ServerStats` counted on the server side (hits per path, requests in flight, the most
  ever in flight at once, the last request seen)::

      with BenchServer() as srv:
          run_probe(Service(name="svc", base_url=srv.url, endpoints=(Endpoint(path="/delay/20"),)))
          assert srv.stats.max_in_flight <= 10

  Routes (any method): ``/ok`` · ``/delay/{ms}`` · ``/flaky/{n}`` (500 on every n-th hit of that
  path, counting from 1) · ``/status/{code}`` · ``/bytes/{n}`` (streams n bytes) ·
  ``/redirect-loop`` (302 to itself) · ``/echo`` (200; keeps method, headers, body in
  ``stats.last_request``).
- :class:`ScriptedServer` -- a raw TCP server running a script per connection (hang, drip, ...);
  :func:`raw_tcp_server` -- one that answers fixed bytes and closes (not HTTP).
- :func:`refused_port` -- a loopback port nobody listens on.
- :func:`self_signed_server_context` -- TLS context with a fresh self-signed certificate, for
  ``BenchServer(ssl_context=...)``.

Used by the engine tests (tests/unit/engine) and the DAG suites.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

HOST = "127.0.0.1"
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class LastRequest:
    method: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class ServerStats:
    """Counted on the server side (mutated only by the server loop; read once the client is done)."""

    hits: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    last_request: LastRequest = field(default_factory=LastRequest)

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    def reset(self) -> None:
        self.hits.clear()
        self.max_in_flight = self.in_flight
        self.last_request = LastRequest()


def _stats_middleware(stats: ServerStats) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        stats.hits[request.path] += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            return await handler(request)
        finally:
            stats.in_flight -= 1

    return middleware


def build_app(stats: ServerStats) -> web.Application:
    """The test app (see module docstring for the routes)."""
    app = web.Application(middlewares=[_stats_middleware(stats)])

    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=b"ok")

    async def delay(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.Response(body=b"ok")

    async def flaky(request: web.Request) -> web.Response:
        nth = int(request.match_info["n"])
        failing = stats.hits[request.path] % nth == 0
        return web.Response(status=500 if failing else 200, body=b"flaky")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), body=b"status")

    async def payload(request: web.Request) -> web.StreamResponse:
        size = int(request.match_info["n"])
        resp = web.StreamResponse()
        resp.content_length = size
        await resp.prepare(request)
        chunk = b"x" * 65536
        for start in range(0, size, len(chunk)):
            await resp.write(chunk[: size - start])
        await resp.write_eof()
        return resp

    async def redirect_loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/redirect-loop")

    async def echo(request: web.Request) -> web.Response:
        stats.last_request = LastRequest(request.method, dict(request.headers), await request.read())
        return web.Response(body=b"echo")

    for path, handler in (
        ("/ok", ok), ("/delay/{ms}", delay), ("/flaky/{n}", flaky), ("/status/{code}", status),
        ("/bytes/{n}", payload), ("/redirect-loop", redirect_loop), ("/echo", echo),
    ):
        app.router.add_route("*", path, handler)
    return app


class BenchServer:
    """:func:`build_app` served on 127.0.0.1:<free port>; ``stats`` counts what it saw."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.stats = ServerStats()
        self.port = 0
        self._ssl_context = ssl_context
        self._loop: LoopThread | None = None
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{HOST}:{self.port}"

    def start(self) -> BenchServer:
        self._loop = LoopThread("bench-server")
        self._loop.call(self._setup())
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:  # None when the setup failed before the runner existed
            self._loop.call(self._runner.cleanup())
            self._runner = None
        self._loop.close()
        self._loop = None

    async def _setup(self) -> None:
        # handler_cancellation: a client that timed out must not leave a sleeping handler behind
        self._runner = web.AppRunner(
            build_app(self.stats), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0, ssl_context=self._ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]


class ScriptedServer:
    """A raw TCP server on 127.0.0.1 running ``script(reader, writer, server)`` per connection."""

    def __init__(self, script: Callable[[asyncio.StreamReader, asyncio.StreamWriter, ScriptedServer], Awaitable[None]]):
        self.script = script
        self.connections = 0
        self.sent_per_connection: list[int] = []
        self.port = 0
        self._loop: LoopThread | None = None
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> ScriptedServer:
        self._loop = LoopThread("scripted-server")
        self._server = self._loop.call(asyncio.start_server(self._handle, HOST, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call(self._close())  # on the server's own loop: asyncio servers are not thread-safe
        self._loop.close()

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        await asyncio.sleep(0.05)  # let the scripts see the abort and return

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.add(writer)
        try:
            await self.script(reader, writer, self)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._open.discard(writer)
            writer.transport.abort()


def raw_tcp_server(reply: bytes = b"this is not HTTP\r\n\r\n") -> ScriptedServer:
    """Answers every connection with ``reply`` (after reading once) and closes it: not HTTP."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: ScriptedServer) -> None:
        await reader.read(65536)
        writer.write(reply)
        await writer.drain()

    return ScriptedServer(answer)


def refused_port() -> int:
    """A loopback port that was just free: bind, read the port, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def self_signed_server_context() -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (no CA trusts it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "perf-profiler-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
    return context
