"""runner: run_probe's result is the JSON contract (model.result), endpoints run in turn, bad settings are refused."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from perf_profiler.model.result import BenchmarkResult, EndpointResult
from perf_profiler.model.targets import Endpoint, LoadSettings
from servers import BenchServer

pytestmark = pytest.mark.timeout(60)

Probe = Callable[..., BenchmarkResult]


def test_endpoints_run_one_after_another_with_their_method_headers_and_body(server: BenchServer, probe: Probe) -> None:
    result = probe(
        server.url,
        Endpoint(path="/delay/20"),
        Endpoint(path="/echo", method="POST", headers=(("X-Probe", "yes"),), body='{"ping": 1}'),
        requests=12, concurrency=4, allow_writes=True,
    )
    slow, echo = result["endpoints"]
    assert slow["finished_at"] <= echo["started_at"]
    assert (slow["endpoint"], echo["endpoint"], echo["method"]) == ("/delay/20", "POST /echo", "POST")
    assert server.stats.hits["/echo"] == 12 and echo["ok"] == 12
    seen = server.stats.last_request
    assert (seen.method, seen.headers.get("X-Probe"), seen.body) == ("POST", "yes", b'{"ping": 1}')
    assert server.stats.max_in_flight <= 4


# --------------------------------------------------------------------------- result shape
@pytest.mark.parametrize("use_uvloop", [True, False])
def test_result_is_the_json_contract(server: BenchServer, probe: Probe, use_uvloop: bool) -> None:
    result = probe(server.url, Endpoint(path="/ok"), requests=10, use_uvloop=use_uvloop)
    assert json.loads(json.dumps(result)) == result
    assert result["service"] == "svc" and result["base_url"] == server.url
    assert result["load"] == LoadSettings(requests=10, concurrency=4, warmup=0).model_dump()
    (ep,) = result["endpoints"]
    assert {"endpoint", "method", "path", "started_at", "finished_at", "requests", "ok", "errors",
            "status_codes", "latency_hist", "error_hist"} <= set(ep)
    # a fresh result has exactly the keys of its typed contract, the optional ones included
    # (but ``interrupted``, set only on a stopped probe of on_cancel="partial", a shard's ``shard``, and
    # ``service_version``, which the benchmark task adds: the engine does not read versions)
    situational = {"interrupted", "shard", "service_version"}
    assert set(result) == BenchmarkResult.__required_keys__ | BenchmarkResult.__optional_keys__ - situational
    assert set(ep) == EndpointResult.__required_keys__ | EndpointResult.__optional_keys__
    assert result["started_at"] <= ep["started_at"] <= ep["finished_at"] <= result["finished_at"]
    assert ep["status_codes"] == {"200": 10}


def test_result_size_does_not_grow_with_requests(server: BenchServer, probe: Probe) -> None:
    result = probe(server.url, Endpoint(path="/ok"), requests=2000, concurrency=8)
    assert result["endpoints"][0]["ok"] == 2000
    # histograms grow with the number of distinct buckets hit, not with N (2000 raw samples >= 10 KB)
    assert len(json.dumps(result)) < 8000


@pytest.mark.parametrize(
    ("load", "message"),
    [({"concurrency": 0}, "concurrency"), ({"requests": None}, "requests"), ({"model": "open"}, "model")],
)
def test_settings_the_engine_cannot_run_cannot_even_be_built(probe: Probe, load: dict[str, Any], message: str) -> None:
    """The engine trusts its LoadSettings: a load it could not run is refused by the model itself."""
    with pytest.raises(ValueError, match=message):
        probe("http://127.0.0.1:9", Endpoint(path="/ok"), **load)
