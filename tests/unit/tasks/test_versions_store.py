"""The service's release on the stored rows (issue 15, point 5): store gives every row of a service the first
non-null version of its results (shards: by shard number), NULL when none was read; a backfill keeps it;
the Insight payload leaves it out while NULL (its bytes and idempotency key unchanged, as p75)."""
from __future__ import annotations

from changepoint_rows import START, row_with_p95
from metrics_rows import make_row
from perf_profiler.analysis.rederive import rederive_row
from perf_profiler.insight.payload import build_payload, idempotency_key
from perf_profiler.model.targets import Budget
from perf_profiler.tasks.persist import annotate_versions


def test_rows_get_the_first_non_null_version_of_their_service_by_shard_number():
    results = [
        {"service": "api", "shard": {"index": 2}, "service_version": "1.2.0"},
        {"service": "api", "shard": {"index": 0}, "service_version": None},  # this shard's read failed
        {"service": "api", "shard": {"index": 1}, "service_version": "1.1.9"},
        {"service": "web", "service_version": None},
        {"service": "db"},  # no version source
    ]
    rows = [{"service": s, "endpoint": e} for s, e in (("api", "/a"), ("api", "/b"), ("web", "/"), ("db", "/"))]
    annotate_versions(rows, results)
    assert [r["service_version"] for r in rows] == ["1.1.9", "1.1.9", None, None]


def test_a_backfill_keeps_the_stored_version():
    row = {**row_with_p95(120.0, START), "service_version": "2026.11.3"}
    rederived = rederive_row(row, Budget(p95_ms=100.0))
    assert (rederived["verdict"], rederived["origin"]) == ("fail", "rederived"), "re-judged against the new budget"
    assert rederived["service_version"] == "2026.11.3"


def test_the_payload_carries_the_version_only_when_there_is_one():
    with_version = make_row(service_version="1.4.2")
    without = make_row(service_version=None)
    assert build_payload(with_version)["metrics"]["service_version"] == "1.4.2"
    assert "service_version" not in build_payload(without)["metrics"]
    before_the_column = {k: v for k, v in without.items() if k != "service_version"}
    assert build_payload(without) == build_payload(before_the_column)
    assert idempotency_key(without) == idempotency_key(before_the_column), "older payloads keep their keys"
