"""A service armed with secret request headers, inside the benchmark task only.

The targets config names only ``headers_conn_id``; ``tasks.target_auth`` reads the connection at
probe time and ``with_secret_headers`` puts its headers on every endpoint of a copy of the
service. That copy holds secrets: it is never dumped, logged or stored. It is an
:class:`ArmedService`, which also names those headers, so the engine can keep them from any
other origin a redirect leads to.
"""
from __future__ import annotations

from collections.abc import Mapping

from perf_profiler.model.errors import TargetsError, show
from perf_profiler.model.http_values import has_control, is_header_name
from perf_profiler.model.targets import Service


class ArmedService(Service):
    """A service whose endpoints carry secret headers; ``secret_header_names`` names them (lower-case)."""

    secret_header_names: frozenset[str] = frozenset()


def secret_header_names(service: Service) -> frozenset[str]:
    """The lower-case names of the secret headers ``service`` carries (none unless armed)."""
    return service.secret_header_names if isinstance(service, ArmedService) else frozenset()


def with_secret_headers(service: Service, headers: Mapping[str, str], source: str = "connection") -> ArmedService:
    """``service`` with ``headers`` added to every endpoint (they win over same-named endpoint headers).

    Errors name the header, never its value. The copy is not validated again: the secret-looking
    names these headers have are exactly what the targets rules refuse.
    """
    if not isinstance(headers, Mapping):
        raise TargetsError(f"{source}: headers must be an object of header name -> string value")
    secret: list[tuple[str, str]] = []
    for name, value in headers.items():
        if not is_header_name(name):
            raise TargetsError(f"{source}: header name {show(name)} is not an RFC 9110 token")
        if not isinstance(value, str) or has_control(value):
            raise TargetsError(f"{source}: header {name!r} must be a string without control characters")
        secret.append((name, value))
    names = {name.lower() for name, _ in secret}
    endpoints = tuple(
        ep.model_copy(update={"headers": tuple(h for h in ep.headers if h[0].lower() not in names) + tuple(secret)})
        for ep in service.endpoints
    )
    fields = {**dict(service), "endpoints": endpoints, "secret_header_names": secret_header_names(service) | names}
    return ArmedService.model_construct(set(fields), **fields)
