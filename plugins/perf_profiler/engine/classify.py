"""Failures are data: the error class of an exception a request raised (docs/CONTRACTS.md).

Every outcome of a request is counted, never raised (as in Vegeta's results.go): a timeout, a
refused connection or a malformed response lands in one of :data:`ERROR_CLASSES`.
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


def classify_error(exc: BaseException) -> str:
    """The error class (one of :data:`ERROR_CLASSES`) of an exception raised by a request."""
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
    return f"{type(exc).__name__}: {exc}"[:300]


def _is_dns_error(exc: BaseException) -> bool:
    if _DNS_ERROR is not None and isinstance(exc, _DNS_ERROR):
        return True
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror)
