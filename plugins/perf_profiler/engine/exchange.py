"""One HTTP exchange (send -> full body read) and the one client session of a run.

Precedence when several things go wrong: an exception (timeout, reset, ...) decides the class;
otherwise an unexpected status is ``status`` (even when its body is also too large); otherwise a
body over ``max_body_bytes`` is ``body_too_large``. Any response that arrived counts in
``status_codes``. Bodies are read raw (``auto_decompress=False``): the cap is on wire bytes.

Redirects are followed here, not by aiohttp (``engine.redirects`` says which and how): the
request, its redirects and every body read share one ``timeout_s``; ``status_codes`` counts the
last response of each exchange, and each redirect followed counts in the recorder's ``redirects``.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from perf_profiler.engine.canonical import CanonicalRequest, canonical_request
from perf_profiler.engine.classify import classify_error, describe
from perf_profiler.engine.plan import Share
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.redirects import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    Hop,
    RedirectPolicy,
    RedirectRefused,
    next_hop,
    same_origin_policy,
)
from perf_profiler.model.targets import Endpoint, LoadSettings, Service

__all__ = ["MAX_REDIRECTS", "RequestSpec", "exchange", "follow_redirect", "make_session", "read_capped",
           "request_spec"]


@dataclass(frozen=True)
class RequestSpec:
    """Everything the hot path needs about one endpoint's request, computed once."""

    method: str
    url: URL
    expected: frozenset[int]
    max_body: int
    kwargs: dict[str, Any]
    redirects: RedirectPolicy
    timeout: aiohttp.ClientTimeout = field(default_factory=aiohttp.ClientTimeout)
    canonical: CanonicalRequest | None = None  # the request both engines send (``engine.canonical``)


def request_spec(
    base_url: str, endpoint: Endpoint, load: LoadSettings, redirects: RedirectPolicy | None = None
) -> RequestSpec:
    """The request to send to ``endpoint`` of the service at ``base_url``.

    ``redirects``: the service's redirect policy (``engine.redirects.redirect_policy``); None
    follows same-origin redirects only.
    """
    canonical = canonical_request(base_url, endpoint)
    kwargs: dict[str, Any] = {"allow_redirects": False, "headers": canonical.sent_headers}
    if canonical.body is not None:
        kwargs["data"] = canonical.body
    return RequestSpec(
        method=canonical.method,
        url=canonical.url,
        expected=frozenset(endpoint.expected_status),
        max_body=load.max_body_bytes,
        kwargs=kwargs,
        redirects=redirects or same_origin_policy(base_url),
        timeout=aiohttp.ClientTimeout(total=load.timeout_s, connect=load.connect_timeout_s),
        canonical=canonical,
    )


async def read_capped(content: aiohttp.StreamReader, cap: int) -> bool:
    """Read the body to its end; False (and stop reading) as soon as it exceeds ``cap`` bytes."""
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            return True
        size += len(chunk)
        if size > cap:
            return False


async def exchange(session: aiohttp.ClientSession, spec: RequestSpec, recorder: EndpointRecorder) -> str | None:
    """One HTTP exchange (send -> full body read): None when it succeeded, else its error class."""
    started = time.monotonic()
    try:
        async with session.request(spec.method, spec.url, **spec.kwargs) as resp:
            status = resp.status
            if status in REDIRECT_STATUSES:
                return await _follow(session, spec, recorder, resp, started)
            codes = recorder.status_codes
            codes[status] = codes.get(status, 0) + 1
            complete = await read_capped(resp.content, spec.max_body)
            if not complete:
                resp.close()  # drop the connection instead of draining an oversize body
            if status not in spec.expected:
                return "status"
            if not complete:
                return "body_too_large"
            return None
    except Exception as exc:  # failures are data: classified and counted, never raised
        return _failed(exc, recorder)


async def _follow(
    session: aiohttp.ClientSession, spec: RequestSpec, recorder: EndpointRecorder,
    resp: aiohttp.ClientResponse, started: float, method: str = "", kwargs: dict[str, Any] | None = None,
    hops: int = 0,
) -> str | None:
    """The rest of an exchange whose response ``resp`` redirects (``engine.redirects``)."""
    method, kwargs = method or spec.method, spec.kwargs if kwargs is None else kwargs
    while True:  # resp redirects
        try:
            hop = next_hop(spec.redirects, hops, method, resp.url, resp.status, resp.headers.get("Location"), kwargs)
            if not await read_capped(resp.content, spec.max_body):
                resp.close()
        except RedirectRefused:
            _count(recorder, resp.status)  # the last response of the exchange
            raise
        finally:
            resp.release()
        method, kwargs, hops = hop.method, hop.kwargs, hops + 1
        resp = await _hop(session, spec, recorder, hop, started)
        if resp.status not in REDIRECT_STATUSES:
            async with resp:
                return await _settle(spec, recorder, resp)


async def follow_redirect(
    session: aiohttp.ClientSession, spec: RequestSpec, recorder: EndpointRecorder, status: int,
    location: str | None, started: float,
) -> str | None:
    """The rest of an exchange whose first response (``status``, ``location``; body already read)
    redirects: how the fast engine hands a redirect to aiohttp. None or the error class, as
    :func:`exchange`; ``started`` is the exchange's start on the ``time.monotonic`` clock."""
    try:
        try:
            hop = next_hop(spec.redirects, 0, spec.method, spec.url, status, location, spec.kwargs)
        except RedirectRefused:
            _count(recorder, status)
            raise
        resp = await _hop(session, spec, recorder, hop, started)
        if resp.status not in REDIRECT_STATUSES:
            async with resp:
                return await _settle(spec, recorder, resp)
        return await _follow(session, spec, recorder, resp, started, hop.method, hop.kwargs, 1)
    except Exception as exc:  # failures are data
        return _failed(exc, recorder)


async def _hop(
    session: aiohttp.ClientSession, spec: RequestSpec, recorder: EndpointRecorder, hop: Hop, started: float
) -> aiohttp.ClientResponse:
    """Send the request a redirect leads to, within what is left of the exchange's timeout."""
    left = None
    if spec.timeout.total:  # the redirects share the request's timeout
        left = spec.timeout.total - (time.monotonic() - started)
        if left <= 0:
            raise asyncio.TimeoutError
    recorder.redirects += 1
    timeout = aiohttp.ClientTimeout(total=left, connect=spec.timeout.connect)
    return await session.request(hop.method, hop.url, timeout=timeout, **hop.kwargs)


def _count(recorder: EndpointRecorder, status: int) -> None:
    codes = recorder.status_codes
    codes[status] = codes.get(status, 0) + 1


async def _settle(spec: RequestSpec, recorder: EndpointRecorder, resp: aiohttp.ClientResponse) -> str | None:
    """Count the final response of an exchange and read its body (as the hot path does)."""
    status = resp.status
    codes = recorder.status_codes
    codes[status] = codes.get(status, 0) + 1
    complete = await read_capped(resp.content, spec.max_body)
    if not complete:
        resp.close()
    if status not in spec.expected:
        return "status"
    return None if complete else "body_too_large"


def _failed(exc: Exception, recorder: EndpointRecorder) -> str:
    error = "redirect" if isinstance(exc, RedirectRefused) else classify_error(exc)
    if error not in recorder.first_error:
        recorder.first_error[error] = describe(exc)
    return error


def make_session(service: Service, share: Share) -> aiohttp.ClientSession:
    """One session per run: keep-alive pool sized to the concurrency, no cookies, raw bodies."""
    load = service.load
    connector = aiohttp.TCPConnector(
        limit=max(1, share.part(load.concurrency)),
        limit_per_host=0,
        ssl=service.verify_tls,
        ttl_dns_cache=300,
        enable_cleanup_closed=False,
    )
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
