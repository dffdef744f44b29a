"""One HTTP exchange (send -> full body read) and the one client session of a run.

Precedence when several things go wrong: an exception (timeout, reset, ...) decides the class;
otherwise an unexpected status is ``status`` (even when its body is also too large); otherwise a
body over ``max_body_bytes`` is ``body_too_large``. Any response that arrived counts in
``status_codes``. Bodies are read raw (``auto_decompress=False``): the cap is on wire bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from perf_profiler.engine.classify import classify_error, describe
from perf_profiler.engine.plan import Share
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.model.targets import Endpoint, LoadSettings, Service

MAX_REDIRECTS = 10


@dataclass(frozen=True)
class RequestSpec:
    """Everything the hot path needs about one endpoint's request, computed once."""

    method: str
    url: URL
    expected: frozenset[int]
    max_body: int
    kwargs: dict[str, Any]


def request_spec(base_url: str, endpoint: Endpoint, load: LoadSettings) -> RequestSpec:
    """The request to send to ``endpoint`` of the service at ``base_url``."""
    kwargs: dict[str, Any] = {"allow_redirects": True, "max_redirects": MAX_REDIRECTS}
    if endpoint.headers:
        kwargs["headers"] = dict(endpoint.headers)
    if endpoint.body is not None:
        kwargs["data"] = endpoint.body.encode()
    return RequestSpec(
        method=endpoint.method.upper(),
        url=URL(base_url.rstrip("/") + endpoint.path),
        expected=frozenset(endpoint.expected_status),
        max_body=load.max_body_bytes,
        kwargs=kwargs,
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
    try:
        async with session.request(spec.method, spec.url, **spec.kwargs) as resp:
            status = resp.status
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
        error = classify_error(exc)
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
