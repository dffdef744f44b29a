"""The trigger form: DAG params generated from ``RunParams``, and applying a run's params to the targets.

``RunParams`` is built from the targets model's own field types (``model.fields``), so the form's
limits are the safety caps and a config that validates can never break the form. Airflow's
``Param`` validation checks what the form sends against the generated JSON schema; ``apply``
checks a run's conf against the model it was generated from (runs also come from the REST API
or the CLI, with any conf) and validates the overridden services again by the targets rules.

The form offers the service names of the targets file (a plain JSON read, no network or DB —
safe at DAG-parse time).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, model_validator
from typing_extensions import Self

from perf_profiler.model.errors import Expect, TargetsError, rule, show
from perf_profiler.model.fields import (
    LOAD_MODELS,
    STRICT,
    Concurrency,
    DurationS,
    P95Ms,
    Rate,
    Requests,
    ServiceName,
    Shards,
    Tenant,
    Unique,
    Warmup,
)
from perf_profiler.model.targets_file import service_names, targets_path

if TYPE_CHECKING:  # imported by apply: the DAG file builds the form without the targets models
    from perf_profiler.model.targets import Service

#: The form's load model: the targets' own, or one of the engine's for every service of the run.
LOAD_MODEL_CHOICES = ("config", *LOAD_MODELS)
LOAD_OVERRIDES = ("requests", "concurrency", "rate", "duration_s", "warmup", "shards")

Selection = Annotated[list[ServiceName], Field(min_length=1), Unique(), Expect("a non-empty list of service names")]


class ParamsError(ValueError):
    """A run's conf/params are invalid; the message names the param."""


def _form(default: Any, title: str, section: str, description: str) -> Any:
    return Field(default=default, title=title, description=description, json_schema_extra={"section": section})


class RunParams(BaseModel):
    """A run's params; its JSON schema is the trigger form (``param_schemas``)."""

    model_config = STRICT
    # No enum on the service names: the Airflow Variable may configure other services than the file.
    # The form offers the file's names (examples); ``apply`` refuses any name not configured.
    services: Selection | None = _form(None, "Services", "Targets", "Which configured services to benchmark "
                                       "(default: all).")
    load_model: Literal["config", "closed", "open"] = _form(
        "config", "Load model", "Load", "config = each target's own settings; closed = N requests with C in flight;"
        " open = constant arrival rate for a duration.")
    requests: Requests | None = _form(None, "Requests per endpoint", "Load",
                                      "Counted requests per endpoint (closed loop). Empty = from targets.")
    concurrency: Concurrency | None = _form(None, "Concurrency", "Load",
                                            "Requests in flight (the cap, for the open loop). Empty = from targets.")
    rate: Rate | None = _form(None, "Rate (req/s)", "Load",
                              "Open loop: arrivals per second per endpoint. Empty = from targets.")
    duration_s: DurationS | None = _form(None, "Duration (s)", "Load",
                                         "Run each endpoint this long (wins over requests).")
    warmup: Warmup | None = _form(None, "Warm-up requests", "Load",
                                  "Uncounted requests per endpoint before measuring. Empty = from targets.")
    shards: Shards | None = _form(None, "Shards", "Load",
                                  "Cut each service's load into this many benchmark tasks (on any workers), which "
                                  "start together. Empty = from targets.")
    budget_p95_ms: P95Ms | None = _form(None, "p95 budget override (ms)", "Budget",
                                        "Replaces every p95 budget for this run (P-6 default: 800 ms).")
    tenant: Tenant = _form("default", "Tenant", "Budget", "Tenant the rows are stored under.")
    fail_on_violation: bool = _form(True, "Fail on violation", "Budget", "Fail the run (after storing and posting) "
                                    "when a budget is broken, so Airflow's failure alerting fires.")

    @model_validator(mode="after")
    def _rate_needs_the_open_model(self) -> Self:
        if self.load_model == "closed" and self.rate is not None:
            raise rule(f"{show(self.rate)} applies to the open load model only", "rate")
        return self


PARAM_KEYS = tuple(RunParams.model_fields)


@dataclass(frozen=True)
class RunOptions:
    """What a run's params decide besides the targets themselves."""

    tenant: str = "default"
    fail_on_violation: bool = True


def _form_field(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Pydantic writes an optional field as ``anyOf: [T, null]``; Airflow's form picks the widget
    (and a number field its limits) from ``type``, so the two become ``type: [T, "null"]``."""
    out = dict(schema)
    options = out.pop("anyOf", None)
    if options is None:
        return out
    (kind,) = [option for option in options if option.get("type") != "null"]
    return {**kind, **out, "type": [kind["type"], "null"]}


def param_schemas(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """JSON-schema keyword arguments for every param (default, type, limits, title, section)."""
    properties = RunParams.model_json_schema()["properties"]
    schemas = {key: _form_field(schema) for key, schema in properties.items()}
    adapter: TypeAdapter[str] = TypeAdapter(ServiceName)
    # a name the params would refuse must not break the form: it is left out
    # (deduplicated after validation: two spellings of one name normalise to the same string)
    offered = list(dict.fromkeys(valid for name in names if (valid := _validated(adapter, name)) is not None))
    schemas["services"].update(default=offered or None, examples=offered)
    return schemas


def _validated(adapter: TypeAdapter[str], name: str) -> str | None:
    """``name`` as ``adapter`` validates it, or None when it refuses it."""
    try:
        return adapter.validate_python(name)
    except ValidationError:
        return None


def configured_service_names(targets_file: str | os.PathLike[str] | None) -> list[str]:
    """Service names of the targets file the DAG uses, for the form (empty if it can't be read)."""
    try:
        return service_names(targets_path(targets_file))
    except TargetsError:
        return []


def form_params(targets_file: str | os.PathLike[str] | None) -> dict[str, Any]:
    """``params=`` for the DAG: one ``Param`` per key; ``targets_file`` is the DAG's default file."""
    from airflow.sdk import Param

    schemas = param_schemas(configured_service_names(targets_file))
    return {key: Param(**schema) for key, schema in schemas.items()}


def _param(loc: tuple[Any, ...]) -> str:
    return f"param {loc[0]!r}" if loc else "params"


def run_params(given: Mapping[str, Any]) -> RunParams:
    """``given`` validated; raises ParamsError naming the param."""
    from perf_profiler.model.strict import render

    try:
        return RunParams.model_validate(dict(given))
    except ValidationError as exc:
        error = ParamsError(render(exc, RunParams, given, label=_param, item="param"))
    raise error


def _load_override(run: RunParams) -> dict[str, Any]:
    override = {key: getattr(run, key) for key in LOAD_OVERRIDES if getattr(run, key) is not None}
    if run.load_model != "config":
        override["model"] = run.load_model
    if run.load_model == "closed":
        override["rate"] = None  # a target configured as open loop becomes closed for this run
    if override.get("duration_s") is not None and "requests" not in override:
        override["requests"] = None
    return override


def _with_overrides(service: Service, load: Mapping[str, Any], p95_ms: float | None) -> Service:
    """``service`` with the run's load and p95 budget, validated again in one pass."""
    changes: dict[str, Any] = {}
    if load:
        changes["load"] = {**service.load.model_dump(), **load}
    if p95_ms is not None:
        changes["budget"] = {**service.budget.model_dump(), "p95_ms": p95_ms}
        changes["endpoints"] = [
            ep if ep.budget is None else {**dict(ep), "budget": {**ep.budget.model_dump(), "p95_ms": p95_ms}}
            for ep in service.endpoints
        ]
    return service.revised(**changes) if changes else service


def _overriding(run: RunParams) -> str:
    """The params that changed the services, by their own names (``param 'budget_p95_ms'``)."""
    given = [key for key in (*LOAD_OVERRIDES, "budget_p95_ms") if getattr(run, key) is not None]
    if run.load_model != "config":
        given.insert(0, "load_model")
    if len(given) == 1:
        return f"param {given[0]!r}"
    return f"params {', '.join(repr(key) for key in given)}" if given else "params"


def apply(
    services: Sequence[Service], params: Mapping[str, Any], conf: Mapping[str, Any] | None = None
) -> tuple[list[Service], RunOptions]:
    """The selected services with the run's load and budget overrides, and the run options.

    The overridden services are validated again by the targets rules, so a param can never
    get past a safety cap. Raises ParamsError naming the param.
    """
    names = [s.name for s in services]
    given = {**dict(params), **dict(conf or {})}
    if "services" not in (conf or {}):
        given["services"] = None  # not chosen for this run (scheduled, backfill, API): all configured
    run = run_params(given)
    selected = names if run.services is None else run.services
    missing = [s for s in selected if s not in names]
    if missing:
        raise ParamsError(f"param 'services': unknown service {missing[0]!r}; configured: {', '.join(names)}")
    override = _load_override(run)
    try:
        chosen = [_with_overrides(s, override, run.budget_p95_ms) for s in services if s.name in selected]
    except TargetsError as error:
        raise ParamsError(f"{_overriding(run)}: {error}") from error
    return chosen, RunOptions(tenant=run.tenant, fail_on_violation=run.fail_on_violation)
