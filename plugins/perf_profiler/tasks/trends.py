"""Task ``analyse`` of the perf_trends DAG: regressions against history and the daily rollup."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from perf_profiler.tasks.connections import DEFAULT_DB_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

log = logging.getLogger(__name__)

#: "p95 now vs N days earlier": the latest run measured at least this many days before the new one.
WEEK_DAYS = 7


def analyse_trends(asset_extras: Sequence[Mapping[str, Any]], conn_id: str = DEFAULT_DB_CONN_ID) -> dict[str, Any]:
    """perf_trends: judge the rows behind each Asset event against their history; roll up days."""
    from perf_profiler.storage.metrics_repo import fetch_metrics
    from perf_profiler.tasks.metrics_db import migrated_hook

    hook = migrated_hook(conn_id)
    rows = [row for extra in asset_extras for run_id in extra.get("source_run_ids", [])
            for row in fetch_metrics(hook, dag_id=extra["dag_id"], run_id=run_id, tenant_id=extra["tenant_id"])]
    from perf_profiler.tasks.changepoints import detector_params, evaluate_changepoints

    # first: the baseline is the level since the latest change point; each series with its endpoint's
    # detector parameters, as the run that stored the rows had them (a backfill's: today's config)
    changes = evaluate_changepoints(hook, rows, detector_params(asset_extras))
    regressions = detect_regressions(hook, rows)
    for found in regressions:
        log.warning("p95 regression: service=%s endpoint=%s run %s p95=%.2fms baseline=%.2fms threshold=%.2fms",
                    found["service"], found["endpoint"], found["run_id"], found["p95_ms"],
                    found["baseline_p95_ms"], found["threshold_ms"])
    days = roll_up_days(hook, rows)
    log.info("perf_trends: %s rows judged, %s regressions, %s daily rollups updated", len(rows), len(regressions), days)
    return {"rows": len(rows), "regressions": regressions, "rollups": days, **changes}


def detect_regressions(hook: DbApiHook, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Judge each row against its history since the current level started (the latest change point
    before it, ``perf_changepoints``); record regressions (idempotently) and return them.

    Logs one table: per row its p95 against its baseline and against the p95 of the latest run
    measured at least ``WEEK_DAYS`` days earlier.
    """
    from perf_profiler.analysis import trends
    from perf_profiler.analysis.run_table import trend_table
    from perf_profiler.storage.changepoints_repo import open_changepoints
    from perf_profiler.storage.trends_repo import open_trends

    found, judged = [], []
    with open_changepoints(hook) as levels:  # read and closed first: SQLite allows one writer
        starts = [levels.level_start({**row, "metric": "p95_ms"}, row["measured_at"]) for row in rows]
    with open_trends(hook) as repo:
        for row, since in zip(rows, starts, strict=True):
            p95_ms = float(row["p95_ms"])
            history = repo.p95_history(row, trends.WINDOW, since)
            base = trends.baseline(history)
            regressed = trends.is_regression(p95_ms, base)
            if regressed and base is not None:
                repo.record_regression(row, base)
                found.append({"service": row["service"], "endpoint": row["endpoint"], "run_id": row["run_id"],
                              "p95_ms": p95_ms, "baseline_p95_ms": base.median_ms,
                              "threshold_ms": base.threshold_ms})
            else:
                repo.clear_regression(row["id"])  # a re-derived row may no longer be a regression
            judged.append((row, history, repo.p95_days_before(row, WEEK_DAYS), regressed))
    if judged:
        log.info("perf_trends: p95 against the baseline and %s days earlier\n%s", WEEK_DAYS, trend_table(judged))
    return found


def roll_up_days(hook: DbApiHook, rows: Sequence[Mapping[str, Any]]) -> int:
    """Recompute the daily rollup of every (tenant, service, endpoint, day) these rows touch."""
    from perf_profiler.analysis import trends
    from perf_profiler.storage.trends_repo import open_trends

    keys = sorted({(r["tenant_id"], r["service"], r["endpoint"], r["measured_at"][:10]) for r in rows})
    with open_trends(hook) as repo:
        for tenant_id, service, endpoint, day in keys:
            rollup = trends.summarize_day(repo.day_runs(tenant_id, service, endpoint, day))
            if rollup is not None:
                repo.upsert_day_rollup(tenant_id, service, endpoint, day, rollup)
    return len(keys)
