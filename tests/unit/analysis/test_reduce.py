"""metrics: benchmark results built from known samples reduce to the right summaries."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from perf_profiler.analysis import histogram as H
from perf_profiler.analysis.reduce import EndpointSummary, summarize_endpoint, summarize_results
from perf_profiler.model.columns import DERIVED_COLUMNS

ERROR_CLASSES = ("status", "timeout", "connect", "dns", "tls", "protocol", "body_too_large",
                 "redirect", "client")
T0 = 1_764_130_000.0
HALF_BUCKET = 1 / 2048


def encoded(samples_us: np.ndarray | list[int]) -> str:
    h = H.new_histogram()
    H.record_many(h, samples_us)
    return H.encode(h)


def make_part(
    ok_us: np.ndarray,
    *,
    endpoint: str = "/healthz",
    method: str = "GET",
    started_at: float = T0,
    finished_at: float = T0 + 10.0,
    errors: dict[str, int] | None = None,
    error_us: list[int] | None = None,
) -> dict[str, Any]:
    """One endpoint entry as probe returns it (CONTRACTS.md), built from known samples."""
    by_class = dict.fromkeys(ERROR_CLASSES, 0)
    by_class.update(errors or {})
    status_codes = {"200": int(ok_us.size)}
    if by_class["status"]:
        status_codes["500"] = by_class["status"]
    return {
        "endpoint": endpoint,
        "method": method,
        "path": endpoint,
        "started_at": started_at,
        "finished_at": finished_at,
        "requests": int(ok_us.size) + sum(by_class.values()),
        "ok": int(ok_us.size),
        "errors": by_class,
        "status_codes": status_codes,
        "latency_hist": encoded(ok_us),
        "error_hist": encoded(error_us or []),
    }


def make_result(service: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "service": service,
        "base_url": "http://127.0.0.1:8001",
        "load": {"model": "closed", "requests": 200, "concurrency": 10},
        "started_at": min(p["started_at"] for p in parts),
        "finished_at": max(p["finished_at"] for p in parts),
        "endpoints": list(parts),
    }


def lognormal_us(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.rint(rng.lognormal(np.log(20_000), 0.9, n)).astype(np.int64)


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return lognormal_us(20_000, seed=42)


def test_counts_rates_and_percentiles_of_one_part(samples):
    part = make_part(samples, errors={"status": 150, "timeout": 50}, error_us=[5_000_000] * 200,
                     finished_at=T0 + 8.0)
    s = summarize_endpoint("registry", "/healthz", [part])
    assert (s.service, s.endpoint, s.method) == ("registry", "/healthz", "GET")
    assert (s.requests, s.ok_count, s.error_count) == (20_200, 20_000, 200)
    assert s.errors_by_class["status"] == 150 and s.errors_by_class["timeout"] == 50
    assert set(s.errors_by_class) == set(ERROR_CLASSES)
    assert s.status_codes == {"200": 20_000, "500": 150}
    assert s.error_rate == pytest.approx(200 / 20_200)
    assert s.wall_s == pytest.approx(8.0)
    assert s.throughput == pytest.approx(20_000 / 8.0)
    latency = [c for c in DERIVED_COLUMNS if c.derived and c.derived.histogram == "latency" and c.derived.percentile]
    assert {c.name for c in latency} >= {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms"}
    for column in latency:
        p = column.derived.percentile
        want = np.percentile(samples, p, method="inverted_cdf") / 1000.0
        assert abs(getattr(s, column.name) - want) <= want * HALF_BUCKET, p
    assert s.max_ms == pytest.approx(samples.max() / 1000.0, rel=HALF_BUCKET)
    # failures do not leak into the latency percentiles, they live in the error histogram
    assert s.max_ms < 5_000
    assert H.summarize(H.decode(s.error_hist)).count == 200
    assert H.summarize(H.decode(s.latency_hist)).count == 20_000


def test_parts_of_one_endpoint_merge_like_a_single_probe(samples):
    first, second = samples[:7_000], samples[7_000:]
    parts = [
        make_part(first, errors={"connect": 3}, started_at=T0, finished_at=T0 + 4.0,
                  error_us=[900, 1200, 3000]),
        make_part(second, errors={"connect": 1, "status": 4}, started_at=T0 + 5.0,
                  finished_at=T0 + 12.5, error_us=[700, 800, 900, 1000, 1100]),
    ]
    whole = make_part(samples, errors={"connect": 4, "status": 4}, started_at=T0,
                      finished_at=T0 + 12.5, error_us=[900, 1200, 3000, 700, 800, 900, 1000, 1100])
    merged = summarize_endpoint("registry", "/healthz", parts)
    single = summarize_endpoint("registry", "/healthz", [whole])
    assert merged == single
    assert merged.to_dict() == single.to_dict()
    assert merged.wall_s == pytest.approx(12.5)
    assert merged.throughput == pytest.approx(20_000 / 12.5)
    assert merged.error_rate == pytest.approx(8 / 20_008)


def test_summarize_results_groups_by_service_and_endpoint_and_sorts():
    a, b, c = lognormal_us(500, 1), lognormal_us(300, 2), lognormal_us(200, 3)
    results = [
        make_result("search", make_part(a, endpoint="/q"), make_part(b, endpoint="/healthz")),
        make_result("auth", make_part(c, endpoint="POST /login", method="POST")),
        make_result("search", make_part(c, endpoint="/q", started_at=T0 + 20, finished_at=T0 + 30)),
    ]
    summaries = summarize_results(results)
    keys = [(s.service, s.endpoint) for s in summaries]
    assert keys == [("auth", "POST /login"), ("search", "/healthz"), ("search", "/q")]
    q = summaries[2]
    assert q.ok_count == 700 and q.requests == 700
    assert q.wall_s == pytest.approx(30.0)
    assert q.p95_ms == pytest.approx(
        np.percentile(np.concatenate([a, c]), 95, method="inverted_cdf") / 1000.0, rel=HALF_BUCKET
    )
    assert summaries[0].method == "POST"
    assert summarize_results(reversed(results)) == summaries


def test_endpoint_without_requests_has_zero_rates():
    empty = make_part(np.array([], dtype=np.int64), started_at=T0, finished_at=T0)
    s = summarize_endpoint("registry", "/healthz", [empty])
    assert (s.requests, s.ok_count, s.error_count) == (0, 0, 0)
    assert s.error_rate == 0.0 and s.throughput == 0.0
    assert (s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms) == (0.0, 0.0, 0.0, 0.0)


def test_only_errors_gives_error_rate_one():
    no_ok = np.array([], dtype=np.int64)
    part = make_part(no_ok, errors={"timeout": 10}, error_us=[5_000_000] * 10)
    s = summarize_endpoint("registry", "/healthz", [part])
    assert s.error_rate == 1.0 and s.throughput == 0.0 and s.p95_ms == 0.0


def test_to_dict_is_json_serialisable(samples):
    s = summarize_endpoint("registry", "/healthz", [make_part(samples[:100])])
    d = s.to_dict()
    assert set(d) == set(EndpointSummary.__dataclass_fields__) - {"derived"} | {c.name for c in DERIVED_COLUMNS}
    assert {"p50_ms", "p999_ms", "mean_ms", "lag_p99_ms", "service_p95_ms"} <= set(d)
    assert json.loads(json.dumps(d)) == d


def test_part_of_another_endpoint_raises_naming_it(samples):
    parts = [make_part(samples[:10]), make_part(samples[10:20], endpoint="/metrics")]
    with pytest.raises(ValueError, match="'/metrics'"):
        summarize_endpoint("registry", "/healthz", parts)


def test_part_of_another_service_raises_naming_it(samples):
    part = {**make_part(samples[:10]), "service": "billing"}
    with pytest.raises(ValueError, match="'billing'"):
        summarize_endpoint("registry", "/healthz", [part])


def test_inconsistent_counts_raise(samples):
    part = {**make_part(samples[:10]), "requests": 11}
    with pytest.raises(ValueError, match="requests"):
        summarize_endpoint("registry", "/healthz", [part])


def test_missing_fields_and_no_parts_raise(samples):
    part = make_part(samples[:10])
    del part["latency_hist"]
    with pytest.raises(ValueError, match="latency_hist"):
        summarize_endpoint("registry", "/healthz", [part])
    with pytest.raises(ValueError, match="no results"):
        summarize_endpoint("registry", "/healthz", [])
    with pytest.raises(ValueError, match="service"):
        summarize_results([{"endpoints": []}])


def test_mixed_methods_for_one_endpoint_raise(samples):
    parts = [make_part(samples[:10]), make_part(samples[10:20], method="POST")]
    with pytest.raises(ValueError, match="methods"):
        summarize_endpoint("registry", "/healthz", parts)
