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
No Python call per header: the response's head is kept as received and read again (by
:class:`_HeadReader`) only on the rare paths that need a header -- a redirect's ``Location``, and
whether a body cut short by the server's close was EOF-delimited (complete) or not (``protocol``).
One timer per connection: armed at the first request and re-armed to the current deadline when
it fires early, never cancelled per request.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import httptools

from perf_profiler.engine.redirects import REDIRECT_STATUSES

#: Outcomes besides the error classes (``classify.ERROR_CLASSES``) an exchange may end with.
OK = None
REDIRECT = "->redirect"  # a redirect response: its body was read, the owner hands it to aiohttp
RETRY = "->retry"  # the server closed a reused connection before answering: send again, once


_FRAMING = (b"content-length", b"transfer-encoding")
#: A response head longer than this is refused (``protocol``): it is kept until it ends.
HEAD_MAX_BYTES = 1 << 20


class ExchangeOwner(Protocol):
    """What a connection reports to (``fast_exchange.Slot``)."""

    def exchange_done(self, outcome: str | None, status: int, location: bytes | None) -> None: ...

    def exchange_ok(self, status: int) -> None:
        """The common ending, told without the checks: an expected status, kept alive, no redirect."""

    def connection_closed(self, conn: FastConnection) -> None: ...


class _HeadDone(Exception):
    """Stops the parser at the end of a HEAD response's head (llhttp would wait for its body)."""


class _HeadReader:
    """The headers of the final response in a saved head (interim 1xx heads skipped), read again."""

    def __init__(self, head: bytes) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.interim = False
        self.parser = httptools.HttpResponseParser(self)
        with contextlib.suppress(httptools.HttpParserError):  # the final head ended (or was refused before)
            self.parser.feed_data(head)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value  # the last one wins, as a dict of the response would

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        self.interim = 100 <= status < 200 and status != 101
        if not self.interim:
            raise _HeadDone  # its body is not needed

    def on_message_complete(self) -> None:
        if self.interim:
            self.headers.clear()


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
        self.plain_ok = expected - REDIRECT_STATUSES  # statuses whose ending needs no more checks
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
        self.head_bytes = b""  # the response as received until its (final) head ended
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
        if not self.headers_done:
            head = self.head_bytes
            self.head_bytes = head + data if head else data
            if head and len(self.head_bytes) > HEAD_MAX_BYTES:
                self._finish("protocol")
                return
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
            if self.keep_alive and self.status in self.plain_ok:  # most exchanges: no checks to make
                self.busy = False
                self.owner.exchange_ok(self.status)
            else:
                self._complete()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost decides

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.busy:
            if self.headers_done and not self.oversize and self._eof_framed():
                self.complete = True
                self._complete()
            elif not self.got and self.used > 1 and self.retry_ok:
                self._finish(RETRY)  # as aiohttp does for idempotent methods (RFC 9112 §9.3.1.1)
            elif not self.got and isinstance(exc, OSError):
                self._finish("connect")  # reset/refused before any answer (aiohttp: ClientOSError)
            else:
                self._finish("protocol")  # closed mid-response (aiohttp: ServerDisconnected/ClientPayloadError)
        self.owner.connection_closed(self)

    def _eof_framed(self) -> bool:
        """Whether the body ends at EOF: neither Content-Length nor chunked (and a body at all)."""
        if self.head or self.status in (204, 304):
            return False
        return not any(name in _FRAMING for name in _HeadReader(self.head_bytes).headers)

    # ------------------------------------------------------------------ httptools callbacks
    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        self.status = status
        if 100 <= status < 200 and status != 101:
            return  # interim: its message completes, the final response follows
        self.headers_done = True
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
            return
        self.complete = True
        # read here: llhttp resets the message's flags once this callback returns
        self.keep_alive = self.parser.should_keep_alive()

    # ------------------------------------------------------------------ endings
    def _complete(self) -> None:
        status = self.status
        if not self.keep_alive:
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
        location = _HeadReader(self.head_bytes).headers.get(b"location") if outcome == REDIRECT else None
        self.owner.exchange_done(outcome, self.status if self.headers_done else 0, location)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed or not self.busy:
            return
        if self.loop.time() >= self.deadline:
            self._finish("timeout")
        else:
            self.timer = self.loop.call_at(self.deadline, self._on_timer)
