"""model.strict's every_error: all of a config's errors at once (``perf-profiler validate``)."""
from __future__ import annotations

from perf_profiler.model.targets import TargetsConfig


def test_every_error_is_listed_once_with_its_location() -> None:
    errors = TargetsConfig.every_error({"services": [
        {"name": "a", "base_url": "ftp://h", "endpoints": [{"path": "x"}], "load": {"concurrency": 0}},
        {"name": "b"},
    ]})
    assert [e.split(":")[0] + ":" + e.split(":")[1] for e in errors] == [
        "services[0] 'a': base_url", "services[0] 'a': load.concurrency", "services[0] 'a': endpoints[0].path",
        "services[1] 'b': missing required key 'base_url'", "services[1] 'b': missing required key 'endpoints'",
    ]
    assert not any("non-empty list" in e for e in errors)  # a list refused for its items' errors: left out


def test_a_valid_config_has_none_and_the_first_error_is_what_model_validate_raises() -> None:
    assert TargetsConfig.every_error({"services": [{"name": "a", "base_url": "http://h",
                                                    "endpoints": [{"path": "/"}]}]}) == []
    assert TargetsConfig.every_error({"services": 1}) == [
        "services: expected a non-empty list of services, got 1"]
