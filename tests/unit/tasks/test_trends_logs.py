"""perf_trends' task log on real PostgreSQL and SQLite: per endpoint the new p95, its baseline and
the p95 of 7 days earlier, and one line per regression it records (values read back from the DB)."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import trends as trends_task
from trend_rows import row_with_p95

START = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def hook(metrics_db):
    """The migrated metrics DB, set up before the test body: Airflow configures its logging on the
    first connection lookup of a process, which would replace caplog's handler mid-test."""
    db = get_hook("perf_metrics_db")
    migrate(db)
    return db


def row_for(day: int, p95_ms: float, endpoint: str = "/healthz") -> dict:
    return row_with_p95(p95_ms, START + timedelta(days=day), endpoint, scheduled=True,
                        measured_after=timedelta(minutes=5))


def logged_table(caplog: pytest.LogCaptureFixture) -> dict[str, dict[str, str]]:
    """endpoint → (title → cell) of the one perf_trends table logged."""
    [message] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("perf_trends: p95 against")]
    _, header, _, *body = message.split("\n")
    titles = re.split(r"\s{2,}", header.strip())
    lines = [dict(zip(titles, re.split(r"\s{2,}", line.strip()), strict=True)) for line in body]
    return {line["endpoint"]: line for line in lines}


def test_the_log_shows_baseline_seven_days_earlier_and_each_regression(hook, caplog):
    history = [row_for(day, p95) for day, p95 in enumerate([100, 104, 97, 101, 99, 102, 98, 103])]
    regressed, young = row_for(8, 180), row_for(8, 50, "/young")
    upsert_metrics(hook, [*history, regressed, row_for(7, 48, "/young"), young])

    with caplog.at_level(logging.INFO, logger=trends_task.__name__):
        found = trends_task.analyse_trends([{"dag_id": "perf_profiler", "tenant_id": "default",
                                             "source_run_ids": [regressed["run_id"]]}])

    stored = {(r["endpoint"], r["run_id"]): r for r in fetch_metrics(hook)}
    [(baseline_ms, threshold_ms)] = [(float(b), float(t)) for b, t in hook.get_records(
        "SELECT baseline_p95_ms, threshold_ms FROM perf_regressions")]
    p95 = stored["/healthz", regressed["run_id"]]["p95_ms"]
    week_earlier = stored["/healthz", history[1]["run_id"]]  # day 1: exactly 7 days before day 8
    table = logged_table(caplog)

    assert [f["endpoint"] for f in found["regressions"]] == ["/healthz"]
    healthz = table["/healthz"]
    assert healthz["p95 ms"] == f"{p95:.2f}"
    assert healthz["baseline p95"] == f"{baseline_ms:.2f} ms (8 runs)"
    assert healthz["p95 7 d earlier"] == f"{week_earlier['p95_ms']:.2f} ms (2026-03-02)"
    assert healthz["p95 vs 7 d earlier"].startswith(f"{p95 - week_earlier['p95_ms']:+.2f} ms (+")
    assert healthz["regression"] == "REGRESSION"
    young_line = table["/young"]
    assert young_line["baseline p95"] == "n/a (1 runs)" and young_line["p95 7 d earlier"] == "n/a (no run)"
    assert young_line["regression"] == "no"

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"p95 regression: service=registry endpoint=/healthz run {regressed['run_id']} "
                        f"p95={p95:.2f}ms baseline={baseline_ms:.2f}ms threshold={threshold_ms:.2f}ms"]
