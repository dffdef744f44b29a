"""Targets config model: which services to benchmark, how hard, and against which budget.

Validation (``parse_targets``) lives here too; the dataclasses are the contract the probe
engine, the DAG and the store share.

Config file (``dags/config/targets.json``)::

    {"version": 1,
     "defaults": {"load": {...}, "budget": {...}},
     "services": [{"name": "registry", "base_url": "http://localhost:8001",
                   "endpoints": [{"path": "/healthz"}],
                   "load": {...}, "budget": {...}, "verify_tls": true,
                   "headers_conn_id": "registry_auth"}]}

Precedence: ``LoadSettings``/``Budget`` dataclass defaults < ``defaults`` < the service's own
``load``/``budget`` < an endpoint's ``budget`` (key by key). When ``load.duration_s`` is set the
probe runs for that long and ``load.requests`` is ignored; ``requests`` may be ``null`` only
when ``duration_s`` is set. Numbers above the safety caps (``MAX_*`` below) are refused.
Secrets never live in this file: URLs with credentials and secret-looking headers are refused.
``headers_conn_id`` names an Airflow connection holding the secret headers instead (see
``target_auth.connection_headers``); ``verify_tls: false`` turns off certificate checks for one
service (e.g. a self-signed staging server), it is on by default.
"""
from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MIB = 1024 * 1024


@dataclass(frozen=True)
class Budget:
    """Policy P-6: p95 must stay below ``p95_ms``; errors must stay at or below ``error_rate``."""

    p95_ms: float = 800.0
    error_rate: float = 0.01


@dataclass(frozen=True)
class LoadSettings:
    """How hard to probe each endpoint of one service.

    ``model="closed"``: ``concurrency`` requests in flight, each sent as soon as the previous
    one of its worker returned (``requests`` of them, or for ``duration_s``).
    ``model="open"``: ``rate`` arrivals per second per endpoint on a fixed timeline for
    ``duration_s`` (both required), latency measured from each intended send time;
    ``concurrency`` is then the cap on requests in flight (a send that would exceed it is
    counted as dropped). ``processes``: the load of one service is spread over that many worker
    processes (requests, concurrency and rate are split between them; histograms merge exactly).
    """

    model: str = "closed"
    requests: int | None = 200
    duration_s: float | None = None
    concurrency: int = 10
    warmup: int = 10
    timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    max_body_bytes: int = MIB
    rate: float | None = None
    processes: int = 1


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of a service; ``name`` is what rows and reports call it."""

    path: str
    method: str = "GET"
    name: str = ""
    expected_status: tuple[int, ...] = (200,)
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    budget: Budget | None = None
    #: Safety caps for this endpoint: the effective rate / concurrency is the min of the load's and these.
    max_rate: float | None = None
    max_concurrency: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            default = self.path if self.method == "GET" else f"{self.method} {self.path}"
            object.__setattr__(self, "name", default)


@dataclass(frozen=True)
class Service:
    name: str
    base_url: str
    endpoints: tuple[Endpoint, ...]
    load: LoadSettings = field(default_factory=LoadSettings)
    budget: Budget = field(default_factory=Budget)
    verify_tls: bool = True
    #: Airflow connection whose secret headers are added to every request (``with_secret_headers``).
    #: Only the connection's id is here: the values are read inside the benchmark task at probe time.
    headers_conn_id: str | None = None

    def budget_for(self, endpoint: Endpoint) -> Budget:
        """The endpoint's own budget when it has one, else the service's."""
        return endpoint.budget or self.budget

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for XCom); ``parse_service`` reads it back."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------

#: Safety caps: a typo in the config must not turn a nightly probe into a load test.
MAX_CONCURRENCY = 1000
MAX_REQUESTS = 1_000_000
MAX_DURATION_S = 3600.0
MAX_WARMUP = 10_000
MAX_TIMEOUT_S = 300.0
MAX_BODY_BYTES = 100 * MIB
#: Open model: arrivals per second per endpoint (a Python generator tops out far below this).
MAX_RATE = 50_000.0
#: Worker processes for one service's load.
MAX_PROCESSES = 16
#: Highest latency the histograms record (1 hour); a larger p95 budget could never fail.
MAX_P95_MS = 3_600_000.0

#: Column limits of perf_metrics.service / perf_metrics.endpoint.
SERVICE_NAME_MAX = 100
ENDPOINT_NAME_MAX = 200

SUPPORTED_VERSIONS = (1,)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
LOAD_MODELS = ("closed", "open")
URL_SCHEMES = ("http", "https")
#: Header names refused outright, and words that make any header name look like a secret.
SECRET_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SECRET_HEADER_WORDS = ("token", "secret", "key", "auth", "cookie", "password", "session")

ENV_TARGETS_FILE = "PERF_PROFILER_TARGETS_FILE"
ENV_DAGS_FOLDER = "AIRFLOW__CORE__DAGS_FOLDER"

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
_SHOW_MAX = 80


class TargetsError(ValueError):
    """The targets config is invalid; the message names the field path, the value and the rule."""


# -- error locations and messages ------------------------------------------------------------


@dataclass(frozen=True)
class _Loc:
    """Where a value sits: ``owner`` (e.g. ``services[2] 'runtime'``) plus a field path."""

    owner: str = ""
    path: str = ""

    def key(self, name: str) -> _Loc:
        return _Loc(self.owner, f"{self.path}.{name}" if self.path else name)

    def item(self, index: int | str) -> _Loc:
        label = repr(index) if isinstance(index, str) else str(index)
        return _Loc(self.owner, f"{self.path}[{label}]")

    def __str__(self) -> str:
        if self.owner and self.path:
            return f"{self.owner}: {self.path}"
        return self.owner or self.path or "targets config"


def _show(value: Any) -> str:
    """Short JSON-ish rendering of a bad value for error messages."""
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _SHOW_MAX:
        text = f"{text[:_SHOW_MAX]}... ({len(text)} chars)"
    return text


def _num(value: float) -> str:
    """1000000.0 -> '1000000', 0.5 -> '0.5'."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _bad(loc: _Loc, value: Any, expected: str) -> TargetsError:
    return TargetsError(f"{loc}: expected {expected}, got {_show(value)}")


def _object(value: Any, loc: _Loc, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    """Check ``value`` is a JSON object whose keys are all in ``allowed``."""
    if not isinstance(value, Mapping):
        raise _bad(loc, value, "an object")
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TargetsError(
                f"{loc}: unknown key {_show(key)}{hint}; allowed keys: {', '.join(allowed)}"
            )
    return value


def _require(obj: Mapping[str, Any], keys: tuple[str, ...], loc: _Loc) -> None:
    for key in keys:
        if key not in obj:
            raise TargetsError(f"{loc}: missing required key {key!r}")


# -- scalar checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Number:
    """Spec of a numeric field: integer or float, zero allowed or not, optional upper limit."""

    integer: bool
    allow_zero: bool = False
    cap: float | None = None
    cap_name: str = ""  # name of the safety-cap constant; empty: ``cap`` is a plain range end
    nullable: bool = False

    def describe(self) -> str:
        kind = "integer" if self.integer else "number"
        if self.cap is not None and not self.cap_name:
            text = f"a {kind} between 0 and {_num(self.cap)}"
        else:
            text = f"a {'non-negative' if self.allow_zero else 'positive'} {kind}"
        return f"{text} or null" if self.nullable else text

    def __call__(self, value: Any, loc: _Loc) -> int | float | None:
        if value is None and self.nullable:
            return None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or (self.integer and not isinstance(value, int)):
            raise _bad(loc, value, self.describe())
        not_finite = isinstance(value, float) and not math.isfinite(value)
        if not_finite or value < 0 or (value == 0 and not self.allow_zero):
            raise _bad(loc, value, self.describe())
        if self.cap is not None and value > self.cap:
            if not self.cap_name:
                raise _bad(loc, value, self.describe())
            raise TargetsError(
                f"{loc}: {_show(value)} exceeds the safety cap of {_num(self.cap)} "
                f"(perf_profiler.targets.{self.cap_name})"
            )
        return value if self.integer else float(value)


@dataclass(frozen=True)
class _Choice:
    choices: tuple[str, ...]
    upper: bool = False  # accept any case, normalise to upper case

    def __call__(self, value: Any, loc: _Loc) -> str:
        if isinstance(value, str):
            norm = value.upper() if self.upper else value
            if norm in self.choices:
                return norm
        raise _bad(loc, value, f"one of {', '.join(self.choices)}")


def _name(limit: int) -> Callable[[Any, _Loc], str]:
    def check(value: Any, loc: _Loc) -> str:
        ok = isinstance(value, str) and value and len(value) <= limit and value == value.strip()
        if not ok:
            raise _bad(loc, value, f"a non-empty string of at most {limit} characters "
                                   "without leading/trailing spaces")
        return value

    return check


def _bool(value: Any, loc: _Loc) -> bool:
    if not isinstance(value, bool):
        raise _bad(loc, value, "true or false")
    return value


def _optional_str(value: Any, loc: _Loc) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _bad(loc, value, "a string or null")
    return value


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _path(value: Any, loc: _Loc) -> str:
    """Endpoint path: starts with one '/', may carry a query string, no fragment or spaces."""
    ok = (isinstance(value, str) and value.startswith("/") and not value.startswith("//")
          and "#" not in value and not _has_control(value) and " " not in value)
    if not ok:
        raise _bad(loc, value, "a path starting with a single '/' (e.g. \"/healthz\"), "
                               "without spaces or '#'")
    return value


def _status_codes(value: Any, loc: _Loc) -> tuple[int, ...]:
    ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in value
    )
    if not ok:
        raise _bad(loc, value, "a non-empty list of HTTP status codes (integers 100..599)")
    return tuple(dict.fromkeys(value))


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def _base_url(value: Any, loc: _Loc) -> str:
    """http(s) URL with a host and an optional path prefix; returned without a trailing '/'."""
    expected = "an http:// or https:// URL with a host, e.g. \"http://localhost:8001\""
    if not isinstance(value, str) or _has_control(value) or " " in value:
        raise _bad(loc, value, expected)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise _bad(loc, value, f"{expected} ({exc})") from None
    if parts.scheme not in URL_SCHEMES or not parts.hostname:
        raise _bad(loc, value, expected)
    if "@" in parts.netloc:
        raise TargetsError(
            f"{loc}: URL {_show(_redact(value))} embeds credentials; secrets come from an "
            "Airflow connection, never from the targets file"
        )
    if port == 0:
        raise _bad(loc, value, f"{expected} (port 1..65535)")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise _bad(loc, value, f"{expected}; a path prefix is allowed but no query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _looks_secret(header: str) -> bool:
    lower = header.lower()
    return lower in SECRET_HEADER_NAMES or any(word in lower for word in SECRET_HEADER_WORDS)


def _header_pairs(value: Any, loc: _Loc) -> list[tuple[Any, Any]]:
    """Headers as an object (config) or a list of [name, value] pairs (``to_dict`` output)."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in value
    ):
        return [tuple(p) for p in value]
    raise _bad(loc, value, "an object of header name -> string value")


def _headers(value: Any, loc: _Loc) -> tuple[tuple[str, str], ...]:
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for name, val in _header_pairs(value, loc):
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise _bad(loc, name, "header names made of RFC 9110 token characters")
        where = loc.item(name)
        if _looks_secret(name):  # never echo the value: it may be a real secret
            raise TargetsError(
                f"{where}: header {name!r} looks like a secret; secret headers come from an "
                "Airflow connection, never from the targets file"
            )
        if not isinstance(val, str) or _has_control(val):
            raise _bad(where, val, "a string without control characters")
        if name.lower() in seen:
            raise TargetsError(f"{where}: duplicate header {name!r} (names are case-insensitive)")
        seen.add(name.lower())
        out.append((name, val))
    return tuple(out)


def _conn_id(value: Any, loc: _Loc) -> str | None:
    """An Airflow connection id (letters, digits, ``_ . -``; at most 250 characters) or null."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CONN_ID.match(value):
        raise _bad(loc, value, "an Airflow connection id (letters, digits, '_', '.', '-'; "
                               "at most 250 characters) or null")
    return value


def with_secret_headers(service: Service, headers: Mapping[str, str], source: str = "connection") -> Service:
    """``service`` with ``headers`` added to every endpoint (they win over same-named endpoint headers).

    For the probe only, inside the benchmark task: the result holds secrets, so it must never be
    serialised (``to_dict``), logged or stored. Errors name the header, never its value.
    """
    if not isinstance(headers, Mapping):
        raise TargetsError(f"{source}: headers must be an object of header name -> string value")
    secret: list[tuple[str, str]] = []
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise TargetsError(f"{source}: header name {_show(name)} is not an RFC 9110 token")
        if not isinstance(value, str) or _has_control(value):
            raise TargetsError(f"{source}: header {name!r} must be a string without control characters")
        secret.append((name, value))
    names = {name.lower() for name, _ in secret}
    endpoints = tuple(
        replace(ep, headers=tuple(h for h in ep.headers if h[0].lower() not in names) + tuple(secret))
        for ep in service.endpoints
    )
    return replace(service, endpoints=endpoints)


#: A field check: (raw value, location) -> clean value, or raise TargetsError.
_Check = Callable[[Any, _Loc], Any]

# -- field tables ----------------------------------------------------------------------------

_LOAD_FIELDS: dict[str, _Check] = {
    "model": _Choice(LOAD_MODELS),
    "requests": _Number(True, cap=MAX_REQUESTS, cap_name="MAX_REQUESTS", nullable=True),
    "duration_s": _Number(False, cap=MAX_DURATION_S, cap_name="MAX_DURATION_S", nullable=True),
    "concurrency": _Number(True, cap=MAX_CONCURRENCY, cap_name="MAX_CONCURRENCY"),
    "warmup": _Number(True, allow_zero=True, cap=MAX_WARMUP, cap_name="MAX_WARMUP"),
    "timeout_s": _Number(False, cap=MAX_TIMEOUT_S, cap_name="MAX_TIMEOUT_S"),
    "connect_timeout_s": _Number(False, cap=MAX_TIMEOUT_S, cap_name="MAX_TIMEOUT_S"),
    "max_body_bytes": _Number(True, cap=MAX_BODY_BYTES, cap_name="MAX_BODY_BYTES"),
    "rate": _Number(False, cap=MAX_RATE, cap_name="MAX_RATE", nullable=True),
    "processes": _Number(True, cap=MAX_PROCESSES, cap_name="MAX_PROCESSES"),
}

_BUDGET_FIELDS: dict[str, _Check] = {
    "p95_ms": _Number(False, cap=MAX_P95_MS, cap_name="MAX_P95_MS"),
    "error_rate": _Number(False, allow_zero=True, cap=1.0),
}

_ENDPOINT_FIELDS: dict[str, _Check] = {
    "path": _path,
    "method": _Choice(METHODS, upper=True),
    "name": _name(ENDPOINT_NAME_MAX),
    "expected_status": _status_codes,
    "headers": _headers,
    "body": _optional_str,
    "budget": lambda v, loc: v,  # merged over the service budget in _parse_endpoint
    "max_rate": _Number(False, cap=MAX_RATE, cap_name="MAX_RATE", nullable=True),
    "max_concurrency": _Number(True, cap=MAX_CONCURRENCY, cap_name="MAX_CONCURRENCY", nullable=True),
}

_SERVICE_KEYS = ("name", "base_url", "endpoints", "load", "budget", "verify_tls", "headers_conn_id")
_DEFAULTS_KEYS = ("load", "budget")
_TOP_KEYS = ("version", "defaults", "services")


def _section(value: Any, loc: _Loc, specs: Mapping[str, _Check]) -> dict[str, Any]:
    """Validate a partial object field by field (all keys optional); returns the clean values."""
    obj = _object(value, loc, tuple(specs))
    return {key: specs[key](val, loc.key(key)) for key, val in obj.items()}


def _merge_load(base: LoadSettings, value: Any, loc: _Loc) -> LoadSettings:
    if value is None:
        return base
    return LoadSettings(**{**asdict(base), **_section(value, loc, _LOAD_FIELDS)})


def _merge_budget(base: Budget, value: Any, loc: _Loc) -> Budget:
    if value is None:
        return base
    return Budget(**{**asdict(base), **_section(value, loc, _BUDGET_FIELDS)})


def _check_load(load: LoadSettings, loc: _Loc) -> None:
    if load.requests is None and load.duration_s is None:
        raise TargetsError(
            f"{loc}: set load.requests or load.duration_s (after merging defaults.load); "
            "both are null"
        )
    if load.model == "open":
        if load.rate is None:
            raise TargetsError(
                f"{loc}.rate: the open model needs a rate (arrivals per second per endpoint), got null"
            )
        if load.duration_s is None:
            raise TargetsError(
                f"{loc}.duration_s: the open model needs a duration (the schedule's length), got null"
            )
    elif load.rate is not None:
        raise TargetsError(
            f"{loc}.rate: {_show(load.rate)} applies to the open model only; set load.model to "
            f"\"open\" or load.rate to null (model is {_show(load.model)})"
        )
    if load.processes > load.concurrency:
        raise TargetsError(
            f"{loc}.processes: {load.processes} exceeds load.concurrency ({load.concurrency}); "
            "every process needs at least one request in flight"
        )
    if load.duration_s is None and load.requests is not None and load.processes > load.requests:
        raise TargetsError(
            f"{loc}.processes: {load.processes} exceeds load.requests ({load.requests}); "
            "every process needs at least one request"
        )


def _check_endpoint_caps(endpoints: tuple[Endpoint, ...], load: LoadSettings, loc: _Loc) -> None:
    """Each process must keep at least one request in flight under an endpoint's concurrency cap."""
    for i, endpoint in enumerate(endpoints):
        if endpoint.max_concurrency is not None and endpoint.max_concurrency < load.processes:
            raise TargetsError(
                f"{loc.item(i).key('max_concurrency')}: {endpoint.max_concurrency} is below "
                f"load.processes ({load.processes}); every process needs at least one request in flight"
            )


# -- structure -------------------------------------------------------------------------------


def _parse_endpoint(value: Any, loc: _Loc, service_budget: Budget) -> Endpoint:
    obj = _object(value, loc, tuple(_ENDPOINT_FIELDS))
    _require(obj, ("path",), loc)
    clean = {key: _ENDPOINT_FIELDS[key](val, loc.key(key)) for key, val in obj.items()}
    if clean.get("budget") is not None:
        clean["budget"] = _merge_budget(service_budget, clean["budget"], loc.key("budget"))
    endpoint = Endpoint(**clean)
    if len(endpoint.name) > ENDPOINT_NAME_MAX:
        raise _bad(loc.key("name"), endpoint.name,
                   f"a name of at most {ENDPOINT_NAME_MAX} characters (the default is derived "
                   "from the path: set a shorter 'name')")
    return endpoint


def _parse_endpoints(value: Any, loc: _Loc, service_budget: Budget) -> tuple[Endpoint, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _bad(loc, value, "a non-empty list of endpoints")
    endpoints: list[Endpoint] = []
    first: dict[str, int] = {}
    for i, item in enumerate(value):
        endpoint = _parse_endpoint(item, loc.item(i), service_budget)
        if endpoint.name in first:
            raise TargetsError(
                f"{loc.item(i).key('name')}: duplicate endpoint name {endpoint.name!r} "
                f"(also {loc.item(first[endpoint.name]).path}); give one of them a distinct 'name'"
            )
        first[endpoint.name] = i
        endpoints.append(endpoint)
    return tuple(endpoints)


def _service_owner(value: Any, label: str) -> str:
    name = value.get("name") if isinstance(value, Mapping) else None
    usable = isinstance(name, str) and 0 < len(name) <= SERVICE_NAME_MAX
    return f"{label} {name!r}" if usable else label


def _parse_service(value: Any, label: str, load: LoadSettings, budget: Budget) -> Service:
    """One service object merged over the given ``load``/``budget`` defaults."""
    owner = _Loc(_service_owner(value, label))
    if not isinstance(value, Mapping):
        raise _bad(_Loc(label), value, "a service object")
    obj = _object(value, owner, _SERVICE_KEYS)
    _require(obj, ("name", "base_url", "endpoints"), owner)
    name = _name(SERVICE_NAME_MAX)(obj["name"], owner.key("name"))
    base_url = _base_url(obj["base_url"], owner.key("base_url"))
    load = _merge_load(load, obj.get("load"), owner.key("load"))
    _check_load(load, owner.key("load"))
    budget = _merge_budget(budget, obj.get("budget"), owner.key("budget"))
    endpoints = _parse_endpoints(obj["endpoints"], owner.key("endpoints"), budget)
    _check_endpoint_caps(endpoints, load, owner.key("endpoints"))
    verify_tls = _bool(obj.get("verify_tls", True), owner.key("verify_tls"))
    headers_conn_id = _conn_id(obj.get("headers_conn_id"), owner.key("headers_conn_id"))
    return Service(name, base_url, endpoints, load, budget, verify_tls, headers_conn_id=headers_conn_id)


def _parse_defaults(value: Any) -> tuple[LoadSettings, Budget]:
    loc = _Loc("", "defaults")
    obj = _object({} if value is None else value, loc, _DEFAULTS_KEYS)
    return (
        _merge_load(LoadSettings(), obj.get("load"), loc.key("load")),
        _merge_budget(Budget(), obj.get("budget"), loc.key("budget")),
    )


def parse_targets(obj: Any) -> list[Service]:
    """Validate a decoded targets config (see the module docstring) into services."""
    top = _object(obj, _Loc(), _TOP_KEYS)
    version = top.get("version", 1)
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise _bad(_Loc("", "version"), version, f"one of {SUPPORTED_VERSIONS}")
    load, budget = _parse_defaults(top.get("defaults"))
    _require(top, ("services",), _Loc())
    raw = top["services"]
    if not isinstance(raw, list) or not raw:
        raise _bad(_Loc("", "services"), raw, "a non-empty list of services")
    services: list[Service] = []
    first: dict[str, int] = {}
    for i, item in enumerate(raw):
        service = _parse_service(item, f"services[{i}]", load, budget)
        if service.name in first:
            raise TargetsError(
                f"services[{i}] {service.name!r}: name: duplicate service name "
                f"{service.name!r} (also services[{first[service.name]}])"
            )
        first[service.name] = i
        services.append(service)
    return services


def parse_service(d: Mapping[str, Any]) -> Service:
    """Read back ``Service.to_dict()`` output (also after a JSON round-trip, e.g. via XCom)."""
    return _parse_service(d, "service", LoadSettings(), Budget())


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise TargetsError(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


def parse_targets_json(text: str, source: str = "<string>") -> list[Service]:
    """Parse targets JSON text; every error message starts with ``source``."""
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise TargetsError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except TargetsError as exc:
        raise TargetsError(f"{source}: {exc}") from None
    try:
        return parse_targets(obj)
    except TargetsError as exc:
        raise TargetsError(f"{source}: {exc}") from None


def load_targets_file(path: str | os.PathLike[str] | None = None) -> list[Service]:
    """Load and validate a targets file (``default_targets_path()`` when ``path`` is None)."""
    target = Path(path) if path is not None else default_targets_path()
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(
            f"{target}: cannot read targets file ({exc}); set {ENV_TARGETS_FILE} to point at one"
        ) from None
    return parse_targets_json(text, str(target))


def default_targets_path() -> Path:
    """The targets file to use when none is given.

    ``$PERF_PROFILER_TARGETS_FILE`` if set; else ``config/targets.json`` inside
    ``$AIRFLOW__CORE__DAGS_FOLDER`` when that file exists; else ``dags/config/targets.json`` of
    the repository this module lives in (``plugins/perf_profiler/../../dags``).
    """
    explicit = os.environ.get(ENV_TARGETS_FILE)
    if explicit:
        return Path(explicit).expanduser()
    dags_folder = os.environ.get(ENV_DAGS_FOLDER)
    if dags_folder:
        candidate = (Path(dags_folder).expanduser() / "config" / "targets.json").resolve()
        if candidate.is_file():
            return candidate
    return Path(__file__).resolve().parents[3] / "dags" / "config" / "targets.json"
