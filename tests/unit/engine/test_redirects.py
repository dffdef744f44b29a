"""redirects: which redirect is followed, and what the next hop sends (pure; the servers are in
tests/integration/test_redirects.py). Also the ``redirects`` count in merged and old results."""
from __future__ import annotations

import pytest
from yarl import URL

from perf_profiler.engine.exchange import request_spec
from perf_profiler.engine.plan import Share, plan_endpoint
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.redirects import RedirectRefused, next_hop, redirect_policy, url_origin
from perf_profiler.engine.results import merge_entries, recorded_entry
from perf_profiler.model.secret_headers import with_secret_headers
from perf_profiler.model.targets import Endpoint, LoadSettings, Service

HOME = URL("http://api.example.com/v1/items")
KWARGS = {"allow_redirects": False, "headers": {"X-Plain": "p", "X-Signature": "s3cr3t-value", "Host": "api"},
          "data": b"{}"}


def _policy(**extra: object):
    service = Service.model_validate({"name": "svc", "base_url": "http://API.example.com:80/v1",
                                      "endpoints": [{"path": "/items"}], **extra})
    return redirect_policy(with_secret_headers(service, {"X-Signature": "s3cr3t-value"}))


@pytest.mark.parametrize("location", ["/other", "http://api.example.com:80/x", "//api.example.com/y", "z?q=1"])
def test_same_origin_keeps_every_header(location: str) -> None:
    hop = next_hop(_policy(), 0, "GET", HOME, 302, location, KWARGS)
    assert url_origin(hop.url) == "http://api.example.com"
    assert hop.kwargs["headers"] == KWARGS["headers"] and hop.method == "GET"


@pytest.mark.parametrize(("location", "origin"), [
    ("https://api.example.com/x", "https://api.example.com"), ("http://api.example.com:8080/x", "http://api.example.com:8080"),
    ("http://cdn.example.com/x?token=s3cr3t-value", "http://cdn.example.com"), ("//evil.example/x", "http://evil.example"),
])
def test_another_origin_is_refused_naming_only_the_origin(location: str, origin: str) -> None:
    with pytest.raises(RedirectRefused) as info:
        next_hop(_policy(), 0, "GET", HOME, 302, location, KWARGS)
    message = str(info.value)
    assert message.startswith(f"cross-origin redirect to {origin} refused")
    assert "s3cr3t" not in message and "/x" not in message and "http://api.example.com;" in message


def test_an_allowed_origin_gets_the_plain_headers_only() -> None:
    policy = _policy(redirect_origins=["https://cdn.example.com"])
    hop = next_hop(policy, 0, "GET", HOME, 307, "https://CDN.example.com:443/a", KWARGS)
    assert hop.kwargs["headers"] == {"X-Plain": "p"}, "secret headers and Host stay home"
    assert hop.kwargs["data"] == b"{}"
    with pytest.raises(RedirectRefused):  # the same host over http is another origin
        next_hop(policy, 0, "GET", HOME, 302, "http://cdn.example.com/a", KWARGS)


def test_hops_locations_and_schemes() -> None:
    policy = _policy()
    next_hop(policy, 9, "GET", HOME, 302, "/a", KWARGS)  # the 10th redirect is followed
    with pytest.raises(RedirectRefused, match="more than 10 redirects"):
        next_hop(policy, 10, "GET", HOME, 302, "/a", KWARGS)
    with pytest.raises(RedirectRefused, match="without a Location"):
        next_hop(policy, 0, "GET", HOME, 302, None, KWARGS)
    with pytest.raises(RedirectRefused, match="non-http"):
        next_hop(policy, 0, "GET", HOME, 302, "ftp://api.example.com/a", KWARGS)


@pytest.mark.parametrize(("status", "method", "expected"), [
    (303, "POST", "GET"), (303, "DELETE", "GET"), (303, "HEAD", "HEAD"), (301, "POST", "GET"), (302, "POST", "GET"),
    (302, "PUT", "PUT"), (307, "POST", "POST"), (308, "PATCH", "PATCH"),
])
def test_the_method_rules(status: int, method: str, expected: str) -> None:
    kwargs = {"headers": {"Content-Type": "application/json", "X-Plain": "p"}, "data": b"{}"}
    hop = next_hop(_policy(), 0, method, HOME, status, "/next", kwargs)
    assert hop.method == expected
    assert ("data" in hop.kwargs) == (expected == method)
    assert ("Content-Type" in hop.kwargs["headers"]) == (expected == method)


def test_redirects_are_counted_summed_and_absent_reads_as_zero() -> None:
    load = LoadSettings(requests=4, concurrency=2, processes=2, warmup=0)
    endpoint = Endpoint(path="/x")
    parts = []
    for index in range(2):
        recorder = EndpointRecorder()
        recorder.ok, recorder.redirects, recorder.scheduled = 2, 3 + index, 2
        recorder.latency.add(1000)
        recorder.latency.add(1000)
        plan = plan_endpoint(load, endpoint, Share(index, 2))
        parts.append(recorded_entry(endpoint, request_spec("http://h", endpoint, load), plan, recorder, 1.0, 2.0))
    assert [p["redirects"] for p in parts] == [3, 4]
    assert merge_entries(parts)["redirects"] == 7
    old = {k: v for k, v in parts[0].items() if k != "redirects"}
    assert merge_entries([old, parts[1]])["redirects"] == 4  # type: ignore[list-item]
