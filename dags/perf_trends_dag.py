"""
### perf_trends — p95 regressions against each endpoint's own history

Runs whenever `perf_profiler` stores metrics (it is scheduled on the Asset
`x-perf-profiler://perf_metrics`). For every stored row it compares the p95 with the same
tenant × service × endpoint over its last 20 runs — robust baseline: median + max(3 × 1.4826 ×
MAD, 10 %, 1 ms) — records regressions in `perf_regressions`, refreshes `perf_daily_rollup`,
and analysts read both through the stable view `perf_analytics_v1`. It also judges each touched
series as a whole for **change points** (`perf_changepoints`: regressions attributed to the first run
of the new level, suspected / confirmed / recovered / acknowledged; improvements; outliers; drift);
`notify_regressions` fails once for each new confirmed regression, so existing alerting fires.
Its log shows, per endpoint, the new p95 vs the baseline vs the p95 of 7 days earlier, and a warning per regression.

Then `apply_retention` prunes what the `[perf_profiler]` retention
settings call old: histograms of perf_metrics rows (`histogram_retention_days`, default 90; the
percentiles stay) and delivered Insight outbox entries (`outbox_retention_days`, default 30);
0 keeps them forever.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from perf_profiler.tasks import timeouts
from perf_profiler.tasks.assets import PERF_METRICS_ASSET


@dag(
    dag_id="perf_trends",
    schedule=[PERF_METRICS_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["performance", "analytics", "perf-profiler"],
    doc_md=__doc__,
    default_args={"retries": 2, "execution_timeout": timeouts.DEFAULT_TIMEOUT},  # tasks/timeouts.py
)
def perf_trends():
    @task(multiple_outputs=False, execution_timeout=timeouts.execution_timeout("analyse"))  # one XCom
    def analyse() -> dict:
        from perf_profiler.tasks import trends

        events = get_current_context()["triggering_asset_events"][PERF_METRICS_ASSET]
        return trends.analyse_trends([event.extra for event in events])

    # after analyse: a failed analysis fails the run, retention waits
    @task(multiple_outputs=False, execution_timeout=timeouts.execution_timeout("apply_retention"))
    def apply_retention() -> dict:
        from perf_profiler.tasks import retention

        return retention.apply_retention()

    # fails once per new confirmed regression (no retries: a retry would alert again), so that existing
    # Airflow alerting fires; acknowledged regressions are never handed to it (tasks/changepoints.py)
    @task(multiple_outputs=False, retries=0, execution_timeout=timeouts.execution_timeout("notify_regressions"))
    def notify_regressions(result: dict) -> int:
        from perf_profiler.tasks import changepoints

        return changepoints.notify_regressions(result)

    analysed = analyse()
    analysed >> apply_retention()
    notify_regressions(analysed)


perf_trends()
