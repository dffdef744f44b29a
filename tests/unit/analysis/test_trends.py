"""perf_trends: robust-baseline regressions and the daily rollup (the maths alone, then the task
on PostgreSQL and SQLite; the SQL alone: tests/unit/storage/test_trends_repo.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from perf_profiler.analysis import trends
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import trends as trends_task
from trend_rows import row_with_p95

START = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def hook(metrics_db):
    db = get_hook("perf_metrics_db")
    migrate(db)
    return db


def row_for(day: int, p95_ms: float, endpoint: str = "/healthz") -> dict:
    """The scheduled run of day ``day``, measured five minutes after its time."""
    return row_with_p95(p95_ms, START + timedelta(days=day), endpoint, scheduled=True,
                        measured_after=timedelta(minutes=5))


def extras(rows: list[dict]) -> list[dict]:
    return [{"dag_id": "perf_profiler", "tenant_id": "default", "source_run_ids": [r["run_id"]]} for r in rows]


def test_baseline_is_robust_to_an_outlier_and_has_floors():
    base = trends.baseline([100, 101, 99, 100, 102, 98, 950])
    assert base.median_ms == 100
    assert base.threshold_ms == pytest.approx(100 + max(3 * 1.4826 * 1, 10))
    assert trends.baseline([100] * 4) is None, "too little history to judge"
    assert trends.baseline([0.2] * 6).threshold_ms == pytest.approx(1.2), "absolute floor for tiny latencies"


def test_is_regression_only_above_the_threshold_of_a_known_baseline():
    base = trends.baseline([100] * 5)
    assert base.threshold_ms == pytest.approx(110)
    assert trends.is_regression(110.5, base) and not trends.is_regression(110, base)
    assert not trends.is_regression(10_000, None), "no baseline, no verdict"


def test_day_summary_counts_runs_and_sums_traffic():
    runs = [{"p95_ms": 100, "requests": 10, "error_count": 1, "throughput": 5.0, "verdict": "pass"},
            {"p95_ms": 300, "requests": 20, "error_count": 0, "throughput": 7.0, "verdict": "fail"},
            {"p95_ms": 200, "requests": 30, "error_count": 2, "throughput": 9.0, "verdict": "pass"}]
    assert trends.summarize_day(runs) == trends.DayRollup(runs=3, failing_runs=1, requests=60, errors=3,
                                                          p95_median_ms=200, p95_max_ms=300, throughput_mean=7.0)
    assert trends.summarize_day([]) is None


def test_injected_regression_is_recorded_once_and_rollup_covers_the_day(hook):
    history = [row_for(day, p95) for day, p95 in enumerate([100, 104, 97, 101, 99, 102, 98])]
    upsert_metrics(hook, history)
    assert trends_task.analyse_trends(extras(history))["regressions"] == []

    normal, regressed = row_for(7, 103, "/healthz"), row_for(8, 180, "/healthz")
    upsert_metrics(hook, [normal, regressed])
    assert trends_task.analyse_trends(extras([normal]))["regressions"] == []
    [found] = trends_task.analyse_trends(extras([regressed]))["regressions"]
    assert found["p95_ms"] == pytest.approx(180, rel=0.01)
    trends_task.analyse_trends(extras([regressed]))  # idempotent

    records = hook.get_records("SELECT run_id, baseline_p95_ms, history_runs FROM perf_regressions")
    assert [(r[0], r[2]) for r in records] == [(regressed["run_id"], 8)]
    assert 99 <= float(records[0][1]) <= 104
    view = hook.get_records("SELECT run_id FROM perf_analytics_v1 WHERE regression")
    assert [r[0] for r in view] == [regressed["run_id"]]
    rollup = hook.get_records("SELECT day, runs, requests FROM perf_daily_rollup ORDER BY day")
    assert len(rollup) == 9 and all(int(r[1]) == 1 and int(r[2]) == 100 for r in rollup)
