"""Targets config model: which services to benchmark, how hard, and against which budget.

The models are the contract the probe engine, the DAG and the store share; validating them is
parsing the config (pydantic, strict: unknown keys and wrong types refused, errors as
``TargetsError`` naming the service, the endpoint, the field and the value).

Config file (``config/targets.json`` beside the DAG file)::

    {"version": 1,
     "defaults": {"load": {...}, "budget": {...}},
     "services": [{"name": "registry", "base_url": "http://localhost:8001",
                   "endpoints": [{"path": "/healthz"}],
                   "load": {...}, "budget": {...}, "regressions": {...}, "verify_tls": true,
                   "headers_conn_id": "registry_auth", "version": {"header": "X-Version"}}]}

Precedence: the models' defaults < ``defaults`` < the service's own ``load``/``budget``/``regressions``
< an endpoint's ``budget``/``regressions`` (key by key; ``model.regressions``). When ``load.duration_s`` is
set the probe runs for that long and ``load.requests`` is ignored; ``requests`` may be ``null`` only
when ``duration_s`` is set.
Numbers above the safety caps (``model.caps``) are refused. Secrets never live in this file:
URLs with credentials and secret-looking headers are refused. ``headers_conn_id`` names an
Airflow connection holding the secret headers instead (``tasks.target_auth``); ``verify_tls:
false`` turns off certificate checks for one service (e.g. a self-signed staging server).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from perf_profiler.model import caps
from perf_profiler.model.errors import Expect, TargetsError, invalid, num, rule, show
from perf_profiler.model.fields import (
    LOAD_MODELS,
    BodyBytes,
    Concurrency,
    DurationS,
    EndpointName,
    ErrorRate,
    LoadModel,
    P95Ms,
    Processes,
    Rate,
    Requests,
    ServiceName,
    Shards,
    ShardStartTimeoutS,
    TimeoutS,
    Warmup,
    first_duplicate,
)
from perf_profiler.model.http_values import (
    BaseUrl,
    ConnId,
    Headers,
    Method,
    StatusCodes,
    UrlPath,
    is_state_changing,
)
from perf_profiler.model.origins import Origins
from perf_profiler.model.regressions import Regressions
from perf_profiler.model.strict import StrictModel
from perf_profiler.model.version_source import VersionSource

#: The probe engines a load may ask for (``LoadFields.engine``; ``engine.engine_choice`` picks one).
ENGINES = ("auto", "fast", "aiohttp")
Engine = Literal["auto", "fast", "aiohttp"]

__all__ = ["ENGINES", "LOAD_MODELS", "Budget", "Endpoint", "LoadFields", "LoadSettings", "Regressions", "Service",
           "TargetsConfig", "TargetsError", "parse_targets", "state_changing"]


class Budget(StrictModel):
    """Policy P-6: p95 must stay below ``p95_ms``; errors must stay at or below ``error_rate``."""

    LABEL: ClassVar[str] = "budget"
    p95_ms: P95Ms = 800.0
    error_rate: ErrorRate = 0.01


class LoadFields(StrictModel):
    """The fields of a load, each checked on its own (a ``defaults.load`` layer)."""

    LABEL: ClassVar[str] = "load"
    model: LoadModel = "closed"
    requests: Requests | None = 200
    duration_s: DurationS | None = None
    concurrency: Concurrency = 10
    warmup: Warmup = 10
    timeout_s: TimeoutS = 5.0
    connect_timeout_s: TimeoutS = 2.0
    max_body_bytes: BodyBytes = caps.MIB
    rate: Rate | None = None
    processes: Processes = 1
    #: Which engine sends the requests: ``fast`` (raw HTTP/1.1 protocol; plain http:// only),
    #: ``aiohttp`` (everything, TLS included), or ``auto`` = fast where it can run, else aiohttp.
    engine: Engine = "auto"
    #: Shards: the load is cut into that many mapped ``benchmark`` tasks (any worker), each split
    #: again over ``processes``; they meet at a start line in the metrics database (tasks/shard_start.py).
    shards: Shards = 1
    shard_start_timeout_s: ShardStartTimeoutS = 300.0


class LoadSettings(LoadFields):
    """How hard to probe each endpoint of one service.

    ``model="closed"``: ``concurrency`` requests in flight, each sent as soon as the previous
    one of its worker returned (``requests`` of them, or for ``duration_s``).
    ``model="open"``: ``rate`` arrivals per second per endpoint on a fixed timeline for
    ``duration_s`` (both required), latency measured from each intended send time;
    ``concurrency`` is then the cap on requests in flight (a send that would exceed it is
    counted as dropped). ``processes``: the load of one service is spread over that many worker
    processes (requests, concurrency and rate are split between them; histograms merge exactly).
    ``shards``: the same split across ``shards`` task instances first (``shards * processes``
    parts in all), which wait up to ``shard_start_timeout_s`` for each other at every endpoint.
    """

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.requests is None and self.duration_s is None:
            raise rule("set load.requests or load.duration_s (after merging defaults.load); both are null")
        if self.model == "open":
            if self.rate is None:
                raise rule("the open model needs a rate (arrivals per second per endpoint), got null", "rate")
            if self.duration_s is None:
                raise rule("the open model needs a duration (the schedule's length), got null", "duration_s")
        elif self.rate is not None:
            raise rule(f"{show(self.rate)} applies to the open model only; set load.model to \"open\" or "
                       f"load.rate to null (model is {show(self.model)})", "rate")
        if self.processes > self.concurrency:
            raise rule(f"{self.processes} exceeds load.concurrency ({self.concurrency}); "
                       "every process needs at least one request in flight", "processes")
        if self.duration_s is None and self.requests is not None and self.processes > self.requests:
            raise rule(f"{self.processes} exceeds load.requests ({self.requests}); "
                       "every process needs at least one request", "processes")
        return self._shards_fit()

    def _shards_fit(self) -> Self:
        """Every process of every shard needs a part of the load (``shards * processes`` parts)."""
        parts = self.shards * self.processes
        if self.shards > 1 and parts > self.concurrency:
            raise rule(f"{self.shards} shards x {self.processes} processes exceed load.concurrency "
                       f"({self.concurrency}); every process of every shard needs one request in flight", "shards")
        if self.shards > 1 and self.duration_s is None and self.requests is not None and parts > self.requests:
            raise rule(f"{self.shards} shards x {self.processes} processes exceed load.requests ({self.requests}); "
                       "every process of every shard needs at least one request", "shards")
        return self


class Endpoint(StrictModel):
    """One endpoint of a service; ``name`` is what rows and reports call it (default: from the path)."""

    LABEL: ClassVar[str] = "endpoint"
    path: UrlPath
    method: Method = "GET"
    name: EndpointName = ""
    expected_status: StatusCodes = (200,)
    headers: Headers = ()
    body: str | None = None
    budget: Budget | None = None
    #: The change-point detector's parameters for this endpoint's series (over the service's, key by key).
    regressions: Regressions | None = None
    #: Safety caps for this endpoint: the effective rate / concurrency is the min of the load's and these.
    max_rate: Rate | None = None
    max_concurrency: Concurrency | None = None

    @model_validator(mode="after")
    def _default_name(self) -> Self:
        if not self.name:
            default = self.path if self.method == "GET" else f"{self.method} {self.path}"
            if len(default) > caps.ENDPOINT_NAME_MAX:
                raise rule(f"expected a name of at most {caps.ENDPOINT_NAME_MAX} characters (the default is "
                           f"derived from the path: set a shorter 'name'), got {show(default)}", "name")
            object.__setattr__(self, "name", default)  # frozen: set once, while validating
        return self


class Service(StrictModel):
    """A service to benchmark: its base URL, endpoints, load and budget."""

    LABEL: ClassVar[str] = "service"
    NOUN: ClassVar[str] = "a service object"
    OWNER: ClassVar[bool] = True
    # Field order is validation order: the first error reported is the first in this list.
    name: ServiceName
    base_url: BaseUrl
    load: LoadSettings = Field(default_factory=LoadSettings)
    budget: Budget = Field(default_factory=Budget)
    regressions: Regressions = Field(default_factory=Regressions)
    endpoints: Annotated[tuple[Endpoint, ...], Field(min_length=1, strict=False),
                         Expect("a non-empty list of endpoints")]
    verify_tls: bool = True
    #: Airflow connection whose secret headers are added to every request (``with_secret_headers``).
    #: Only the connection's id is here: the values are read inside the benchmark task at probe time.
    headers_conn_id: ConnId | None = None
    #: Origins besides the service's own that its redirects may lead to (default: same origin only).
    #: Secret headers (``headers_conn_id``) are never sent to another origin, even one listed here.
    redirect_origins: Origins = ()
    #: Policy P-3: POST/PUT/PATCH/DELETE endpoints are refused unless this is true (logged on every run).
    allow_state_changing_methods: bool = False
    #: Where the service's release is read once per run (``model.version_source``); none: rows have no version.
    version: VersionSource | None = None

    @model_validator(mode="before")
    @classmethod
    def _endpoint_budgets_over_service_budget(cls, data: Any) -> Any:
        """An endpoint's ``budget`` (and ``regressions``) object overrides the service's key by key."""
        if not isinstance(data, Mapping) or not isinstance(data.get("endpoints"), (list, tuple)):
            return data
        endpoints = list(data["endpoints"])
        for key, model in (("budget", Budget), ("regressions", Regressions)):
            base = data.get(key)
            base = dict(base) if isinstance(base, (Mapping, model)) else {}
            endpoints = [{**ep, key: {**base, **ep[key]}}
                         if isinstance(ep, Mapping) and isinstance(ep.get(key), Mapping) else ep
                         for ep in endpoints]
        return {**data, "endpoints": endpoints}

    @model_validator(mode="after")
    def _endpoints_fit_the_load(self) -> Self:
        if (dup := first_duplicate(e.name for e in self.endpoints)) is not None:
            earlier, i = dup
            raise rule(f"duplicate endpoint name {self.endpoints[i].name!r} (also endpoints[{earlier}]; names are "
                       "compared case-insensitively); give one of them a distinct 'name'", "endpoints", i, "name")
        for i, endpoint in enumerate(self.endpoints):
            if is_state_changing(endpoint.method) and not self.allow_state_changing_methods:
                raise rule(f"endpoint {show(endpoint.name)}: method {endpoint.method} changes state; benchmarks are "
                           "read-only (GET, HEAD, OPTIONS) unless the service sets allow_state_changing_methods: true",
                           "endpoints", i, "method")
        parts = self.load.processes * self.load.shards
        what = f"load.processes ({self.load.processes})" if self.load.shards == 1 else (
            f"load.shards x load.processes ({self.load.shards} x {self.load.processes})")
        for i, endpoint in enumerate(self.endpoints):
            if endpoint.max_concurrency is not None and endpoint.max_concurrency < parts:
                raise rule(f"{endpoint.max_concurrency} is below {what}; every "
                           "process needs at least one request in flight", "endpoints", i, "max_concurrency")
        return self

    @model_validator(mode="after")
    def _plan_fits_one_task(self) -> Self:
        """The endpoints run in turn in one ``benchmark`` task, whose ``execution_timeout`` is static."""
        load = self.load
        if load.duration_s is None:  # by request count: each phase has its own deadline (engine.deadline)
            return self
        wait = load.shard_start_timeout_s if load.shards > 1 else 0.0
        planned = len(self.endpoints) * (load.duration_s + wait)
        if planned > caps.MAX_SERVICE_PLAN_S:
            each = f"{num(load.duration_s)} s" + (f" + a shard start line of up to {num(wait)} s" if wait else "")
            raise rule(f"{len(self.endpoints)} endpoints x ({each}) = {num(planned)} s of load in one benchmark task, "
                       f"over the safety cap of {num(caps.MAX_SERVICE_PLAN_S)} s (model.caps.MAX_SERVICE_PLAN_S); "
                       "the endpoints run one after another: shorten load.duration_s or split the endpoints "
                       "over several services", "load", "duration_s")
        return self

    def budget_for(self, endpoint: Endpoint) -> Budget:
        """The endpoint's own budget when it has one, else the service's."""
        return endpoint.budget or self.budget

    def regressions_for(self, endpoint: Endpoint) -> Regressions:
        """The endpoint's own detector parameters when it has them, else the service's."""
        return endpoint.regressions or self.regressions


class Defaults(StrictModel):
    """``defaults``: a load, a budget and detector parameters every service starts from."""

    load: LoadFields = Field(default_factory=LoadFields)
    budget: Budget = Field(default_factory=Budget)
    regressions: Regressions = Field(default_factory=Regressions)


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):  # Literal[1] would take true
        raise invalid()
    return value


class TargetsConfig(StrictModel):
    """The whole targets config (see the module docstring)."""

    version: Annotated[Literal[1], BeforeValidator(_no_bool)] = 1
    defaults: Defaults | None = None
    services: Annotated[tuple[Service, ...], Field(min_length=1, strict=False), Expect("a non-empty list of services")]

    @field_validator("services", mode="before")
    @classmethod
    def _services_over_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        """Each service's ``load``/``budget``/``regressions`` object overrides ``defaults`` key by key."""
        if "defaults" not in info.data or not isinstance(value, (list, tuple)):
            return value  # invalid defaults are reported first; nothing to merge into
        defaults = info.data["defaults"] or Defaults()
        return [_over(item, defaults) for item in value]

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        if (dup := first_duplicate(s.name for s in self.services)) is not None:
            earlier, i = dup
            raise rule(f"duplicate service name {self.services[i].name!r} (also services[{earlier}]; names are "
                       "compared case-insensitively)", "services", i, "name")
        return self


def _over(service: Any, defaults: Defaults) -> Any:
    if not isinstance(service, Mapping):
        return service
    merged = dict(service)
    for key, base in (("load", defaults.load.model_dump()), ("budget", defaults.budget.model_dump()),
                      ("regressions", defaults.regressions.model_dump())):
        own = service.get(key)
        merged[key] = {**base, **own} if isinstance(own, Mapping) else base if own is None else own
    return merged


def state_changing(service: Service) -> list[str]:
    """``"POST /orders"``... for each endpoint of ``service`` that changes state (P-3), to log on every run."""
    return [f"{ep.method} {ep.name}" if not ep.name.startswith(f"{ep.method} ") else ep.name
            for ep in service.endpoints if is_state_changing(ep.method)]


def parse_targets(obj: Any) -> list[Service]:
    """Validate a decoded targets config (see the module docstring) into services."""
    return list(TargetsConfig.model_validate(obj).services)
