"""The shards' start line through the metrics database (PostgreSQL and SQLite).

Shards here run in threads of one process against a real server and a real database: what the
start line decides is read back from its tables and from the stored row.
"""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from perf_profiler.engine.plan import Share
from perf_profiler.model.identity import RunIdentity
from perf_profiler.model.targets import Service
from perf_profiler.tasks import measure, persist, plan
from perf_profiler.tasks.shard_start import DbStartLine, ShardTask
from servers import BenchServer

RUN = "manual__start_line"
IDENTITY = RunIdentity(dag_id="perf_profiler", run_id=RUN, run_type="manual")


def _plan(url: str, **load: Any) -> dict:
    config = {"services": [{"name": "api", "base_url": url, "endpoints": [{"path": "/delay/40"}, {"path": "/ok"}],
                            "load": {"duration_s": 0.6, "requests": None, "concurrency": 4, "warmup": 0,
                                     "shards": 2, **load}}]}
    return plan.load_targets(json.dumps(config))


def _task(host: str, try_number: int = 1) -> ShardTask:
    return ShardTask(dag_id="perf_profiler", run_id=RUN, host=host, try_number=try_number)


def _in_threads(*calls: Any) -> list[Any]:
    out: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Any) -> None:
        try:
            out[i] = call()
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return out


def test_two_shards_start_together_and_their_row_is_concurrent(metrics_db):
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics

    with BenchServer() as server:
        run_plan = _plan(server.url)
        items = run_plan["to_probe"]
        results = _in_threads(lambda: measure.benchmark(items[0], _task("w1")),
                              lambda: measure.benchmark(items[1], _task("w2")))
        peak = server.stats.max_in_flight
    lines = [r["shard"]["start_lines"] for r in results]
    assert [[o["endpoint"] for o in ls] for ls in lines] == [["/delay/40", "/ok"]] * 2
    for ls in lines:
        assert all(o["present"] == 2 and not o["timed_out"] and not o["alone"] for o in ls)
    assert lines[0][0]["start_at"] == lines[1][0]["start_at"], "one agreed instant"
    assert peak > 2, "the server saw both shards' requests (2 in flight each) at once"

    persist.store_metrics(results, run_plan, IDENTITY)
    rows = {r["endpoint"]: r for r in fetch_metrics(get_hook("perf_metrics_db"))}
    for row in rows.values():
        record = json.loads(row["shards"])
        assert row["shards_not_concurrent"] is False, record["not_concurrent"]
        assert record["overlap_s"] > 0.3
        assert {s["host"] for s in record["shards"]} == {"w1", "w2"}
        assert sum(s["requests"] for s in record["shards"]) == row["requests"]


def test_a_lone_shard_times_out_a_late_one_runs_alone_and_the_row_says_so(metrics_db, caplog):
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics

    with BenchServer() as server:
        run_plan = _plan(server.url, shard_start_timeout_s=0.5)
        items = run_plan["to_probe"]
        first = measure.benchmark(items[0], _task("w1"))  # a pool of 1: one shard after the other
        second = measure.benchmark(items[1], _task("w1"))
    assert [(o["present"], o["timed_out"], o["alone"]) for o in first["shard"]["start_lines"]] == [(1, True, False)] * 2
    assert [o["alone"] for o in second["shard"]["start_lines"]] == [True, True]
    assert "start line TIMED OUT after 0.5 s with 1 of 2 shards in" in caplog.text
    assert "api[2/2] /delay/40: RUNS ALONE" in caplog.text

    persist.store_metrics([first, second], run_plan, IDENTITY)
    row = {r["endpoint"]: r for r in fetch_metrics(get_hook("perf_metrics_db"))}["/delay/40"]
    reasons = json.loads(row["shards"])["not_concurrent"]
    assert row["shards_not_concurrent"] is True
    assert any("timed out with 1 of 2" in r for r in reasons)
    assert any(r.startswith("shard api[2/2] (try 1, host w1) ran alone") for r in reasons)
    assert any("do not overlap" in r for r in reasons)
    assert "shards_not_concurrent -- its 2 shards did not run together" in caplog.text


def test_a_shard_of_two_processes_crosses_the_line_with_a_sibling(metrics_db):
    """processes inside a shard: the parent crosses the database's line for its worker processes."""
    with BenchServer() as server:
        run_plan = _plan(server.url, processes=2)
        items = run_plan["to_probe"]
        service = Service.model_validate({k: v for k, v in items[1].items() if k != "shard"})
        from perf_profiler.tasks.metrics_db import migrated_hook

        sibling = DbStartLine(migrated_hook(), service, Share(1, 2), _task("w2"))

        def sibling_crosses() -> list[dict]:
            for _ in service.endpoints:
                asyncio.run(sibling.start_line())
            return sibling.outcomes

        result, sibling_lines = _in_threads(lambda: measure.benchmark(items[0], _task("w1")), sibling_crosses)
    assert result["endpoints"][0]["requests"] > 0
    assert [o["present"] for o in result["shard"]["start_lines"]] == [2, 2]
    assert [o["start_at"] for o in result["shard"]["start_lines"]] == [o["start_at"] for o in sibling_lines]
    assert result["endpoints"][0]["concurrency"] == 2, "2 of the service's 4: its 2 processes' parts"
