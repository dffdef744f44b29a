"""Origins (scheme, host, port) as a field type: where a service's redirects may lead.

An origin is written ``"https://cdn.example.com"`` or ``"http://127.0.0.1:8002"``: http or
https, a host, an optional port, nothing else (no path, query, fragment or credentials). It is
stored normalised — lower-case scheme and host, the default port (80/443) left out — so the
engine compares origins as strings.
"""
from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator

from perf_profiler.model.errors import Expect, invalid, rule, show

DEFAULT_PORTS = {"http": 80, "https": 443}
#: At most this many origins per service.
MAX_ORIGINS = 32
_ORIGIN = "an origin: http:// or https://, a host and an optional port, e.g. \"https://cdn.example.com\""


def origin(scheme: str, host: str, port: int | None) -> str:
    """The normalised origin text of ``scheme``, ``host`` and ``port`` (None: the default port)."""
    scheme, host = scheme.lower(), host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"{scheme}://{host}" if port is None or port == DEFAULT_PORTS.get(scheme) else f"{scheme}://{host}:{port}"


def parse_origin(value: Any, *at: str | int) -> str:
    """``value`` as a normalised origin; a validation error naming the value (located at ``at``) otherwise."""
    if not isinstance(value, str):
        raise rule(f"expected {_ORIGIN}, got {show(value)}", *at)
    bad = f"expected {_ORIGIN}, got {show(value)}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise rule(bad, *at) from None
    if "@" in parts.netloc:  # never echo it: it may carry a password
        raise rule(f"expected {_ORIGIN}; got an origin with credentials", *at)
    if (parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query
            or parts.fragment or "?" in value or "#" in value or port == 0 or any(c.isspace() for c in value)):
        raise rule(bad, *at)
    return origin(parts.scheme, parts.hostname, port)


def _origins(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise invalid()
    if len(value) > MAX_ORIGINS:
        raise rule(f"expected at most {MAX_ORIGINS} origins, got {len(value)}")
    return tuple(dict.fromkeys(parse_origin(item, i) for i, item in enumerate(value)))


Origins = Annotated[tuple[str, ...], BeforeValidator(_origins),
                    Expect(f"a list of origins (http:// or https://, a host and an optional port; at most "
                           f"{MAX_ORIGINS}), e.g. [\"https://cdn.example.com\"]")]
