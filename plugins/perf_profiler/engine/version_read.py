"""Read a service's release once per run from its version source (issue 15, point 5; ``model.version_source``).

One GET outside the measured load, on a session of its own: to the first endpoint for a ``header``
source (its response header), to ``path`` on the service's own origin for a ``path`` source (the
body's first line, or ``json_field`` of a JSON body). It sends the first endpoint's headers (secret
ones included: the origin is the service's own), honours ``verify_tls`` and the load's connect/total
timeouts, follows no redirect (same origin only) and reads at most ``BODY_CAP`` bytes. The value
must be 1..``VERSION_MAX`` characters after stripping, without control characters.

Never raises: a failure is ``VersionRead(None, why)``, and the caller logs why; the benchmark goes on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perf_profiler.model.http_values import has_control
from perf_profiler.model.version_source import VERSION_MAX, VersionSource

if TYPE_CHECKING:
    from perf_profiler.model.targets import Service

#: The most body bytes read from a version endpoint.
BODY_CAP = 64 * 1024


@dataclass(frozen=True)
class VersionRead:
    """The version read (None when it could not be), and why not."""

    version: str | None
    error: str | None = None


class _Refused(Exception):
    """The version source answered, but not with a usable version (the message says why)."""


def read_version(service: Service) -> VersionRead:
    """The service's version from its source (``VersionRead(None)`` without one); never raises."""
    from perf_profiler.common.aio import run_sync

    if service.version is None:
        return VersionRead(None)
    try:
        return VersionRead(run_sync(_read(service, service.version)))
    except _Refused as refused:
        return VersionRead(None, str(refused))
    except Exception as error:  # any failure to read is data, never the benchmark's failure
        return VersionRead(None, f"{type(error).__name__}: {error}"[:300])


async def _read(service: Service, source: VersionSource) -> str:
    import aiohttp

    first = service.endpoints[0]
    path = source.path if source.path is not None else first.path
    url = f"{service.base_url}{path}"
    timeout = aiohttp.ClientTimeout(total=service.load.timeout_s, connect=service.load.connect_timeout_s)
    connector = aiohttp.TCPConnector(ssl=service.verify_tls)
    session = aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                    raise_for_status=False)
    async with session, session.get(url, headers=list(first.headers), allow_redirects=False) as response:
        if not 200 <= response.status < 300:
            raise _Refused(f"GET {path} answered {response.status}")
        if source.header is not None:
            value = response.headers.get(source.header)
            if value is None:
                raise _Refused(f"GET {path} answered without a {source.header!r} header")
            return checked(value, f"header {source.header!r}")
        body = await response.content.read(BODY_CAP + 1)
    return from_body(body, source.json_field, path)


def from_body(body: bytes, json_field: str | None, path: str = "the version path") -> str:
    """The version in a version endpoint's body: its first line, or ``json_field`` of a JSON object."""
    if json_field is None:
        text = body[:BODY_CAP].decode("utf-8", errors="replace")
        return checked(text.strip().split("\n", 1)[0], f"the first line of {path}")
    if len(body) > BODY_CAP:
        raise _Refused(f"{path}: a JSON body larger than {BODY_CAP} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise _Refused(f"{path}: the body is not JSON") from None
    value = document.get(json_field) if isinstance(document, dict) else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Refused(f"{path}: no string or number at JSON field {json_field!r}")
    return checked(str(value), f"JSON field {json_field!r} of {path}")


def checked(value: str, what: str) -> str:
    """``value`` stripped, when it is a usable version (1..VERSION_MAX characters, no control characters)."""
    text = value.strip()
    if not text:
        raise _Refused(f"{what} is empty")
    if has_control(text) or "\u2028" in text or "\u2029" in text:
        raise _Refused(f"{what} holds control characters")
    if len(text) > VERSION_MAX:
        raise _Refused(f"{what} is longer than {VERSION_MAX} characters ({len(text)})")
    return text
