"""Targets config: the shipped file, validation messages, defaults merging, XCom round-trip."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from perf_profiler.model.errors import TargetsError
from perf_profiler.model.targets import (
    Budget,
    Endpoint,
    LoadSettings,
    Service,
    parse_targets,
    state_changing,
)
from perf_profiler.model.targets_file import load_targets_file

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "dags" / "config" / "targets.json"


def base_config() -> dict[str, Any]:
    """A small valid config; the bad-input table mutates copies of it."""
    return {
        "version": 1,
        "defaults": {"load": {"requests": 50, "concurrency": 5}, "budget": {"p95_ms": 800}},
        "services": [
            {"name": "registry", "base_url": "http://localhost:8001",
             "endpoints": [{"path": "/healthz"}]},
            {"name": "runtime", "base_url": "http://localhost:8002",
             "endpoints": [{"path": "/healthz"}]},
        ],
    }


def runtime(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg["services"][1]


def set_in(*keys: Any, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Mutator: set cfg[k1][k2]...[kn] = value (creating missing dicts on the way)."""

    def mutate(cfg: dict[str, Any]) -> dict[str, Any]:
        node = cfg
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[keys[-1]] = value
        return cfg

    return mutate


def drop(*keys: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(cfg: dict[str, Any]) -> dict[str, Any]:
        node = cfg
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]
        return cfg

    return mutate


RT = "services[1] 'runtime'"
EP0 = ("services", 1, "endpoints", 0)

BAD_INPUTS = [
    ("top-not-object", lambda c: [c], ["targets config", "expected an object", "[{"]),
    ("unknown-top-key", set_in("service", value=[]),
     ['unknown key "service"', "did you mean 'services'", "allowed keys: version, defaults, services"]),
    ("bad-version", set_in("version", value=2), ["version", "got 2"]),
    ("empty-services", set_in("services", value=[]), ["services", "non-empty list", "got []"]),
    ("service-not-object", set_in("services", 1, value="runtime"),
     ["services[1]: expected a service object", '"runtime"']),
    ("missing-base-url", drop("services", 1, "base_url"), [RT, "missing required key 'base_url'"]),
    ("duplicate-service", set_in("services", 1, "name", value="registry"),
     ["services[1] 'registry': name", "duplicate service name 'registry'", "services[0]"]),
    ("service-name-too-long", set_in("services", 1, "name", value="s" * 101),
     ["services[1]: name", '"sssss', "at most 100"]),
    ("service-name-not-string", set_in("services", 1, "name", value=7), ["services[1]: name", "got 7"]),
    ("ftp-url", set_in("services", 1, "base_url", value="ftp://localhost:8002"),
     [f"{RT}: base_url", '"ftp://localhost:8002"', "http:// or https://"]),
    ("file-url", set_in("services", 1, "base_url", value="file:///etc/passwd"),
     [f"{RT}: base_url", '"file:///etc/passwd"']),
    ("javascript-url", set_in("services", 1, "base_url", value="javascript:alert(1)"),
     [f"{RT}: base_url", '"javascript:alert(1)"']),
    ("url-without-host", set_in("services", 1, "base_url", value="http://:8002"),
     [f"{RT}: base_url", '"http://:8002"']),
    ("url-without-scheme", set_in("services", 1, "base_url", value="localhost:8002"),
     [f"{RT}: base_url", '"localhost:8002"']),
    ("url-bad-port", set_in("services", 1, "base_url", value="http://localhost:99999"),
     [f"{RT}: base_url", '"http://localhost:99999"', "Port out of range"]),
    ("url-query", set_in("services", 1, "base_url", value="http://localhost:8002/api?x=1"),
     [f"{RT}: base_url", '"http://localhost:8002/api?x=1"', "no query or fragment"]),
    ("url-credentials", set_in("services", 1, "base_url", value="http://admin:hunter2@localhost:8002"),
     [f"{RT}: base_url", '"http://***@localhost:8002"', "embeds credentials", "Airflow connection"]),
    ("empty-endpoints", set_in("services", 1, "endpoints", value=[]),
     [f"{RT}: endpoints", "non-empty list of endpoints", "got []"]),
    ("endpoint-missing-path", set_in("services", 1, "endpoints", value=[{"method": "GET"}]),
     [f"{RT}: endpoints[0]", "missing required key 'path'"]),
    ("unknown-endpoint-key", set_in(*EP0, "status", value=[200]),
     [f"{RT}: endpoints[0]", 'unknown key "status"', "allowed keys: path, method, name"]),
    ("path-without-slash", set_in(*EP0, "path", value="healthz"),
     [f"{RT}: endpoints[0].path", '"healthz"', "starting with a single '/'"]),
    ("bad-method", set_in(*EP0, "method", value="TRACE"),
     [f"{RT}: endpoints[0].method", '"TRACE"', "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"]),
    ("status-out-of-range", set_in(*EP0, "expected_status", value=[200, 700]),
     [f"{RT}: endpoints[0].expected_status", "[200, 700]", "100..599"]),
    ("status-not-list", set_in(*EP0, "expected_status", value="200"),
     [f"{RT}: endpoints[0].expected_status", '"200"']),
    ("status-bool", set_in(*EP0, "expected_status", value=[True]),
     [f"{RT}: endpoints[0].expected_status", "[true]"]),
    ("duplicate-endpoint", set_in("services", 1, "endpoints", value=[{"path": "/a"}, {"path": "/a"}]),
     [f"{RT}: endpoints[1].name", "duplicate endpoint name '/a'", "endpoints[0]"]),
    ("endpoint-name-too-long", set_in(*EP0, "name", value="e" * 201),
     [f"{RT}: endpoints[0].name", '"eeeee', "at most 200"]),
    ("authorization-header", set_in(*EP0, "headers", value={"Authorization": "Bearer s3cr3t"}),
     [f"{RT}: endpoints[0].headers['Authorization']", "looks like a secret", "Airflow connection"]),
    ("api-key-header", set_in(*EP0, "headers", value={"X-Api-Key": "s3cr3t"}),
     [f"{RT}: endpoints[0].headers['X-Api-Key']", "Airflow connection"]),
    ("header-crlf", set_in(*EP0, "headers", value={"X-Trace": "a\r\nHost: evil"}),
     [f"{RT}: endpoints[0].headers['X-Trace']", '"a\\r\\nHost: evil"']),
    ("endpoint-budget-negative", set_in(*EP0, "budget", value={"p95_ms": -1}),
     [f"{RT}: endpoints[0].budget.p95_ms", "got -1", "positive number"]),
    ("requests-bool", set_in("services", 1, "load", value={"requests": True}),
     [f"{RT}: load.requests", "got true", "positive integer"]),
    ("concurrency-string", set_in("services", 1, "load", value={"concurrency": "10"}),
     [f"{RT}: load.concurrency", 'got "10"']),
    ("concurrency-float", set_in("services", 1, "load", value={"concurrency": 2.5}),
     [f"{RT}: load.concurrency", "got 2.5", "integer"]),
    ("concurrency-zero", set_in("services", 1, "load", value={"concurrency": 0}),
     [f"{RT}: load.concurrency", "got 0", "positive integer"]),
    ("warmup-negative", set_in("services", 1, "load", value={"warmup": -1}),
     [f"{RT}: load.warmup", "got -1", "non-negative integer"]),
    ("timeout-zero", set_in("services", 1, "load", value={"timeout_s": 0}),
     [f"{RT}: load.timeout_s", "got 0"]),
    ("defaults-timeout-string", set_in("defaults", "load", "timeout_s", value="5s"),
     ["defaults.load.timeout_s", 'got "5s"']),
    ("concurrency-over-cap", set_in("services", 1, "load", value={"concurrency": 5000}),
     [f"{RT}: load.concurrency", "5000", "safety cap of 1000", "MAX_CONCURRENCY"]),
    ("requests-over-cap", set_in("services", 1, "load", value={"requests": 2_000_000}),
     [f"{RT}: load.requests", "2000000", "safety cap of 1000000", "MAX_REQUESTS"]),
    ("duration-over-cap", set_in("defaults", "load", "duration_s", value=7200),
     ["defaults.load.duration_s", "7200", "safety cap of 3600", "MAX_DURATION_S"]),
    ("body-bytes-over-cap", set_in("services", 1, "load", value={"max_body_bytes": 200 * 1024 * 1024}),
     [f"{RT}: load.max_body_bytes", "209715200", "MAX_BODY_BYTES"]),
    ("neither-requests-nor-duration", set_in("services", 1, "load", value={"requests": None}),
     [f"{RT}: load", "load.requests or load.duration_s"]),
    ("unknown-load-key", set_in("services", 1, "load", value={"concurency": 3}),
     [f"{RT}: load", 'unknown key "concurency"', "did you mean 'concurrency'"]),
    ("bad-load-model", set_in("services", 1, "load", value={"model": "ramp"}),
     [f"{RT}: load.model", '"ramp"', "one of closed, open"]),
    # open-loop load, worker processes, endpoint safety caps
    ("open-without-rate", set_in("services", 1, "load", value={"model": "open", "duration_s": 10}),
     [f"{RT}: load.rate", "open model needs a rate", "got null"]),
    ("open-without-duration", set_in("services", 1, "load", value={"model": "open", "rate": 100}),
     [f"{RT}: load.duration_s", "open model needs a duration"]),
    ("rate-on-closed-model", set_in("services", 1, "load", value={"rate": 100}),
     [f"{RT}: load.rate", "100.0", "open model only", 'set load.model to "open"']),
    ("rate-over-cap", set_in("services", 1, "load", value={"model": "open", "rate": 60000, "duration_s": 5}),
     [f"{RT}: load.rate", "60000", "safety cap of 50000", "MAX_RATE"]),
    ("rate-zero", set_in("services", 1, "load", value={"model": "open", "rate": 0, "duration_s": 5}),
     [f"{RT}: load.rate", "got 0", "positive number or null"]),
    ("processes-over-cap", set_in("services", 1, "load", value={"processes": 17, "concurrency": 50}),
     [f"{RT}: load.processes", "17", "safety cap of 16", "MAX_PROCESSES"]),
    ("processes-float", set_in("services", 1, "load", value={"processes": 1.5}),
     [f"{RT}: load.processes", "got 1.5", "positive integer"]),
    ("processes-over-concurrency", set_in("services", 1, "load", value={"processes": 8, "concurrency": 4}),
     [f"{RT}: load.processes", "8 exceeds load.concurrency (4)", "at least one request in flight"]),
    ("processes-over-requests", set_in("services", 1, "load", value={"processes": 4, "concurrency": 8, "requests": 3}),
     [f"{RT}: load.processes", "4 exceeds load.requests (3)"]),
    ("endpoint-max-rate-over-cap", set_in(*EP0, "max_rate", value=1e6),
     [f"{RT}: endpoints[0].max_rate", "1000000", "safety cap of 50000", "MAX_RATE"]),
    ("endpoint-max-rate-negative", set_in(*EP0, "max_rate", value=-5),
     [f"{RT}: endpoints[0].max_rate", "got -5"]),
    ("endpoint-max-concurrency-over-cap", set_in(*EP0, "max_concurrency", value=5000),
     [f"{RT}: endpoints[0].max_concurrency", "5000", "safety cap of 1000", "MAX_CONCURRENCY"]),
    ("endpoint-max-concurrency-below-processes",
     lambda c: set_in(*EP0, "max_concurrency", value=1)(set_in("services", 1, "load", value={"processes": 2})(c)),
     [f"{RT}: endpoints[0].max_concurrency", "1 is below load.processes (2)"]),
    # the endpoints run in turn in one benchmark task, whose execution_timeout is static
    ("plan-over-one-task",
     lambda c: set_in("services", 1, "endpoints", value=[{"path": f"/e{i}"} for i in range(3)])(
         set_in("services", 1, "load", value={"duration_s": 3000})(c)),
     [f"{RT}: load.duration_s", "3 endpoints x (3000 s) = 9000 s", "safety cap of 7200 s",
      "MAX_SERVICE_PLAN_S", "split the endpoints"]),
    ("plan-with-shard-start-lines-over-one-task",
     lambda c: set_in("services", 1, "endpoints", value=[{"path": "/a"}, {"path": "/b"}])(
         set_in("services", 1, "load", value={"duration_s": 3600, "shards": 2, "shard_start_timeout_s": 1000})(c)),
     [f"{RT}: load.duration_s", "2 endpoints x (3600 s + a shard start line of up to 1000 s) = 9200 s"]),
    ("error-rate-above-one", set_in("services", 1, "budget", value={"error_rate": 1.5}),
     [f"{RT}: budget.error_rate", "got 1.5", "between 0 and 1"]),
    ("p95-nan", set_in("services", 1, "budget", value={"p95_ms": float("nan")}),
     [f"{RT}: budget.p95_ms", "got NaN"]),
    ("verify-tls-string", set_in("services", 1, "verify_tls", value="yes"),
     [f"{RT}: verify_tls", 'got "yes"', "true or false"]),
    ("unknown-defaults-key", set_in("defaults", "loads", value={}),
     ["defaults", 'unknown key "loads"', "allowed keys: load, budget"]),
]


@pytest.mark.parametrize(("mutate", "fragments"), [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_with_a_precise_message(mutate, fragments):
    cfg = mutate(copy.deepcopy(base_config()))
    with pytest.raises(TargetsError) as info:
        parse_targets(cfg)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_base_config_is_valid():
    assert [s.name for s in parse_targets(base_config())] == ["registry", "runtime"]


def test_a_plan_at_the_cap_of_one_task_is_accepted():
    cfg = base_config()
    runtime(cfg)["endpoints"] = [{"path": "/a"}, {"path": "/b"}]
    runtime(cfg)["load"] = {"duration_s": 3600}  # 2 x 3600 s: MAX_SERVICE_PLAN_S exactly
    assert parse_targets(cfg)[1].load.duration_s == 3600
    runtime(cfg)["load"] = {"duration_s": 3600, "shards": 2}  # + 2 start lines of 300 s: over
    with pytest.raises(TargetsError, match="7800 s"):
        parse_targets(cfg)


@pytest.mark.parametrize("secret", ["hunter2", "s3cr3t"])
def test_secret_values_are_never_echoed(secret):
    configs = [
        set_in("services", 1, "base_url", value=f"https://admin:{secret}@localhost:8002")(base_config()),
        set_in("services", 1, "base_url", value=f"https://admin:{secret}@localhost:99999/a b")(base_config()),
        set_in(*EP0, "headers", value={"Cookie": f"sid={secret}"})(base_config()),
        set_in(*EP0, "headers", value={"X-Session-Token": secret})(base_config()),
    ]
    for cfg in configs:
        with pytest.raises(TargetsError) as info:
            parse_targets(cfg)
        assert secret not in str(info.value)
        assert "Airflow connection" in str(info.value)


def test_shipped_targets_are_the_reports_four_services():
    services = load_targets_file(SHIPPED)
    ports = {s.name: urlsplit(s.base_url).port for s in services}
    assert ports == {"registry": 8001, "runtime": 8002, "insight-engine": 8003, "predictive-engine": 8010}
    for service in services:
        assert urlsplit(service.base_url).hostname == "localhost"
        assert ("GET", "/healthz") in {(e.method, e.path) for e in service.endpoints}
        assert service.budget == Budget(p95_ms=800.0, error_rate=0.01)
        assert service.load.requests and service.load.concurrency <= service.load.requests


def rich_service() -> Service:
    cfg = {
        "services": [{
            "name": "shop",
            "base_url": "https://shop.example:8443/api/v2/",
            "verify_tls": False,
            "allow_state_changing_methods": True,
            "load": {"duration_s": 30, "requests": None, "concurrency": 4, "warmup": 0},
            "budget": {"p95_ms": 250},
            "endpoints": [
                {"path": "/healthz"},
                {"path": "/items?limit=10", "method": "post", "name": "create item",
                 "expected_status": [201, 200, 201], "headers": {"Content-Type": "application/json"},
                 "body": "{\"sku\": 1}", "budget": {"error_rate": 0.05}},
            ],
        }],
    }
    return parse_targets(cfg)[0]


@pytest.mark.parametrize("service", [*load_targets_file(SHIPPED), rich_service()], ids=lambda s: s.name)
def test_json_round_trip_through_xcom(service):
    wire = json.loads(json.dumps(service.model_dump(mode="json")))
    back = Service.model_validate(wire)
    assert back == service
    assert isinstance(back.endpoints, tuple) and isinstance(back.endpoints[0].expected_status, tuple)
    assert all(isinstance(pair, tuple) for endpoint in back.endpoints for pair in endpoint.headers)


def test_rich_service_normalisation():
    service = rich_service()
    assert service.base_url == "https://shop.example:8443/api/v2"
    assert service.load == LoadSettings(requests=None, duration_s=30.0, concurrency=4, warmup=0)
    item = service.endpoints[1]
    assert (item.method, item.name, item.expected_status) == ("POST", "create item", (201, 200))
    assert item.headers == (("Content-Type", "application/json"),)


def test_defaults_merge_service_over_defaults_endpoint_budget_kept():
    cfg = {
        "defaults": {"load": {"requests": 100, "concurrency": 8, "timeout_s": 3},
                     "budget": {"p95_ms": 700, "error_rate": 0.02}},
        "services": [
            {"name": "a", "base_url": "http://127.0.0.1:9001",
             "load": {"concurrency": 2, "duration_s": 5}, "budget": {"p95_ms": 300},
             "endpoints": [{"path": "/fast", "budget": {"p95_ms": 50}}, {"path": "/slow"}]},
            {"name": "b", "base_url": "http://127.0.0.1:9002", "endpoints": [{"path": "/"}]},
        ],
    }
    a, b = parse_targets(cfg)
    assert a.load == LoadSettings(requests=100, duration_s=5.0, concurrency=2, timeout_s=3.0)
    assert a.budget == Budget(p95_ms=300.0, error_rate=0.02)
    fast, slow = a.endpoints
    assert fast.budget == Budget(p95_ms=50.0, error_rate=0.02)
    assert a.budget_for(fast).p95_ms == 50.0 and a.budget_for(slow) == a.budget
    assert b.load == LoadSettings(requests=100, concurrency=8, timeout_s=3.0)
    assert b.budget == Budget(p95_ms=700.0, error_rate=0.02)
    assert b.endpoints == (Endpoint(path="/"),)


# --------------------------------------------------------------------------- load models (issue 4)


def open_loop_service() -> Service:
    cfg = {
        "defaults": {"load": {"model": "open", "rate": 500, "duration_s": 30, "concurrency": 200}},
        "services": [{
            "name": "shop", "base_url": "http://127.0.0.1:9001",
            "load": {"processes": 2},
            "endpoints": [{"path": "/cheap"}, {"path": "/costly", "max_rate": 50, "max_concurrency": 20}],
        }],
    }
    return parse_targets(cfg)[0]


def test_open_loop_processes_and_endpoint_caps_parse():
    service = open_loop_service()
    assert service.load == LoadSettings(model="open", rate=500.0, duration_s=30.0, concurrency=200, processes=2)
    cheap, costly = service.endpoints
    assert (cheap.max_rate, cheap.max_concurrency) == (None, None)
    assert (costly.max_rate, costly.max_concurrency) == (50.0, 20)


def test_open_loop_settings_round_trip_through_xcom():
    service = open_loop_service()
    back = Service.model_validate(json.loads(json.dumps(service.model_dump(mode="json"))))
    assert back == service
    assert back.load.rate == 500.0 and back.load.processes == 2 and back.endpoints[1].max_rate == 50.0


def test_a_service_can_go_back_to_the_closed_model():
    cfg = {
        "defaults": {"load": {"model": "open", "rate": 100, "duration_s": 5}},
        "services": [{"name": "a", "base_url": "http://127.0.0.1:9001", "endpoints": [{"path": "/"}],
                      "load": {"model": "closed", "rate": None, "duration_s": None, "requests": 50}}],
    }
    (a,) = parse_targets(cfg)
    assert (a.load.model, a.load.rate, a.load.requests) == ("closed", None, 50)


# --------------------------------------------------------------------------- the models as values


def test_models_are_built_from_keywords_like_the_engine_does_and_refuse_bad_values():
    endpoints = (Endpoint(path="/ok"), Endpoint(path="/x", method="post"))
    service = Service(name="svc", base_url="http://127.0.0.1:9/", endpoints=endpoints, load=LoadSettings(requests=5),
                      allow_state_changing_methods=True)
    assert (service.base_url, [e.name for e in service.endpoints]) == ("http://127.0.0.1:9", ["/ok", "POST /x"])
    with pytest.raises(TargetsError, match=r"^load\.concurrency: expected a positive integer, got 0$"):
        LoadSettings(concurrency=0)
    with pytest.raises(TargetsError, match=r"^service 'svc': endpoints: expected a non-empty list of endpoints"):
        Service(name="svc", base_url="http://127.0.0.1:9", endpoints=())
    with pytest.raises(TypeError):  # a positional value never competes with (or stands in for) a keyword
        Endpoint("/a", path="/b")


def test_revised_checks_every_rule_again_and_model_copy_does_not():
    [service] = parse_targets({"services": [{"name": "a", "base_url": "http://127.0.0.1:1",
                                            "endpoints": [{"path": "/x", "max_concurrency": 2}]}]})
    assert service.revised(load={**service.load.model_dump(), "requests": 7}).load.requests == 7
    with pytest.raises(TargetsError, match=r"service 'a': load.concurrency: 5000 exceeds the safety cap"):
        service.revised(load={**service.load.model_dump(), "concurrency": 5000})
    with pytest.raises(TargetsError, match=r"service 'a': endpoints\[0\].max_concurrency: 2 is below load.processes"):
        service.revised(load={**service.load.model_dump(), "processes": 4})


def test_a_tampered_dump_is_refused_naming_the_service_and_field():
    wire = rich_service().model_dump(mode="json")
    wire["endpoints"][1]["headers"] = [["Authorization", "Bearer canary-s3cr3t"]]
    with pytest.raises(TargetsError) as info:
        Service.model_validate(wire)
    assert str(info.value).startswith("service 'shop': endpoints[1].headers['Authorization']: header")
    assert "canary" not in str(info.value)
    wire = rich_service().model_dump(mode="json")
    wire["load"]["rate"] = 10
    with pytest.raises(TargetsError, match=r"^service 'shop': load.rate: 10.0 applies to the open model only"):
        Service.model_validate(wire)


def test_errors_carry_no_pydantic_error_with_the_input():
    cfg = set_in(*EP0, "headers", value={"X-Session-Token": "s3cr3t"})(base_config())
    with pytest.raises(TargetsError) as info:
        parse_targets(cfg)
    assert info.value.__cause__ is None and info.value.__context__ is None


# --------------------------------------------------------------------------- read-only by default (P-3)


def _writer(method: str, **service: object) -> dict:
    return {"services": [{"name": "shop", "base_url": "http://127.0.0.1:9", **service,
                          "endpoints": [{"path": "/healthz"}, {"path": "/orders", "method": method}]}]}


@pytest.mark.parametrize("method", ["POST", "put", "Patch", "DELETE"])
def test_a_state_changing_method_is_refused_without_the_services_opt_in(method):
    with pytest.raises(TargetsError) as info:
        parse_targets(_writer(method))
    upper = method.upper()
    assert str(info.value) == (
        f"services[0] 'shop': endpoints[1].method: endpoint \"{upper} /orders\": method {upper} changes state; "
        "benchmarks are read-only (GET, HEAD, OPTIONS) unless the service sets allow_state_changing_methods: true")
    with pytest.raises(TargetsError, match="allow_state_changing_methods"):
        parse_targets(_writer(method, allow_state_changing_methods=False))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_opt_in_allows_it_and_says_which_endpoints_write(method):
    [service] = parse_targets(_writer(method, allow_state_changing_methods=True))
    assert service.endpoints[1].method == method
    assert state_changing(service) == [f"{method} /orders"]
    assert Service.model_validate(service.model_dump(mode="json")) == service  # the opt-in survives XCom


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_read_only_methods_need_no_opt_in(method):
    [service] = parse_targets(_writer(method))
    assert state_changing(service) == [] and service.allow_state_changing_methods is False


def test_the_opt_in_is_strictly_a_boolean_and_named_endpoints_are_named():
    with pytest.raises(TargetsError, match="allow_state_changing_methods: expected true or false"):
        parse_targets(_writer("POST", allow_state_changing_methods="yes"))
    cfg = _writer("POST", allow_state_changing_methods=True)
    cfg["services"][0]["endpoints"][1]["name"] = "create order"
    assert state_changing(parse_targets(cfg)[0]) == ["POST create order"]
    with pytest.raises(TargetsError, match='endpoint "create order": method POST changes state'):
        parse_targets({"services": [{**cfg["services"][0], "allow_state_changing_methods": False}]})
