"""The fast engine's exchanges: one endpoint's target (:class:`FastTarget`) and its slots.

A :class:`Slot` runs one exchange at a time on its keep-alive connection (``fast_protocol``) and
calls its ``on_done(slot, error)`` exactly once per :meth:`Slot.start` -- never from inside
``start`` -- with None or the error class. Connecting (when the slot has no live connection) is
part of the exchange and of its latency: the name is resolved once per endpoint (a failure is
``dns`` every time, as in aiohttp), the connect is bounded by ``connect_timeout_s`` and by what is
left of ``timeout_s``. A reused connection the server closed before answering is replaced and the
request sent once more (idempotent methods, as aiohttp does); a redirect response is handed to
aiohttp (``exchange.follow_redirect``) with the rest of the timeout.

Status codes count like the aiohttp engine's: every final response that arrived, the last one of
a redirected exchange.
"""
from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import aiohttp

from perf_profiler.engine.canonical import wire_bytes
from perf_profiler.engine.classify import classify_error, describe, out_of_fds
from perf_profiler.engine.exchange import RequestSpec, follow_redirect
from perf_profiler.engine.fast_protocol import REDIRECT, RETRY, FastConnection
from perf_profiler.engine.recorders import EndpointRecorder

#: Methods resent once when a reused connection was closed before the response (RFC 9112 §9.3.1.1).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

_WHY = {
    "timeout": "no complete response within the timeout",
    "protocol": "malformed response, or the server closed the connection mid-response",
    "connect": "the connection was reset before any response",
    "status": "unexpected status",
    "body_too_large": "body over max_body_bytes",
}


class FastTarget:
    """One endpoint as the fast engine sends it: the request bytes, limits, resolved address, idle connections."""

    def __init__(self, spec: RequestSpec, session: aiohttp.ClientSession, timeout_s: float,
                 connect_timeout_s: float) -> None:
        assert spec.canonical is not None
        self.spec = spec
        self.session = session  # redirects are followed by aiohttp
        self.loop = asyncio.get_running_loop()
        self.request = wire_bytes(spec.canonical)
        self.head = spec.method == "HEAD"
        self.retry_ok = spec.method in IDEMPOTENT
        self.host = spec.url.raw_host or ""
        self.port = spec.url.port or 80
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.address: str | None = None  # the resolved host, cached like aiohttp's DNS cache
        self.idle: list[FastConnection] = []  # live connections between phases (warm-up -> counted)

    def take_idle(self) -> FastConnection | None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
        return None

    def close(self) -> None:
        """Close every idle connection (the endpoint is done)."""
        for conn in self.idle:
            conn.close()
        self.idle.clear()

    async def connect(self, slot: Slot, deadline: float) -> FastConnection:
        """A new connection for ``slot``; raises TimeoutError, socket.gaierror or OSError."""
        loop = self.loop
        left = min(deadline - loop.time(), self.connect_timeout_s)
        if left <= 0:
            raise TimeoutError
        return await asyncio.wait_for(self._open(slot), left)  # not asyncio.timeout: Python 3.10 too

    async def _open(self, slot: Slot) -> FastConnection:
        loop, spec = self.loop, self.spec
        if self.address is None:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            self.address = str(infos[0][4][0])
        _, conn = await loop.create_connection(
            lambda: FastConnection(slot, self.request, self.head, spec.max_body, spec.expected, loop, self.retry_ok),
            self.address, self.port)
        return conn


def connect_error(exc: BaseException) -> str:
    """The error class of a failed connect, as aiohttp's connector reports it."""
    if out_of_fds(exc):
        return "client"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    if isinstance(exc, OSError):
        return "connect"  # aiohttp wraps every OSError of a connect in ClientConnectorError
    return classify_error(exc)


class Slot:
    """One request in flight at a time, on its own keep-alive connection."""

    __slots__ = ("conn", "intended", "on_done", "recorder", "retried", "sent", "started", "target")

    def __init__(self, target: FastTarget, recorder: EndpointRecorder,
                 on_done: Callable[[Slot, str | None], None]) -> None:
        self.target = target
        self.recorder = recorder
        self.on_done = on_done
        self.conn: FastConnection | None = target.take_idle()
        if self.conn is not None:
            self.conn.owner = self
        self.started = 0.0  # loop.time() at the start of the exchange
        self.sent = 0  # perf_counter_ns at the start of the exchange (kept for the loops)
        self.intended = 0  # open loop: the arrival's intended send time (perf_counter_ns)
        self.retried = False

    def start(self) -> None:
        """Start an exchange now (the caller set ``sent``); ``on_done`` follows later."""
        target = self.target
        self.started = now = target.loop.time()
        self.retried = False
        conn = self.conn
        if conn is not None and not conn.closed:
            conn.request(now + target.timeout_s)
        else:
            self.conn = None
            target.loop.create_task(self._connect_and_send())

    def park(self) -> None:
        """The phase is over: leave the connection for the next phase of the endpoint."""
        conn = self.conn
        if conn is not None and not conn.closed:
            if conn.busy:  # a phase cut short (a cancel, a deadline): nobody waits for this answer
                conn.close()
            else:
                self.target.idle.append(conn)
        self.conn = None

    async def _connect_and_send(self) -> None:
        target = self.target
        deadline = self.started + target.timeout_s
        try:
            conn = await target.connect(self, deadline)
        except Exception as exc:  # failures are data
            self._done(connect_error(exc), describe(exc))
            return
        self.conn = conn
        conn.request(deadline)

    # ------------------------------------------------------------------ fast_protocol.ExchangeOwner
    def exchange_done(self, outcome: str | None, status: int, location: bytes | None) -> None:
        if outcome == RETRY and not self.retried:
            self.retried = True
            self.conn = None
            self.target.loop.create_task(self._connect_and_send())
            return
        if outcome == REDIRECT:
            self.target.loop.create_task(self._redirect(status, location))
            return
        if status:
            codes = self.recorder.status_codes
            codes[status] = codes.get(status, 0) + 1
        if outcome is None:
            self.on_done(self, None)
        else:
            self._done("protocol" if outcome == RETRY else outcome, _WHY.get(outcome, outcome))

    def exchange_ok(self, status: int) -> None:
        codes = self.recorder.status_codes
        codes[status] = codes.get(status, 0) + 1
        self.on_done(self, None)

    def connection_closed(self, conn: FastConnection) -> None:
        if self.conn is conn:
            self.conn = None

    async def _redirect(self, status: int, location: bytes | None) -> None:
        target = self.target
        started = time.monotonic() - (target.loop.time() - self.started)
        error = await follow_redirect(target.session, target.spec, self.recorder, status,
                                      None if location is None else location.decode("latin-1"), started)
        self.on_done(self, error)

    def _done(self, error: str, why: str) -> None:
        first = self.recorder.first_error
        if error not in first:
            first[error] = why[:300]
        self.on_done(self, error)
