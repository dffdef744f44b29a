"""A service's ``version`` source in the targets config (issue 15, point 5): a header name or a same-origin
path (with an optional JSON field), validated strictly, errors naming the service, the field and the value."""
from __future__ import annotations

import pytest

from perf_profiler.model.errors import TargetsError
from perf_profiler.model.targets import parse_targets
from perf_profiler.model.version_source import VersionSource


def config(version: object) -> dict:
    return {"version": 1, "services": [{"name": "api", "base_url": "http://127.0.0.1:9001",
                                        "endpoints": [{"path": "/a"}], "version": version}]}


def test_the_three_forms_and_none():
    assert parse_targets(config({"header": "X-Version"}))[0].version == VersionSource(header="X-Version")
    assert parse_targets(config({"path": "/version"}))[0].version == VersionSource(path="/version")
    assert parse_targets(config({"path": "/info", "json_field": "build.version"}))[0].version == VersionSource(
        path="/info", json_field="build.version")
    assert parse_targets(config(None))[0].version is None


def test_a_service_round_trips_through_xcom_with_its_source():
    from perf_profiler.model.targets import Service

    [service] = parse_targets(config({"path": "/v", "json_field": "v"}))
    assert Service.model_validate(service.model_dump(mode="json")) == service


@pytest.mark.parametrize(("version", "words"), [
    ({}, ["services[0] 'api': version: set exactly one of version.header", "got {}"]),
    ({"header": "X-V", "path": "/v"}, ["set exactly one of", '"header": "X-V"']),
    ({"header": "X Version"}, ["services[0] 'api': version.header", "RFC 9110 token", 'got "X Version"']),
    ({"header": "X-Api-Key"}, ["version.header", "looks like a secret"]),
    ({"header": ""}, ["version.header", 'got ""']),
    ({"path": "version"}, ["services[0] 'api': version.path", 'got "version"']),
    ({"path": "/v?token=abc"}, ["version.path", "looks like a secret"]),
    ({"path": "/../admin"}, ["version.path", "'..' segments"]),
    ({"header": "X-V", "json_field": "v"}, ["version.json_field", "applies to a version.path body only"]),
    ({"path": "/v", "json_field": "a b"}, ["version.json_field", "top-level JSON key", 'got "a b"']),
    ({"url": "http://x/v"}, ["services[0] 'api': version", 'unknown key "url"']),
    ("X-Version", ["services[0] 'api': version", 'got "X-Version"']),
])
def test_bad_sources_name_the_service_the_field_and_the_value(version, words):
    with pytest.raises(TargetsError) as caught:
        parse_targets(config(version))
    for word in words:
        assert word in str(caught.value), str(caught.value)
