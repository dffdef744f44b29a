"""The trigger form's params: limits equal the engine's caps, and a run's conf is applied safely."""
from __future__ import annotations

import pytest

from perf_profiler.model import params
from perf_profiler.model import targets


def services(model: str = "closed") -> list[targets.Service]:
    load = {"model": "open", "rate": 50, "duration_s": 5} if model == "open" else {}
    return targets.parse_targets({"services": [
        {"name": "a", "base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/x", "budget": {"p95_ms": 300}}],
         "load": load},
        {"name": "b", "base_url": "http://127.0.0.1:2", "endpoints": [{"path": "/y"}]},
    ]})


def test_schema_limits_are_the_engine_safety_caps():
    schemas = params.param_schemas(["a", "b"])
    assert schemas["requests"]["maximum"] == targets.MAX_REQUESTS
    assert schemas["concurrency"]["maximum"] == targets.MAX_CONCURRENCY
    assert schemas["rate"]["maximum"] == targets.MAX_RATE
    assert schemas["duration_s"]["maximum"] == targets.MAX_DURATION_S
    assert schemas["services"]["default"] == ["a", "b"]
    assert {s["section"] for s in schemas.values()} == {"Targets", "Load", "Budget"}


def test_form_offers_the_versioned_files_services():
    assert params.configured_service_names() == ["registry", "runtime", "insight-engine", "predictive-engine"]


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


@pytest.mark.parametrize("conf, message", [
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
