"""classify: the error class of every kind of exception a request can raise (no network)."""
from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from perf_profiler.engine.classify import ERROR_CLASSES, classify_error, describe

#: The connection a connector error names (classification looks at the error, not at this).
KEY = ConnectionKey(host="example.invalid", port=80, is_ssl=False, ssl=True, proxy=None, proxy_auth=None,
                    proxy_headers_hash=None)


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")), "dns"),
        (aiohttp.ClientConnectorError(KEY, socket.gaierror(-3, "Temporary failure")), "dns"),
        (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")), "connect"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "connect"),
        (aiohttp.ServerTimeoutError("read timeout"), "timeout"),
        (TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "protocol"),
        (aiohttp.ClientPayloadError("incomplete"), "protocol"),
        (aiohttp.InvalidURL("nope"), "client"),
        (OSError(28, "No space left"), "client"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_classify_error(exc: BaseException, error_class: str) -> None:
    assert classify_error(exc) == error_class
    assert error_class in ERROR_CLASSES


def test_describe_is_type_and_message_cut_short() -> None:
    text = describe(ValueError("x" * 1000))
    assert text.startswith("ValueError: xxx") and len(text) == 300
