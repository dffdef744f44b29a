"""The trigger form: DAG params (JSON schema), and applying a run's params to the targets.

The form offers the service names of the versioned targets file (a plain JSON read, no
validation, no network or DB — safe at DAG-parse time). Whatever the form did, the first task
validates the run's conf again against the *effective* config (Variable or file), because runs
can also come from the REST API or the CLI with any conf.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perf_profiler.model import targets as t

LOAD_MODELS = ("config", "closed", "open")
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
LOAD_OVERRIDES = ("requests", "concurrency", "rate", "duration_s", "warmup")
PARAM_KEYS = ("services", "load_model", *LOAD_OVERRIDES, "budget_p95_ms", "tenant", "fail_on_violation")


class ParamsError(ValueError):
    """A run's conf/params are invalid; the message names the param."""


@dataclass(frozen=True)
class RunOptions:
    """What a run's params decide besides the targets themselves."""

    tenant: str = "default"
    fail_on_violation: bool = True


def configured_service_names() -> list[str]:
    """Service names of the versioned targets file, for the form (empty if it can't be read)."""
    try:
        with open(t.default_targets_path(), encoding="utf-8") as fh:
            return [s["name"] for s in json.load(fh)["services"] if isinstance(s.get("name"), str)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _number(kind: str, minimum: float, maximum: float, exclusive: bool = False) -> dict[str, Any]:
    bound = {"exclusiveMinimum": minimum} if exclusive else {"minimum": minimum}
    return {"type": ["null", kind], **bound, "maximum": maximum}


def param_schemas(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """JSON-schema keyword arguments for every param (default, type, limits, title, section)."""
    # No "enum" on the items: the Airflow Variable may configure other services than the file.
    # The form offers the file's names (examples); the first task refuses any other name.
    service_items = {"type": "string", "pattern": r"^[^/:?#]+$"}
    return {
        "services": {"default": list(names), "type": "array", "items": service_items, "examples": list(names),
                     "minItems": 1, "uniqueItems": True, "title": "Services",
                     "description": "Which configured services to benchmark (default: all).", "section": "Targets"},
        "load_model": {"default": "config", "enum": list(LOAD_MODELS), "title": "Load model",
                       "description": "config = each target's own settings; closed = N requests with C in flight;"
                                      " open = constant arrival rate for a duration.", "section": "Load"},
        "requests": {"default": None, **_number("integer", 1, t.MAX_REQUESTS), "title": "Requests per endpoint",
                     "description": "Counted requests per endpoint (closed loop). Empty = from targets.",
                     "section": "Load"},
        "concurrency": {"default": None, **_number("integer", 1, t.MAX_CONCURRENCY), "title": "Concurrency",
                        "description": "Requests in flight (the cap, for the open loop). Empty = from targets.",
                        "section": "Load"},
        "rate": {"default": None, **_number("number", 0, t.MAX_RATE, exclusive=True), "title": "Rate (req/s)",
                 "description": "Open loop: arrivals per second per endpoint. Empty = from targets.",
                 "section": "Load"},
        "duration_s": {"default": None, **_number("number", 0, t.MAX_DURATION_S, exclusive=True),
                       "title": "Duration (s)", "description": "Run each endpoint this long (wins over requests).",
                       "section": "Load"},
        "warmup": {"default": None, **_number("integer", 0, t.MAX_WARMUP), "title": "Warm-up requests",
                   "description": "Uncounted requests per endpoint before measuring. Empty = from targets.",
                   "section": "Load"},
        "budget_p95_ms": {"default": None, **_number("number", 0, t.MAX_P95_MS, exclusive=True),
                          "title": "p95 budget override (ms)",
                          "description": "Replaces every p95 budget for this run (P-6 default: 800 ms).",
                          "section": "Budget"},
        "tenant": {"default": "default", "type": "string", "pattern": TENANT_PATTERN, "title": "Tenant",
                   "description": "Tenant the rows are stored under.", "section": "Budget"},
        "fail_on_violation": {"default": True, "type": "boolean", "title": "Fail on violation",
                              "description": "Fail the run (after storing and posting) when a budget is broken, "
                                             "so Airflow's failure alerting fires.", "section": "Budget"},
    }


def form_params() -> dict[str, Any]:
    """``params=`` for the DAG: one ``Param`` per key."""
    from airflow.sdk import Param

    return {key: Param(**schema) for key, schema in param_schemas(configured_service_names()).items()}


def _check_value(key: str, value: Any, schema: Mapping[str, Any]) -> None:
    """The schema's type and limits, checked by hand (runs from the API or CLI skip the form)."""
    if value is None:
        if "null" in schema.get("type", []):
            return
        raise ParamsError(f"param {key!r}: must not be null")
    types = schema.get("type")
    kind = types[-1] if isinstance(types, list) else types
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ParamsError(f"param {key!r}: expected an integer, got {value!r}")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ParamsError(f"param {key!r}: expected a number, got {value!r}")
    if kind == "boolean" and not isinstance(value, bool):
        raise ParamsError(f"param {key!r}: expected true or false, got {value!r}")
    if kind == "string" and not isinstance(value, str):
        raise ParamsError(f"param {key!r}: expected a string, got {value!r}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ParamsError(f"param {key!r}: {value!r} is below the minimum {schema['minimum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise ParamsError(f"param {key!r}: {value!r} must be greater than {schema['exclusiveMinimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise ParamsError(f"param {key!r}: {value!r} exceeds the safety cap {schema['maximum']}")
    if "enum" in schema and value not in schema["enum"]:
        raise ParamsError(f"param {key!r}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and not re.match(schema["pattern"], value):
        raise ParamsError(f"param {key!r}: {value!r} does not match {schema['pattern']}")


def validate(params: Mapping[str, Any], conf: Mapping[str, Any] | None, names: Sequence[str]) -> None:
    """Refuse unknown conf keys and values outside the schema; ``names`` are the configured services."""
    unknown = sorted(set(conf or {}) - set(PARAM_KEYS))
    if unknown:
        raise ParamsError(f"param {unknown[0]!r}: unknown param; allowed: {', '.join(PARAM_KEYS)}")
    schemas = param_schemas(names)
    for key in PARAM_KEYS:
        if key != "services":
            _check_value(key, params.get(key, schemas[key]["default"]), schemas[key])
    selected = params.get("services")
    if not isinstance(selected, list) or not selected or not all(isinstance(s, str) for s in selected):
        raise ParamsError(f"param 'services': expected a non-empty list of service names, got {selected!r}")
    missing = [s for s in selected if s not in names]
    if missing:
        raise ParamsError(f"param 'services': unknown service {missing[0]!r}; configured: {', '.join(names)}")


def _load_override(params: Mapping[str, Any]) -> dict[str, Any]:
    override = {key: params[key] for key in LOAD_OVERRIDES if params.get(key) is not None}
    model = params.get("load_model", "config")
    if model != "config":
        override["model"] = model
    if model == "closed":
        if params.get("rate") is not None:
            raise ParamsError(f"param 'rate': {params['rate']!r} applies to the open load model only")
        override["rate"] = None  # a target configured as open loop becomes closed for this run
    if override.get("duration_s") is not None and "requests" not in override:
        override["requests"] = None
    return override


def apply(
    services: Sequence[t.Service], params: Mapping[str, Any], conf: Mapping[str, Any] | None = None
) -> tuple[list[t.Service], RunOptions]:
    """The selected services with the run's load and budget overrides, and the run options.

    The overridden services are validated again by the targets rules, so a param can never
    get past a safety cap. Raises ParamsError naming the param.
    """
    names = [s.name for s in services]
    params = {**{k: v["default"] for k, v in param_schemas(names).items()}, **dict(params), **dict(conf or {})}
    if "services" not in (conf or {}):
        params["services"] = names  # not chosen for this run (scheduled, backfill, API): all configured
    validate(params, conf, names)
    override = _load_override(params)
    chosen = [s for s in services if s.name in params["services"]]
    try:
        chosen = [_with_overrides(s, override, params.get("budget_p95_ms")) for s in chosen]
    except t.TargetsError as error:
        raise ParamsError(f"params {sorted(override)}: {error}") from error
    return chosen, RunOptions(tenant=params["tenant"], fail_on_violation=params["fail_on_violation"])


def _with_overrides(service: t.Service, load: Mapping[str, Any], p95_ms: float | None) -> t.Service:
    d = service.to_dict()
    d["load"] = {**d["load"], **load}
    if p95_ms is not None:
        d["budget"] = {**d["budget"], "p95_ms": p95_ms}
        for endpoint in d["endpoints"]:
            if endpoint.get("budget"):
                endpoint["budget"] = {**endpoint["budget"], "p95_ms": p95_ms}
    return t.parse_service(d)


