"""The fast engine's connection: one ``asyncio.Protocol`` per keep-alive HTTP/1.1 connection.

A :class:`FastConnection` sends the endpoint's request bytes (encoded once, ``engine.canonical``)
and parses the response with httptools (llhttp, C), one exchange at a time (no pipelining). Its
owner (``fast_exchange.Slot``) gets exactly one :meth:`~ExchangeOwner.exchange_done` call per
request sent: the response's outcome, in the aiohttp engine's classes and precedence
(``exchange``): an exception decides (timeout, reset, malformed response); otherwise an
unexpected status is ``status``; otherwise a body over the cap is ``body_too_large``.

Framing is llhttp's: Content-Length, chunked, and EOF-delimited bodies (complete when the server
closes); 204/304 and 1xx have no body (an interim 1xx is skipped); HEAD is told apart here (llhttp
cannot be told the request method), its response ends with its head. A body over the cap closes
the connection at once. A response that does not keep the connection alive closes it.
One timer per connection: armed at the first request and re-armed to the current deadline when
it fires early, never cancelled per request.
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol

import httptools

from perf_profiler.engine.redirects import REDIRECT_STATUSES

#: Outcomes besides the error classes (``classify.ERROR_CLASSES``) an exchange may end with.
OK = None
REDIRECT = "->redirect"  # a redirect response: its body was read, the owner hands it to aiohttp
RETRY = "->retry"  # the server closed a reused connection before answering: send again, once


_FRAMING = (b"content-length", b"transfer-encoding")


class ExchangeOwner(Protocol):
    """What a connection reports to (``fast_exchange.Slot``)."""

    def exchange_done(self, outcome: str | None, status: int, location: bytes | None) -> None: ...

    def connection_closed(self, conn: FastConnection) -> None: ...


class _HeadDone(Exception):
    """Stops the parser at the end of a HEAD response's head (llhttp would wait for its body)."""


class FastConnection(asyncio.Protocol):
    """One keep-alive connection; ``request()`` starts an exchange, the owner hears how it ended."""

    def __init__(self, owner: ExchangeOwner, request: bytes, head: bool, max_body: int,
                 expected: frozenset[int], loop: asyncio.AbstractEventLoop, retry_ok: bool) -> None:
        self.owner = owner
        self.retry_ok = retry_ok  # an idempotent request: resent once when a reused connection was closed
        self.loop = loop
        self.request_bytes = request
        self.head = head
        self.max_body = max_body
        self.expected = expected
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.busy = False
        self.used = 0  # exchanges started on this connection
        self.deadline = 0.0  # loop.time() at which the exchange in flight times out
        self.timer: asyncio.TimerHandle | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.body = 0
        self.got = False  # any byte of the response arrived
        self.headers_done = False
        self.complete = False
        self.oversize = False
        self.eof_framed = False  # neither Content-Length nor chunked: the body ends at EOF
        self.framing_seen = False
        self.location: bytes | None = None
        self.stopped = False  # a callback stopped the parser on purpose (HEAD's head, or the cap)
        self.keep_alive = False  # the response lets the connection be reused

    # ------------------------------------------------------------------ the owner's side
    def request(self, deadline: float) -> None:
        """Send the request; the exchange times out at ``deadline`` (``loop.time()``)."""
        self._reset()
        self.busy = True
        self.used += 1
        self.deadline = deadline
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._on_timer)
        assert self.transport is not None
        self.transport.write(self.request_bytes)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for: the connection is not usable any more
            self.close()
            return
        self.got = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish("protocol")
            return
        except httptools.HttpParserError:
            if not self.stopped:
                self._finish("protocol")
                return
            if not self.oversize:  # HEAD: the response ended with its head
                self.complete = True
                self.keep_alive = self.parser.should_keep_alive()
                self.parser = httptools.HttpResponseParser(self)  # at a message boundary again
        if self.oversize:
            self.close()  # dropped, not drained
            self._finish("status" if self.status not in self.expected else "body_too_large")
        elif self.complete:
            self._complete()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost decides

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.busy:
            if self.headers_done and self.eof_framed and not self.oversize:
                self.complete = True
                self._complete()
            elif not self.got and self.used > 1 and self.retry_ok:
                self._finish(RETRY)  # as aiohttp does for idempotent methods (RFC 9112 §9.3.1.1)
            elif not self.got and isinstance(exc, OSError):
                self._finish("connect")  # reset/refused before any answer (aiohttp: ClientOSError)
            else:
                self._finish("protocol")  # closed mid-response (aiohttp: ServerDisconnected/ClientPayloadError)
        self.owner.connection_closed(self)

    # ------------------------------------------------------------------ httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name)  # most headers are told apart by their length alone (this runs per header)
        if size == 8:
            if name.lower() == b"location":
                self.location = value
        elif (size == 14 or size == 17) and name.lower() in _FRAMING:
            self.framing_seen = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        self.status = status
        if 100 <= status < 200 and status != 101:
            return  # interim: its message completes, the final response follows
        self.headers_done = True
        self.eof_framed = not self.framing_seen and not self.head and status not in (204, 304)
        if self.head:
            self.stopped = True
            raise _HeadDone

    def on_body(self, body: bytes) -> None:
        self.body += len(body)
        if self.body > self.max_body and self.status not in REDIRECT_STATUSES:
            self.oversize = self.stopped = True
            raise _HeadDone  # stop parsing: the connection is dropped, not drained

    def on_message_complete(self) -> None:
        if not self.headers_done:  # an interim 1xx response ended: wait for the final one
            self.framing_seen = False
            self.location = None
            return
        self.complete = True
        # read here: llhttp resets the message's flags once this callback returns
        self.keep_alive = self.parser.should_keep_alive()

    # ------------------------------------------------------------------ endings
    def _complete(self) -> None:
        status = self.status
        if not self.keep_alive or self.eof_framed:
            self.close()
        if status in REDIRECT_STATUSES:
            self._finish(REDIRECT)
        else:
            self._finish(OK if status in self.expected else "status")

    def _finish(self, outcome: str | None) -> None:
        if not self.busy:
            return
        self.busy = False
        if outcome not in (OK, REDIRECT, "status"):
            self.close()
        self.owner.exchange_done(outcome, self.status if self.headers_done else 0, self.location)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed or not self.busy:
            return
        if self.loop.time() >= self.deadline:
            self._finish("timeout")
        else:
            self.timer = self.loop.call_at(self.deadline, self._on_timer)
