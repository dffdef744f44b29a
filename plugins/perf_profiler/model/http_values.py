"""The request parts of a target as field types: path, method, base URL, headers, status codes.

Secrets never live in the targets config: URLs with credentials and secret-looking headers are
refused, and their messages never echo the secret part.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pydantic import AfterValidator, BeforeValidator, Field

from perf_profiler.model import caps
from perf_profiler.model.errors import Expect, invalid, rule, show
from perf_profiler.model.fields import Refuse

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: Policy P-3, read-only benchmarking: these need the service's ``allow_state_changing_methods``.
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY_OPT_IN = "allow_state_changing_methods"
URL_SCHEMES = ("http", "https")
#: Header names refused outright, and words that make any header name look like a secret.
SECRET_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SECRET_HEADER_WORDS = ("token", "secret", "key", "auth", "cookie", "password", "session")

#: Query parameter names (split into words) that carry a secret: refused like secret header names.
SECRET_QUERY_WORDS = frozenset({"token", "secret", "key", "apikey", "password", "passwd", "pwd", "pass", "auth",
                                "authorization", "signature", "sig", "credential", "credentials", "session",
                                "sessionid", "jwt", "bearer", "otp"})
_SECRET_QUERY_ENDINGS = ("token", "secret", "password", "passwd", "signature", "apikey")
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token, used with fullmatch
_URL = "an http:// or https:// URL with a host, e.g. \"http://localhost:8001\""
_SECRET_HOME = "Airflow connection, never from the targets file"


def has_control(text: str) -> bool:
    """C0 (ESC included), DEL or C1 control characters."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


def secret_query_param(query: str) -> str | None:
    """The first query parameter whose name looks like a secret (``access_token``, ``apiKey``, ``sig``...)."""
    for name, _ in parse_qsl(query, keep_blank_values=True):
        words = [w.lower() for w in _WORDS.findall(name)]
        secret = any(w in SECRET_QUERY_WORDS or w.endswith(_SECRET_QUERY_ENDINGS) for w in words)
        if secret or "".join(words) in SECRET_QUERY_WORDS:
            return name
    return None


def _no_secret_query(query: str) -> None:
    name = secret_query_param(query)
    if name is not None:  # never echo the value (nor the rest of the URL): it may be a real secret
        raise rule(f"query parameter {show(name)} looks like a secret; secrets are sent as headers from the "
                   f"Airflow connection named by the service's headers_conn_id, never from the targets file")


def is_state_changing(method: str) -> bool:
    return method in STATE_CHANGING_METHODS


def is_header_name(name: Any) -> bool:
    return isinstance(name, str) and _TOKEN.fullmatch(name) is not None


def looks_secret(header: str) -> bool:
    lower = header.lower()
    return lower in SECRET_HEADER_NAMES or any(word in lower for word in SECRET_HEADER_WORDS)


def _path(value: str) -> str:
    """Endpoint path: starts with one '/', may carry a query string, no fragment or spaces.

    No secret-looking query parameter (checked first: no other message may show it), and no
    ``.``/``..`` segment, percent-encoded or not: the path stays under the base URL's prefix.
    """
    path, _, query = value.partition("?")
    _no_secret_query(query)
    if not value.startswith("/") or value.startswith("//") or "#" in value or " " in value or has_control(value):
        raise invalid()
    for segment in path.split("/"):
        if any(part in (".", "..") for part in re.split(r"[/\\]", unquote(segment))):
            raise rule(f"expected a path without '.' or '..' segments (it would leave the base URL's path prefix), "
                       f"got {show(path)}")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _status_codes(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in value
    )
    if not ok:
        raise invalid()
    return tuple(dict.fromkeys(value))


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def _base_url(value: str) -> str:
    """http(s) URL with a host and an optional path prefix; returned without a trailing '/'."""
    try:
        netloc = urlsplit(value).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:  # checked first: no other message may show the password
        raise rule(f"URL {show(_redact(value))} embeds credentials; secrets come from an {_SECRET_HOME}")
    _no_secret_query(value.partition("?")[2].partition("#")[0])
    bad = f"expected {_URL}, got {show(value)}"
    if has_control(value) or " " in value:
        raise rule(bad)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise rule(f"expected {_URL} ({exc}), got {show(value)}") from None
    if parts.scheme not in URL_SCHEMES or not parts.hostname:
        raise rule(bad)
    if port == 0:
        raise rule(f"expected {_URL} (port 1..65535), got {show(value)}")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise rule(f"expected {_URL}; a path prefix is allowed but no query or fragment, got {show(value)}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _header_pairs(value: Any) -> list[tuple[Any, Any]]:
    """Headers as an object (config) or a list of [name, value] pairs (a dumped model)."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        return [(p[0], p[1]) for p in value]
    raise invalid()


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for name, val in _header_pairs(value):
        if not is_header_name(name):
            raise rule(f"expected header names made of RFC 9110 token characters, got {show(name)}")
        if looks_secret(name):  # never echo the value: it may be a real secret
            raise rule(f"header {name!r} looks like a secret; secret headers come from an {_SECRET_HOME}", name)
        if not isinstance(val, str) or has_control(val):
            raise rule(f"expected a string without control characters, got {show(val)}", name)
        if name.lower() in seen:
            raise rule(f"duplicate header {name!r} (names are case-insensitive)", name)
        seen.add(name.lower())
        out.append((name, val))
    return tuple(out)


UrlPath = Annotated[str, AfterValidator(_path),
                    Expect("a path starting with a single '/' (e.g. \"/healthz\"), without spaces or '#'")]
Method = Annotated[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], BeforeValidator(_upper)]
BaseUrl = Annotated[str, AfterValidator(_base_url), Expect(_URL)]
StatusCodes = Annotated[tuple[int, ...], BeforeValidator(_status_codes),
                        Expect("a non-empty list of HTTP status codes (integers 100..599)")]
Headers = Annotated[tuple[tuple[str, str], ...], BeforeValidator(_headers),
                    Expect("an object of header name -> string value")]
ConnId = Annotated[str, Field(min_length=1, max_length=caps.CONN_ID_MAX), Refuse("[^A-Za-z0-9_.-]"),
                   Expect(f"an Airflow connection id (letters, digits, '_', '.', '-'; at most {caps.CONN_ID_MAX} "
                          "characters) or null")]
