"""store with shards: an exact merge into one row, and a service with a missing shard left out."""
from __future__ import annotations

import json

import pytest

from perf_profiler.analysis import histogram
from perf_profiler.model.identity import RunIdentity
from perf_profiler.tasks import measure, persist, plan, verdict
from servers import BenchServer

IDENTITY = RunIdentity(dag_id="perf_profiler", run_id="manual__shards", run_type="manual")


def _plan(url: str) -> dict:
    config = {"services": [
        {"name": "api", "base_url": url, "endpoints": [{"path": "/delay/2"}],
         "load": {"requests": 41, "concurrency": 4, "warmup": 0, "shards": 2}},
        {"name": "web", "base_url": url, "endpoints": [{"path": "/ok"}],
         "load": {"requests": 10, "concurrency": 2, "warmup": 0}},
    ]}
    return plan.load_targets(json.dumps(config))


def test_shards_merge_exactly_into_one_row_flagged_when_they_had_no_start_line(metrics_db):
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics

    with BenchServer() as server:
        run_plan = _plan(server.url)
        results = [measure.benchmark(item) for item in run_plan["to_probe"]]
        hits = server.stats.total_hits
    api = [r for r in results if r["service"] == "api"]
    assert [r["shard"]["label"] for r in api] == ["api[1/2]", "api[2/2]"]
    assert [r["endpoints"][0]["requests"] for r in api] == [21, 20], "the shards split the 41 requests"

    stored = persist.store_metrics(results, run_plan, IDENTITY)
    rows = {r["service"]: r for r in fetch_metrics(get_hook("perf_metrics_db"))}

    assert stored["incomplete"] == {} and stored["rows"] == 2
    row = rows["api"]
    assert row["requests"] == 41 and hits == 41 + 10
    merged = histogram.merge(r["endpoints"][0]["latency_hist"] for r in api)
    assert merged.get_total_count() == 41
    assert float(row["p95_ms"]) == pytest.approx(histogram.summarize(merged).p95_ms, abs=0.006)
    record = json.loads(row["shards"])
    assert [s["shard"] for s in record["shards"]] == ["api[1/2]", "api[2/2]"]
    assert [s["requests"] for s in record["shards"]] == [21, 20]
    # probed one after another, without the database's start line: stored, but never as concurrent
    assert row["shards_not_concurrent"] is True
    assert any("had no start line" in reason for reason in record["not_concurrent"])
    assert rows["web"]["shards"] is None and rows["web"]["shards_not_concurrent"] is False


def test_a_service_with_a_missing_shard_gets_no_row_the_others_are_stored_and_the_gate_fails(metrics_db):
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics

    with BenchServer() as server:
        run_plan = _plan(server.url)
        items = run_plan["to_probe"]
        results = [measure.benchmark(items[0]), measure.benchmark(items[2])]  # api[2/2] failed

    stored = persist.store_metrics(results, run_plan, IDENTITY)

    rows = fetch_metrics(get_hook("perf_metrics_db"))
    assert [r["service"] for r in rows] == ["web"], "no partial row for api"
    assert stored["incomplete"] == {"api": ["api[2/2]"]} and stored["rows"] == 1
    with pytest.raises(AirflowFailException, match=r"not stored.*api \(missing api\[2/2\]\)"):
        verdict.gate(stored)
