"""``TrendsConnection.p95_days_before`` on real PostgreSQL and SQLite: the latest run of the same
tenant × DAG × service × endpoint measured at least N days before a row."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from perf_profiler.model.identity import make_row_id
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.trends_repo import open_trends
from trend_rows import row_with_p95

START = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)


def stored_row(days: float, p95_ms: float, endpoint: str = "/healthz") -> dict:
    return row_with_p95(p95_ms, START + timedelta(days=days), endpoint)


def test_the_latest_run_at_least_seven_days_earlier_of_the_same_endpoint_and_tenant(migrated):
    rows = {days: stored_row(days, 100 + days) for days in (0, 1, 1.5, 5, 8)}
    other = stored_row(1.8, 999)
    other_tenant = {**other, "tenant_id": "team-b",
                    "id": make_row_id("team-b", other["dag_id"], other["run_id"], other["service"], other["endpoint"])}
    upsert_metrics(migrated, [*rows.values(), other_tenant, stored_row(1.9, 555, "/other")])

    with open_trends(migrated) as repo:
        week = repo.p95_days_before(rows[8], 7)
        six = repo.p95_days_before(rows[8], 6)  # at or before day 2: day 1.5 is the latest
        none = repo.p95_days_before(rows[5], 7)

    assert week is not None and week[0] == pytest.approx(101, rel=0.01)
    assert week[1].startswith("2026-03-02T02:00:00"), "measured_at as ISO-8601 UTC text"
    assert six is not None and six[0] == pytest.approx(101.5, rel=0.01)
    assert none is None
