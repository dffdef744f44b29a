"""Request parts of a target: secrets in query strings, dot segments, control characters."""
from __future__ import annotations

import pytest

from perf_profiler.model.errors import TargetsError
from perf_profiler.model.http_values import secret_query_param
from perf_profiler.model.targets import parse_targets

SECRET = "s3cr3t-VALUE-42"


def config(path: str = "/x", base_url: str = "http://127.0.0.1:1/api") -> dict:
    return {"services": [{"name": "shop", "base_url": base_url, "endpoints": [{"path": path}]}]}


def refused(cfg: dict) -> str:
    with pytest.raises(TargetsError) as info:
        parse_targets(cfg)
    return str(info.value)


# --------------------------------------------------------------------------- secrets in query strings

@pytest.mark.parametrize(("query", "name"), [
    (f"access_token={SECRET}", "access_token"),
    (f"api_key={SECRET}", "api_key"),
    (f"apikey={SECRET}", "apikey"),
    (f"apiKey={SECRET}", "apiKey"),
    (f"limit=10&token={SECRET}", "token"),
    (f"X-Amz-Signature={SECRET}", "X-Amz-Signature"),
    (f"sig={SECRET}", "sig"),
    (f"password={SECRET}", "password"),
    (f"client_secret={SECRET}", "client_secret"),
    (f"key={SECRET}", "key"),
    (f"authToken={SECRET}", "authToken"),
    (f"access%5Ftoken={SECRET}", "access_token"),  # percent-encoded name: decoded before the check
    ("session_id=", "session_id"),  # even empty
])
def test_a_secret_looking_query_parameter_is_refused_naming_it_never_its_value(query, name):
    message = refused(config(f"/items?{query}"))
    assert f'query parameter "{name}" looks like a secret' in message
    assert "headers_conn_id" in message and "endpoints[0].path" in message
    assert SECRET not in message and "/items" not in message


def test_a_secret_in_the_base_urls_query_is_refused_without_echoing_it():
    message = refused(config(base_url=f"http://127.0.0.1:1/api?api_key={SECRET}"))
    assert 'base_url: query parameter "api_key" looks like a secret' in message and SECRET not in message


@pytest.mark.parametrize("query", ["limit=10", "author=me", "monkey=1", "keyword=x", "page=2&sort=asc", "q=token"])
def test_ordinary_query_parameters_pass(query):
    assert secret_query_param(query) is None
    [service] = parse_targets(config(f"/items?{query}"))
    assert service.endpoints[0].path == f"/items?{query}"


# --------------------------------------------------------------------------- dot segments

@pytest.mark.parametrize("path", [
    "/../admin", "/a/../../admin", "/a/..", "/./x", "/a/./b", "/%2e%2e/admin", "/%2E%2E/admin", "/.%2e/admin",
    "/%2e/x", "/a/..%2f..%2fadmin", "/a/..%5cadmin", "/..?x=1",
])
def test_dot_segments_that_could_leave_the_base_url_prefix_are_refused(path):
    message = refused(config(path))
    assert "endpoints[0].path: expected a path without '.' or '..' segments" in message


@pytest.mark.parametrize("path", ["/a..b", "/...", "/v1.2/x", "/.well-known/health", "/x?next=../y", "/a/b."])
def test_dots_inside_a_segment_are_kept(path):
    assert parse_targets(config(path))[0].endpoints[0].path == path


# --------------------------------------------------------------------------- control characters

@pytest.mark.parametrize("char", ["\n", "\x1b", "\x00", "\x7f", "\x85", "\x9b"])
def test_control_characters_are_refused_in_paths_urls_and_header_values(char):
    assert "endpoints[0].path" in refused(config(f"/a{char}b"))
    assert "base_url" in refused(config(base_url=f"http://127.0.0.1:1/a{char}b"))
    cfg = config()
    cfg["services"][0]["endpoints"][0]["headers"] = {"X-Trace": f"a{char}b"}
    assert "headers['X-Trace']: expected a string without control characters" in refused(cfg)


@pytest.mark.parametrize("conn_id", ["auth\n", "auth\x1b[2J", "a\u202eb", "auth\r\nX: y", "auth:x"])
def test_headers_conn_id_takes_no_control_or_odd_characters(conn_id):
    cfg = config()
    cfg["services"][0]["headers_conn_id"] = conn_id
    message = refused(cfg)
    assert "headers_conn_id: expected an Airflow connection id" in message and message.isprintable()


@pytest.mark.parametrize("tenant", ["team\n", "team\r", "team\x1b", "team\u2028", "\nteam"])
def test_the_tenant_pattern_matches_the_whole_string(tenant):
    from perf_profiler.model import params

    [service] = parse_targets(config())
    with pytest.raises(params.ParamsError, match=r"^param 'tenant': expected a tenant id"):
        params.apply([service], {}, {"tenant": tenant})
