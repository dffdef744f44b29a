"""A month of benchmark history for the browser tests, built the way the pipeline builds rows.

Every row comes from a real HDR histogram of log-normal latencies (seeded, so reproducible)
reduced by ``analysis.reduce.summarize_endpoint`` and ``analysis.rows.build_row``, then stored with
``storage.metrics_repo.upsert_metrics``; the last run's regression is judged by
``analysis.trends`` and recorded in ``perf_regressions`` as ``perf_trends`` would; one run is
marked re-derived by a backfill (``origin='rederived'``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from perf_profiler.analysis import histogram, trends
from perf_profiler.analysis.reduce import summarize_endpoint
from perf_profiler.analysis.rows import build_row
from perf_profiler.model.identity import RunIdentity
from perf_profiler.model.targets import Budget
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.storage.trends_repo import open_trends

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

DAG_ID = "perf_profiler"
HIDDEN_DAG_ID = "not_in_airflow"  # no such DAG in Airflow: nobody may read its rows
HISTORY_DAYS = 23  # scheduled runs before the manual one: 24 runs of every endpoint
REDERIVED_DAYS_AGO = 9


@dataclass(frozen=True)
class Endpoint:
    service: str
    endpoint: str
    method: str
    median_ms: float  # of the log-normal latencies
    sigma: float
    error_every: int = 0  # one failed request in this many (0: none)


ENDPOINTS = (
    Endpoint("registry", "/healthz", "GET", 18.0, 0.35),
    Endpoint("registry", "/v2/_catalog", "GET", 120.0, 0.45, error_every=400),
    Endpoint("catalog", "/search", "POST", 520.0, 0.30, error_every=150),
    Endpoint("auth", "/token", "POST", 60.0, 0.50),
)
REGRESSED = ("registry", "/healthz")  # the manual run is twice as slow here


def _row(spec: Endpoint, identity: RunIdentity, finished: datetime, rng: np.random.Generator,
         slowdown: float) -> dict[str, Any]:
    """One endpoint's row of one run: 1,500 requests of log-normal latency."""
    requests = 1500
    errors = requests // spec.error_every if spec.error_every else 0
    drift = 1.0 + 0.06 * math.sin(finished.timestamp() / 86400.0)  # day-to-day wobble
    latencies_us = rng.lognormal(math.log(spec.median_ms * 1000 * drift * slowdown), spec.sigma, requests - errors)
    h = histogram.new_histogram()
    histogram.record_many(h, latencies_us)
    end = finished.timestamp()
    part = {"endpoint": spec.endpoint, "method": spec.method, "path": spec.endpoint, "started_at": end - 30.0,
            "finished_at": end, "requests": requests, "ok": requests - errors,
            "errors": {"status": errors} if errors else {},
            "status_codes": {"200": requests - errors, **({"503": errors} if errors else {})},
            "latency_hist": histogram.encode(h), "error_hist": histogram.encode(histogram.new_histogram())}
    return build_row(summarize_endpoint(spec.service, spec.endpoint, [part]), Budget(), identity)


def history_rows(manual_run_id: str, now: datetime) -> list[dict[str, Any]]:
    """24 runs of every endpoint: daily scheduled runs, then the manual run ``manual_run_id`` now."""
    rng = np.random.default_rng(11)
    rows = []
    for days_ago in range(HISTORY_DAYS, 0, -1):
        end = (now - timedelta(days=days_ago)).replace(hour=2, minute=0, second=0, microsecond=0)
        identity = RunIdentity(dag_id=DAG_ID, run_id=f"scheduled__{(end - timedelta(hours=2)).isoformat()}",
                               run_type="scheduled", data_interval_start=(end - timedelta(days=1, hours=2)).isoformat(),
                               data_interval_end=(end - timedelta(hours=2)).isoformat())
        for spec in ENDPOINTS:
            row = _row(spec, identity, end, rng, 1.0)
            if days_ago == REDERIVED_DAYS_AGO:
                row.update(origin="rederived", rederived_at=(now - timedelta(hours=1)).isoformat())
            rows.append(row)
    manual = RunIdentity(dag_id=DAG_ID, run_id=manual_run_id, run_type="manual")
    rows += [_row(spec, manual, now, rng, 2.2 if (spec.service, spec.endpoint) == REGRESSED else 1.0)
             for spec in ENDPOINTS]
    hidden = RunIdentity(dag_id=HIDDEN_DAG_ID, run_id=manual_run_id, run_type="manual")
    rows.append(_row(Endpoint("secret", "/internal", "GET", 5.0, 0.2), hidden, now, rng, 1.0))
    return rows


def seed(hook: DbApiHook, manual_run_id: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Migrate, store the history, record the manual run's regression; return the stored rows."""
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    migrate(hook)
    rows = history_rows(manual_run_id, now)
    upsert_metrics(hook, rows)
    latest = next(r for r in rows if r["run_id"] == manual_run_id and (r["service"], r["endpoint"]) == REGRESSED
                  and r["dag_id"] == DAG_ID)
    earlier = [r["p95_ms"] for r in rows if (r["service"], r["endpoint"]) == REGRESSED and r is not latest
               and r["dag_id"] == DAG_ID][-trends.WINDOW:]
    base = trends.baseline(earlier)
    assert base is not None and trends.is_regression(latest["p95_ms"], base), "the seeded slowdown must regress"
    with open_trends(hook) as repo:
        repo.record_regression(latest, base)
    return fetch_metrics(hook)
