"""The perf_trends repository on real PostgreSQL and SQLite databases: an endpoint's history,
regressions recorded and cleared, one day's rows and its rollup."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from perf_profiler.analysis import trends
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.trends_repo import open_trends
from trend_rows import row_with_p95

START = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)


def stored_row(hours: float, p95_ms: float, endpoint: str = "/healthz") -> dict:
    """A manual run ``hours`` after START whose p95 is ``p95_ms``."""
    return row_with_p95(p95_ms, START + timedelta(hours=hours), endpoint)


def test_history_is_the_latest_earlier_runs_of_the_same_endpoint(migrated):
    rows = [stored_row(hours, 100 + hours) for hours in range(6)]
    upsert_metrics(migrated, [*rows, stored_row(2.5, 999, "/other")])

    with open_trends(migrated) as repo:
        latest = repo.p95_history(rows[4], limit=3)
        everything = repo.p95_history(rows[5], limit=50)
        first = repo.p95_history(rows[0], limit=50)

    assert latest == pytest.approx([103, 102, 101], rel=0.01), "newest first, the row itself and later runs left out"
    assert len(everything) == 5 and 999 not in [round(v) for v in everything]
    assert first == []


def test_a_regression_is_recorded_once_updated_and_cleared(migrated):
    row = stored_row(0, 180)
    upsert_metrics(migrated, [row])
    with open_trends(migrated) as repo:
        repo.record_regression(row, trends.Baseline(100, 2, 110, 7))
        repo.record_regression(row, trends.Baseline(101, 3, 111, 8))

    records = migrated.get_records("SELECT metric_id, baseline_p95_ms, history_runs, method FROM perf_regressions")
    assert [(str(r[0]), float(r[1]), int(r[2]), r[3]) for r in records] == [(row["id"], 101.0, 8, trends.METHOD)]

    with open_trends(migrated) as repo:
        repo.clear_regression(row["id"])
        repo.clear_regression("00000000-0000-0000-0000-000000000000")  # none recorded: no-op
    assert migrated.get_records("SELECT metric_id FROM perf_regressions") == []


def test_nothing_is_written_when_the_block_fails(migrated):
    row = stored_row(0, 180)
    upsert_metrics(migrated, [row])

    def record_then_fail() -> None:
        with open_trends(migrated) as repo:
            repo.record_regression(row, trends.Baseline(100, 2, 110, 7))
            raise RuntimeError("judging failed half-way")

    with pytest.raises(RuntimeError, match="judging failed half-way"):
        record_then_fail()
    assert migrated.get_records("SELECT metric_id FROM perf_regressions") == []


def test_day_runs_are_the_rows_of_that_utc_day_and_its_rollup_is_replaced(migrated):
    # START is 02:00 UTC: hours 0 and 21 fall on 2026-03-01, hour 22 on 2026-03-02.
    upsert_metrics(migrated, [stored_row(0, 100), stored_row(21, 300), stored_row(22, 500)])

    with open_trends(migrated) as repo:
        runs = repo.day_runs("default", "registry", "/healthz", "2026-03-01")
        rollup = trends.summarize_day(runs)
        repo.upsert_day_rollup("default", "registry", "/healthz", "2026-03-01", rollup)
        repo.upsert_day_rollup("default", "registry", "/healthz", "2026-03-01", rollup)
    assert sorted(round(float(r["p95_ms"])) for r in runs) == [100, 300]
    assert set(runs[0]) == {"p95_ms", "requests", "error_count", "throughput", "verdict"}

    stored = migrated.get_records("SELECT day, runs, requests, p95_max_ms FROM perf_daily_rollup")
    assert [(str(r[0]), int(r[1]), int(r[2])) for r in stored] == [("2026-03-01", 2, 200)]
    assert float(stored[0][3]) == pytest.approx(300, rel=0.01)
