"""The trigger form's params: limits equal the engine's caps, and a run's conf is applied safely."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from perf_profiler.model import caps, params, targets

SHIPPED = Path(__file__).resolve().parents[3] / "dags" / "config" / "targets.json"


def services(model: str = "closed") -> list[targets.Service]:
    load = {"model": "open", "rate": 50, "duration_s": 5} if model == "open" else {}
    return targets.parse_targets({"services": [
        {"name": "a", "base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/x", "budget": {"p95_ms": 300}}],
         "load": load},
        {"name": "b", "base_url": "http://127.0.0.1:2", "endpoints": [{"path": "/y"}]},
    ]})


def test_schema_limits_are_the_engine_safety_caps():
    schemas = params.param_schemas(["a", "b"])
    assert schemas["requests"]["maximum"] == caps.MAX_REQUESTS
    assert schemas["concurrency"]["maximum"] == caps.MAX_CONCURRENCY
    assert schemas["rate"]["maximum"] == caps.MAX_RATE
    assert schemas["duration_s"]["maximum"] == caps.MAX_DURATION_S
    assert schemas["services"]["default"] == ["a", "b"]
    assert {s["section"] for s in schemas.values()} == {"Targets", "Load", "Budget"}


def test_form_offers_the_versioned_files_services():
    assert params.configured_service_names(SHIPPED) == ["registry", "runtime", "insight-engine", "predictive-engine"]


def test_apply_selects_services_and_overrides_load_and_budget():
    chosen, options = params.apply(services(), {}, {"services": ["a"], "requests": 9, "budget_p95_ms": 120,
                                                    "tenant": "team-x", "fail_on_violation": False})
    [a] = chosen
    assert a.name == "a" and a.load.requests == 9
    assert a.budget.p95_ms == 120 and a.endpoints[0].budget.p95_ms == 120
    assert options == params.RunOptions(tenant="team-x", fail_on_violation=False)


def test_no_services_param_means_all_configured():
    chosen, options = params.apply(services(), {}, {})
    assert [s.name for s in chosen] == ["a", "b"] and options.fail_on_violation is True


def test_closed_override_clears_a_configured_rate_and_refuses_one_given():
    [a, _] = params.apply(services("open"), {}, {"load_model": "closed", "requests": 5})[0]
    assert a.load.model == "closed" and a.load.rate is None and a.load.requests == 5
    with pytest.raises(params.ParamsError, match="param 'rate'"):
        params.apply(services("open"), {}, {"load_model": "closed", "rate": 10})


@pytest.mark.parametrize(("conf", "message"), [
    ({"services": []}, "param 'services'"),
    ({"services": "a"}, "param 'services'"),
    ({"services": ["http://evil.example/"]}, "unknown service"),
    ({"requests": True}, "param 'requests': expected an integer"),
    ({"requests": 1.5}, "param 'requests': expected an integer"),
    ({"concurrency": -1}, "param 'concurrency'"),
    ({"rate": 0}, "param 'rate'"),
    ({"duration_s": 10**9}, "param 'duration_s'"),
    ({"warmup": -1}, "param 'warmup'"),
    ({"budget_p95_ms": 0}, "param 'budget_p95_ms'"),
    ({"tenant": "x'); DROP TABLE perf_metrics;--"}, "param 'tenant'"),
    ({"fail_on_violation": "yes"}, "param 'fail_on_violation'"),
    ({"load_model": "burst"}, "param 'load_model'"),
    ({"extra": 1}, "param 'extra': unknown param"),
])
def test_bad_conf_is_refused_naming_the_param(conf, message):
    with pytest.raises(params.ParamsError, match=message):
        params.apply(services(), {}, conf)


def _two_processes() -> list[targets.Service]:
    return targets.parse_targets({"services": [
        {"name": "a", "base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/x"}],
         "load": {"processes": 2, "concurrency": 4}}]})


@pytest.mark.parametrize(("conf", "prefix"), [
    ({"concurrency": 1}, "param 'concurrency': service 'a': load.processes: 2 exceeds load.concurrency (1)"),
    ({"requests": 1}, "param 'requests': service 'a': load.processes: 2 exceeds load.requests (1)"),
    ({"concurrency": 1, "budget_p95_ms": 100}, "params 'concurrency', 'budget_p95_ms': service 'a'"),
    ({"load_model": "open"}, "param 'load_model': service 'a': load.rate: the open model needs a rate"),
    ({"load_model": "open", "rate": 5}, "params 'load_model', 'rate': service 'a': load.duration_s"),
])
def test_a_param_that_breaks_a_target_rule_is_named_by_its_own_name(conf, prefix):
    with pytest.raises(params.ParamsError) as info:
        params.apply(_two_processes(), {}, conf)
    assert str(info.value).startswith(prefix), str(info.value)
    assert "params []" not in str(info.value) and "params [" not in str(info.value)


def test_the_form_offers_a_name_once_whatever_its_unicode_spelling(tmp_path):
    from airflow.sdk.definitions.param import ParamsDict

    odd = tmp_path / "targets.json"
    odd.write_text(json.dumps({"services": [{"name": "Caf\u00e9"}, {"name": "Cafe\u0301"}, {"name": "a\u001b[2Jb"}]}))
    assert ParamsDict(params.form_params(odd)).validate()["services"] == ["Caf\u00e9"]


# --------------------------------------------------------------------------- one schema for form and model


def _walk(schema):
    yield schema
    for value in schema.values():
        if isinstance(value, dict):
            yield from _walk(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _walk(item)


def test_form_schema_has_no_anyof_and_every_number_keeps_its_limits():
    from perf_profiler.model.fields import number_spec

    schemas = params.param_schemas(["a", "b"])
    assert not [s for schema in schemas.values() for s in _walk(schema) if "anyOf" in s or "oneOf" in s]
    numeric = {key: s for key, s in schemas.items() if {"integer", "number"} & set(s["type"])}
    assert set(numeric) == {"requests", "concurrency", "rate", "duration_s", "warmup", "shards", "budget_p95_ms"}
    for key, schema in numeric.items():
        spec = number_spec(params.RunParams.model_fields[key].rebuild_annotation())
        assert schema["type"] == ["integer" if spec.integer else "number", "null"], key
        assert schema["maximum"] == spec.cap.value, key
        assert schema.get("exclusiveMinimum" if spec.exclusive else "minimum") == spec.minimum, key
    assert schemas["warmup"]["minimum"] == 0 and schemas["concurrency"]["minimum"] == 1
    assert schemas["budget_p95_ms"]["maximum"] == caps.MAX_P95_MS


def test_form_params_validate_as_airflow_does_at_parse_time(tmp_path):
    from airflow.sdk.definitions.param import ParamsDict

    assert ParamsDict(params.form_params(SHIPPED)).validate()["services"] == [
        "registry", "runtime", "insight-engine", "predictive-engine"]
    odd = tmp_path / "targets.json"
    odd.write_text('{"services": [{"name": " padded"}, {"name": "fine"}, {"name": "fine"}]}')
    assert ParamsDict(params.form_params(odd)).validate()["services"] == ["fine"]
    assert ParamsDict(params.form_params(tmp_path / "missing.json")).validate()["services"] is None


# A value must get the same verdict from pydantic (the model), from Airflow's Param validation
# (jsonschema, Python re) and from JavaScript (the browser): no "$" that Python reads differently.
VERDICTS = [
    ("tenant", "team-a", True), ("tenant", "team\n", False), ("tenant", "\nteam", False), ("tenant", "-x", False),
    ("tenant", "a" * 63, True), ("tenant", "a" * 64, False), ("tenant", "x y", False), ("tenant", "ü", False),
    ("tenant", "", False), ("tenant", "a.b_c-D9", True),
    ("services", ["a"], True), ("services", ["a\n"], False), ("services", [" a"], False),
    ("services", ["a\u3000"], False),
    ("services", ["x'); DROP TABLE t;--"], True), ("services", ["a", "a"], False), ("services", [], False),
    ("services", ["s" * 100], True), ("services", ["s" * 101], False),
    ("services", ["a\x1b[31mb"], False), ("services", ["a\x9bb"], False), ("services", ["a\x7fb"], False),
    ("services", ["a\u202eb"], False), ("services", ["a\u2028b"], False), ("services", ["a\tb"], False),
    ("services", ["a:b"], True), ("services", ["caf\u00e9 \U0001f600"], True),
]


def _pydantic_accepts(key, value):
    from pydantic import ValidationError

    try:
        params.RunParams.model_validate({key: value})
        return True
    except ValidationError:
        return False


def _airflow_accepts(key, value):
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamValidationError

    try:
        Param(**params.param_schemas(["a"])[key]).resolve(value)
        return True
    except ParamValidationError:
        return False


def test_a_value_gets_the_same_verdict_from_pydantic_and_airflow():
    for key, value, ok in VERDICTS:
        assert (_pydantic_accepts(key, value), _airflow_accepts(key, value)) == (ok, ok), (key, value)


JS_CHECK = r"""
const {schemas, cases} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const str = (s, v, flags) => (s.minLength === undefined || v.length >= s.minLength)
  && (s.maxLength === undefined || v.length <= s.maxLength)
  && (s.pattern === undefined || new RegExp(s.pattern, flags).test(v))
  && (s.not === undefined || !new RegExp(s.not.pattern, flags).test(v));
const ok = (s, v, flags) => Array.isArray(v)
  ? v.length >= s.minItems && new Set(v).size === v.length && v.every(i => str(s.items, i, flags))
  : str(s, v, flags);
console.log(JSON.stringify(cases.map(([k, v]) => [ok(schemas[k], v, ""), ok(schemas[k], v, "u")])));
"""


def test_a_value_gets_the_same_verdict_from_javascript():
    import json
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser's regex engine cannot be run here")
    payload = json.dumps({"schemas": params.param_schemas(["a"]), "cases": [[k, v] for k, v, _ in VERDICTS]})
    done = subprocess.run([node, "-e", JS_CHECK], input=payload, capture_output=True, text=True, check=True)
    for (key, value, ok), verdict in zip(VERDICTS, json.loads(done.stdout), strict=True):
        assert verdict == [ok, ok], (key, value)
