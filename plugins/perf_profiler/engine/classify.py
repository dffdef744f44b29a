"""Failures are data: the error class of an exception a request raised (docs/CONTRACTS.md).

Every outcome of a request is counted, never raised (as in Vegeta's results.go): a timeout, a
refused connection or a malformed response lands in one of :data:`ERROR_CLASSES`. Running out of
file descriptors (EMFILE/ENFILE) is a ``client`` error whose description says so: the target is
not to blame (``fd_limits`` checks the limit before a run; this is what still happens during one).
"""
from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import aiohttp

ERROR_CLASSES: tuple[str, ...] = (
    "status",
    "timeout",
    "connect",
    "dns",
    "tls",
    "protocol",
    "body_too_large",
    "redirect",
    "client",
)

_DNS_ERROR = getattr(aiohttp, "ClientConnectorDNSError", None)  # aiohttp >= 3.10.7
_TLS_ERRORS = (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch, ssl.SSLError)
_PROTOCOL_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)
_CONNECT_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})
#: The client ran out of file descriptors (its own or the system's): a ``client`` error, not the target's.
_FD_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})


def classify_error(exc: BaseException) -> str:
    """The error class (one of :data:`ERROR_CLASSES`) of an exception raised by a request."""
    if out_of_fds(exc):
        return "client"
    if isinstance(exc, asyncio.TimeoutError):  # also aiohttp.ServerTimeoutError and its subclasses
        return "timeout"
    if _is_dns_error(exc):
        return "dns"
    if isinstance(exc, _TLS_ERRORS):
        return "tls"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "redirect"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(exc, _PROTOCOL_ERRORS):
        return "protocol"
    if isinstance(exc, ConnectionError) or (isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNOS):
        return "connect"
    return "client"


def describe(exc: BaseException) -> str:
    """Short text for logs: type and message, never repr (which can carry request headers)."""
    text = f"{type(exc).__name__}: {exc}"
    if out_of_fds(exc):
        text = f"out of file descriptors in the client (RLIMIT_NOFILE or the system's limit): {text}"
    return text[:300]


def out_of_fds(exc: BaseException) -> bool:
    """EMFILE/ENFILE, raised directly or wrapped (aiohttp's ``os_error``, a cause or context)."""
    seen: BaseException | None = exc
    for _ in range(5):  # a short chain: aiohttp wraps once or twice
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in _FD_ERRNOS:  # aiohttp's errno is its os_error's
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_dns_error(exc: BaseException) -> bool:
    if _DNS_ERROR is not None and isinstance(exc, _DNS_ERROR):
        return True
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror)
