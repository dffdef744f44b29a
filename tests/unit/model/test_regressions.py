"""The targets config's ``regressions`` block (issue 15, point 7): the detector's parameters at
defaults, service and endpoint level with the precedence of ``budget``; bounds with clear errors."""
from __future__ import annotations

import pytest

from perf_profiler.model.errors import TargetsError
from perf_profiler.model.regressions import Regressions
from perf_profiler.model.targets import TargetsConfig, parse_targets


def config(**service: object) -> dict:
    return {"version": 1, "services": [{"name": "api", "base_url": "http://127.0.0.1:9001",
                                        "endpoints": [{"path": "/a"}], **service}]}


def test_precedence_builtin_defaults_service_endpoint_key_by_key():
    cfg = {
        "defaults": {"regressions": {"p_value": 0.0001, "min_effect": 0.1}},
        "services": [
            {"name": "a", "base_url": "http://127.0.0.1:9001", "regressions": {"min_effect": 0.2, "confirm_runs": 4},
             "endpoints": [{"path": "/own", "regressions": {"min_error_rate_effect": 0.01}}, {"path": "/inherits"}]},
            {"name": "b", "base_url": "http://127.0.0.1:9002", "endpoints": [{"path": "/"}]},
        ],
    }
    a, b = parse_targets(cfg)
    own, inherits = a.endpoints
    assert a.regressions_for(own) == Regressions(p_value=0.0001, min_effect=0.2, confirm_runs=4,
                                                 min_error_rate_effect=0.01)
    assert a.regressions_for(inherits) == Regressions(p_value=0.0001, min_effect=0.2, confirm_runs=4)
    assert b.regressions_for(b.endpoints[0]) == Regressions(p_value=0.0001, min_effect=0.1)
    assert parse_targets(config())[0].regressions == Regressions(), "built-in defaults without a block"


def test_the_model_defaults_are_the_detectors():
    from perf_profiler.analysis.changepoints import DEFAULT

    assert Regressions().model_dump() == {name: getattr(DEFAULT, name) for name in Regressions.model_fields}


@pytest.mark.parametrize(("block", "words"), [
    ({"p_value": 0.5}, ["services[0] 'api': regressions.p_value", "got 0.5", "between 1e-09 and 0.1"]),
    ({"min_effect": 0}, ["services[0] 'api': regressions.min_effect", "got 0", "between 0.001 and 10"]),
    ({"confirm_runs": 1}, ["regressions.confirm_runs", "got 1", "integer between 2 and 30"]),
    ({"confirm_runs": 3.0}, ["regressions.confirm_runs", "expected an integer", "got 3.0"]),
    ({"min_history": 100}, ["regressions.min_history", "got 100", "between 5 and 60"]),
    ({"drift_runs": 1000}, ["regressions.drift_runs", "got 1000", "between 5 and 300"]),
    ({"min_error_rate_effect": 2}, ["regressions.min_error_rate_effect", "got 2", "between 0.0001 and 1"]),
    ({"min_error_rate_effect": "1%"}, ["regressions.min_error_rate_effect", 'got "1%"']),
    ({"window": 10}, ["services[0] 'api': regressions", 'unknown key "window"', "allowed keys: p_value"]),
])
def test_bad_values_name_the_service_the_field_and_the_value(block, words):
    with pytest.raises(TargetsError) as caught:
        parse_targets(config(regressions=block))
    for word in words:
        assert word in str(caught.value)


def test_an_endpoint_level_error_names_the_endpoint():
    cfg = config(endpoints=[{"path": "/a", "regressions": {"p_value": 0}}])
    with pytest.raises(TargetsError, match=r"services\[0\] 'api': endpoints\[0\]\.regressions\.p_value: .*got 0"):
        parse_targets(cfg)


def test_every_error_lists_each_bad_parameter():
    errors = TargetsConfig.every_error(config(regressions={"p_value": 1, "min_history": 0}))
    assert any("regressions.p_value" in e for e in errors) and any("regressions.min_history" in e for e in errors)
