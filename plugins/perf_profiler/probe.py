"""Probe engine: closed-loop HTTP load against one service, one endpoint after another.

For every endpoint of a :class:`~perf_profiler.targets.Service`, ``warmup`` uncounted requests
run first, then the counted phase: ``requests`` requests (or as many as fit in ``duration_s``
when that is set) with ``concurrency`` requests in flight. A fixed pool of ``concurrency``
workers pulls work from a shared quota, so nothing is ever gathered per request.

Every outcome is data (as in Vegeta's results.go): a 500, a timeout or a refused connection is
classified into :data:`ERROR_CLASSES`, counted and timed, never raised. Latencies (send → full
body read, ``time.perf_counter_ns``) go into HDR histograms in microseconds; the result dict
(docs/CONTRACTS.md, "Benchmark result") carries the encoded histograms, so its size does not grow
with the number of requests.

Precedence when several things go wrong: an exception (timeout, reset, ...) decides the class;
otherwise an unexpected status is ``status`` (even when its body is also too large); otherwise a
body over ``max_body_bytes`` is ``body_too_large``. Any response that arrived counts in
``status_codes``. Bodies are read raw (``auto_decompress=False``): the cap is on wire bytes.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from yarl import URL

from perf_profiler import histogram
from perf_profiler.targets import Endpoint, LoadSettings, Service

log = logging.getLogger(__name__)

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
MAX_REDIRECTS = 10

_DNS_ERROR = getattr(aiohttp, "ClientConnectorDNSError", None)  # aiohttp >= 3.10.7
_TLS_ERRORS = (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch, ssl.SSLError)
_PROTOCOL_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)
_CONNECT_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


# --------------------------------------------------------------------------- classification
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


def _describe(exc: BaseException) -> str:
    """Short text for logs: type and message, never repr (which can carry request headers)."""
    return f"{type(exc).__name__}: {exc}"[:300]


def _is_dns_error(exc: BaseException) -> bool:
    if _DNS_ERROR is not None and isinstance(exc, _DNS_ERROR):
        return True
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror)


# --------------------------------------------------------------------------- per-endpoint state
@dataclass(frozen=True)
class _Target:
    """Everything the hot path needs about one endpoint, computed once."""

    method: str
    url: URL
    expected: frozenset[int]
    max_body: int
    kwargs: dict[str, Any]


def _target(base_url: str, endpoint: Endpoint, load: LoadSettings) -> _Target:
    kwargs: dict[str, Any] = {"allow_redirects": True, "max_redirects": MAX_REDIRECTS}
    if endpoint.headers:
        kwargs["headers"] = dict(endpoint.headers)
    if endpoint.body is not None:
        kwargs["data"] = endpoint.body.encode()
    return _Target(
        method=endpoint.method.upper(),
        url=URL(base_url.rstrip("/") + endpoint.path),
        expected=frozenset(endpoint.expected_status),
        max_body=load.max_body_bytes,
        kwargs=kwargs,
    )


class _Tally:
    """Cheap per-sample accumulation for one phase of one endpoint."""

    __slots__ = ("ok", "errors", "status_codes", "ok_hist", "error_hist", "first_error")

    def __init__(self) -> None:
        self.ok = 0
        self.errors = dict.fromkeys(ERROR_CLASSES, 0)
        self.status_codes: dict[int, int] = {}
        self.ok_hist = histogram.new_histogram()
        self.error_hist = histogram.new_histogram()
        self.first_error: dict[str, str] = {}

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())


class _Quota:
    """A shared budget of ``n`` requests that workers draw from."""

    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class _Deadline:
    """Lets workers start requests until ``duration_s`` has passed (in-flight ones finish)."""

    __slots__ = ("until",)

    def __init__(self, duration_s: float) -> None:
        self.until = time.perf_counter() + duration_s

    def take(self) -> bool:
        return time.perf_counter() < self.until


# --------------------------------------------------------------------------- hot path
async def _read_capped(content: aiohttp.StreamReader, cap: int) -> bool:
    """Read the body to its end; False (and stop reading) as soon as it exceeds ``cap`` bytes."""
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            return True
        size += len(chunk)
        if size > cap:
            return False


async def _request(session: aiohttp.ClientSession, target: _Target, tally: _Tally) -> None:
    """One timed request; its outcome lands in ``tally``."""
    error: str | None = None
    t0 = time.perf_counter_ns()
    try:
        async with session.request(target.method, target.url, **target.kwargs) as resp:
            status = resp.status
            tally.status_codes[status] = tally.status_codes.get(status, 0) + 1
            complete = await _read_capped(resp.content, target.max_body)
            if not complete:
                resp.close()  # drop the connection instead of draining an oversize body
            if status not in target.expected:
                error = "status"
            elif not complete:
                error = "body_too_large"
    except Exception as exc:  # failures are data: classified and counted, never raised
        error = classify_error(exc)
        if error not in tally.first_error:
            tally.first_error[error] = _describe(exc)
    elapsed_us = (time.perf_counter_ns() - t0) // 1000
    if error is None:
        tally.ok += 1
        histogram.record_us(tally.ok_hist, elapsed_us)
    else:
        tally.errors[error] += 1
        histogram.record_us(tally.error_hist, elapsed_us)


async def _worker(
    session: aiohttp.ClientSession, target: _Target, tally: _Tally, gate: _Quota | _Deadline
) -> None:
    while gate.take():
        await _request(session, target, tally)


async def _phase(
    session: aiohttp.ClientSession, target: _Target, gate: _Quota | _Deadline, workers: int
) -> _Tally:
    """Run ``workers`` closed-loop workers until ``gate`` says stop."""
    tally = _Tally()
    await asyncio.gather(*(_worker(session, target, tally, gate) for _ in range(workers)))
    return tally


# --------------------------------------------------------------------------- per endpoint / service
def _counted_gate(load: LoadSettings) -> tuple[_Quota | _Deadline, int]:
    """The gate of the counted phase and how many workers it needs (``duration_s`` wins)."""
    if load.duration_s is not None:
        return _Deadline(load.duration_s), load.concurrency
    assert load.requests is not None  # _check_load
    return _Quota(load.requests), min(load.concurrency, load.requests)


def _check_load(load: LoadSettings) -> None:
    """Refuse settings the engine cannot run (``targets`` validation should have caught them)."""
    if load.model != "closed":
        raise ValueError(f"unsupported load model {load.model!r}; the probe runs 'closed'")
    if load.concurrency < 1:  # aiohttp would read limit=0 as "no limit"
        raise ValueError(f"concurrency must be >= 1, not {load.concurrency}")
    if load.requests is None and load.duration_s is None:
        raise ValueError("load needs requests or duration_s")


async def _probe_endpoint(
    session: aiohttp.ClientSession, service: Service, endpoint: Endpoint
) -> dict[str, Any]:
    load = service.load
    target = _target(service.base_url, endpoint, load)
    if load.warmup > 0:
        await _phase(session, target, _Quota(load.warmup), min(load.concurrency, load.warmup))
    gate, workers = _counted_gate(load)
    started_at = time.time()
    tally = await _phase(session, target, gate, workers)
    finished_at = time.time()
    _log_endpoint(service, endpoint, tally, finished_at - started_at)
    return {
        "endpoint": endpoint.name,
        "method": target.method,
        "path": endpoint.path,
        "started_at": started_at,
        "finished_at": finished_at,
        "requests": tally.requests,
        "ok": tally.ok,
        "errors": dict(tally.errors),
        "status_codes": {str(code): n for code, n in sorted(tally.status_codes.items())},
        "latency_hist": histogram.encode(tally.ok_hist),
        "error_hist": histogram.encode(tally.error_hist),
    }


def _log_endpoint(service: Service, endpoint: Endpoint, tally: _Tally, wall_s: float) -> None:
    rate = tally.requests / wall_s if wall_s > 0 else 0.0
    log.info(
        "probed %s %s: %s requests (%s ok) in %.2f s, %.0f req/s",
        service.name, endpoint.name, tally.requests, tally.ok, wall_s, rate,
    )
    for error_class, example in tally.first_error.items():
        log.info(
            "%s %s: %s %s errors, first: %s",
            service.name, endpoint.name, tally.errors[error_class], error_class, example,
        )


def _session(service: Service) -> aiohttp.ClientSession:
    """One session per run: keep-alive pool sized to the concurrency, no cookies, raw bodies."""
    load = service.load
    connector = aiohttp.TCPConnector(limit=load.concurrency, ssl=service.verify_tls)
    timeout = aiohttp.ClientTimeout(total=load.timeout_s, connect=load.connect_timeout_s)
    # auto_decompress=False is safe: bodies are only counted, never interpreted, so the size
    # cap applies to the bytes on the wire and no CPU goes into inflating them.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        raise_for_status=False,
    )


async def probe_service(service: Service) -> dict[str, Any]:
    """Benchmark every endpoint of ``service`` in turn; the benchmark result dict (CONTRACTS.md)."""
    _check_load(service.load)
    started_at = time.time()
    async with _session(service) as session:
        endpoints = [await _probe_endpoint(session, service, ep) for ep in service.endpoints]
    return {
        "service": service.name,
        "base_url": service.base_url,
        "load": asdict(service.load),
        "started_at": started_at,
        "finished_at": time.time(),
        "endpoints": endpoints,
    }


def run_probe(service: Service, use_uvloop: bool | None = None) -> dict[str, Any]:
    """Sync entry point. ``use_uvloop``: None = when installed, True = required, False = asyncio."""
    if use_uvloop is not False:
        try:
            import uvloop
        except ImportError:
            if use_uvloop:
                raise
            log.debug("uvloop not installed; using the asyncio event loop")
        else:
            return uvloop.run(probe_service(service))
    return asyncio.run(probe_service(service))
