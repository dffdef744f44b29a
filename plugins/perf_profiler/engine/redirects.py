"""Which redirects an exchange follows, and the request each hop sends (``exchange`` follows them).

* Same origin (scheme, host, port of the service's base URL) by default; a redirect to another
  origin is refused (error class ``redirect``, the reason names the target origin, never the
  path or query) unless the service lists that origin in ``redirect_origins``.
* Secret headers (those from ``headers_conn_id``) and ``Host`` are never sent to another origin,
  even an allowed one; the service's plain headers are.
* Method (RFC 9110 §15.4): 303 -> GET (HEAD stays HEAD); 301/302 turn POST into GET, as browsers
  and curl do; 307/308 keep the method and the body. A body dropped takes its Content-Type along.
* At most :data:`MAX_REDIRECTS` hops; one more is a ``redirect`` error (loops end there).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

from perf_profiler.model.origins import origin
from perf_profiler.model.secret_headers import secret_header_names
from perf_profiler.model.targets import Service

MAX_REDIRECTS = 10
#: Statuses that redirect (with a Location header); others are final responses.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "transfer-encoding"})


class RedirectRefused(Exception):
    """A redirect the policy does not follow; its message is safe to log (origins only)."""


@dataclass(frozen=True)
class RedirectPolicy:
    """Where one service's redirects may go and which of its headers stay home."""

    home: str  # the service's origin
    allowed: frozenset[str]  # other origins redirects may lead to
    secret_names: frozenset[str]  # lower-case header names never sent to another origin
    max_hops: int = MAX_REDIRECTS


@dataclass(frozen=True)
class Hop:
    """The request one redirect leads to."""

    method: str
    url: URL
    kwargs: dict[str, Any]


def redirect_policy(service: Service) -> RedirectPolicy:
    """The redirect policy of ``service`` (its own origin, ``redirect_origins``, its secret headers)."""
    home = URL(service.base_url)
    return RedirectPolicy(
        home=url_origin(home), allowed=frozenset(service.redirect_origins),
        secret_names=secret_header_names(service) | {"authorization", "proxy-authorization", "cookie"},
    )


def same_origin_policy(base_url: str) -> RedirectPolicy:
    """Same origin only, no secret headers known: the default of a bare ``request_spec``."""
    return RedirectPolicy(home=url_origin(URL(base_url)), allowed=frozenset(),
                          secret_names=frozenset({"authorization", "proxy-authorization", "cookie"}))


def url_origin(url: URL) -> str:
    """The normalised origin (``model.origins``) of an absolute http(s) URL."""
    return origin(url.scheme, url.host or "", url.port)


def next_hop(policy: RedirectPolicy, hops: int, method: str, current: URL, status: int,
             location: str | None, kwargs: Mapping[str, Any]) -> Hop:
    """The request that the redirect ``status`` to ``location`` from ``current`` leads to.

    ``hops``: redirects already followed in this exchange. Raises :class:`RedirectRefused`.
    """
    if hops >= policy.max_hops:
        raise RedirectRefused(f"more than {policy.max_hops} redirects (the last one to {_where(current, location)})")
    if not location:
        raise RedirectRefused(f"{status} redirect without a Location header")
    try:
        target = current.join(URL(location)).with_fragment(None)
    except ValueError:
        raise RedirectRefused(f"{status} redirect to an invalid Location") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise RedirectRefused(f"{status} redirect to a non-http(s) URL (scheme {target.scheme!r})")
    there = url_origin(target)
    if there != policy.home and there not in policy.allowed:
        raise RedirectRefused(f"cross-origin redirect to {there} refused (the service's origin is {policy.home}; "
                              "list the origin in the service's redirect_origins to follow it)")
    new_method = method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        new_method = "GET"
    out = dict(kwargs)
    headers = dict(out.get("headers") or {})
    if new_method != method:
        out.pop("data", None)
        headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
    if there != policy.home:
        headers = {k: v for k, v in headers.items() if k.lower() not in policy.secret_names and k.lower() != "host"}
    out["headers"] = headers
    return Hop(new_method, target, out)


def _where(current: URL, location: str | None) -> str:
    """The origin a Location points to, for messages (never its path or query)."""
    try:
        return url_origin(current.join(URL(location or "")))
    except ValueError:
        return "an invalid Location"
