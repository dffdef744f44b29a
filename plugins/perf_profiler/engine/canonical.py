"""The one definition of the request an endpoint gets, whichever engine sends it.

Both engines send the same bytes for the same endpoint, so switching engine never changes the
work the server does: the aiohttp engine passes :attr:`CanonicalRequest.headers` explicitly
(aiohttp then adds nothing of its own: its ``Host`` comes first, computed like ours), the fast
engine writes :func:`wire_bytes` once per endpoint. Header order: ``Host``, ``User-Agent``,
``Accept``, ``Accept-Encoding``, the endpoint's own headers (secret ones included; a same-named
one replaces a default in place), then ``Content-Type``/``Content-Length`` when there is a body
or the method sends one.

``Accept-Encoding: identity``: bodies are counted, never decoded, and the size cap is on wire
bytes, so the client does not claim to accept compressed bodies it would not inflate (aiohttp's
default ``gzip, deflate`` made servers compress for nothing). An endpoint that wants compressed
responses measured sets the header itself.
"""
from __future__ import annotations

from dataclasses import dataclass

from yarl import URL

from perf_profiler import __version__
from perf_profiler.model.targets import Endpoint

USER_AGENT = f"perf-profiler/{__version__}"
ACCEPT = "*/*"
ACCEPT_ENCODING = "identity"
#: Methods whose request carries a body (a Content-Length even when it is empty), as in aiohttp.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_BODY_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class CanonicalRequest:
    """Method, absolute URL, request target and the complete, ordered header list (Host first)."""

    method: str
    url: URL
    target: str  # origin form: path and query, as sent on the wire
    headers: tuple[tuple[str, str], ...]  # Host first, Content-Length last when present
    body: bytes | None

    @property
    def sent_headers(self) -> dict[str, str]:
        """The headers to hand to aiohttp: all but an implicit Host (aiohttp writes the same one first)."""
        host = self.headers[0]
        out = dict(self.headers[1:])
        if host[0] != "Host" or host[1] != self.url.host_port_subcomponent:
            out = {host[0]: host[1], **out}  # an endpoint's own Host header replaces aiohttp's in place
        return out


def canonical_request(base_url: str, endpoint: Endpoint) -> CanonicalRequest:
    """The request ``endpoint`` of the service at ``base_url`` gets from either engine."""
    method = endpoint.method.upper()
    url = URL(base_url.rstrip("/") + endpoint.path)
    body = endpoint.body.encode() if endpoint.body is not None else None
    headers: dict[str, tuple[str, str]] = {
        "host": ("Host", url.host_port_subcomponent or ""),
        "user-agent": ("User-Agent", USER_AGENT),
        "accept": ("Accept", ACCEPT),
        "accept-encoding": ("Accept-Encoding", ACCEPT_ENCODING),
    }
    for name, value in endpoint.headers:
        headers[name.lower()] = (name, value)
    if body is not None or method in BODY_METHODS:
        headers.setdefault("content-type", ("Content-Type", _BODY_TYPE))
        headers.setdefault("content-length", ("Content-Length", str(len(body or b""))))
        headers["content-length"] = headers.pop("content-length")  # last, as aiohttp writes it
    return CanonicalRequest(method=method, url=url, target=url.raw_path_qs,
                            headers=tuple(headers.values()), body=body)


def wire_bytes(request: CanonicalRequest) -> bytes:
    """The request as HTTP/1.1 bytes (head and body), encoded once per endpoint."""
    head = "".join(f"{name}: {value}\r\n" for name, value in request.headers)
    return f"{request.method} {request.target} HTTP/1.1\r\n{head}\r\n".encode() + (request.body or b"")
