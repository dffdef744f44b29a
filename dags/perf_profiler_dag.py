"""
### perf_profiler — nightly HTTP benchmarks with the P-6 performance budget

Benchmarks every configured service (one mapped `benchmark` task per service, async aiohttp
probes), merges the latency histograms, upserts p50/p95/p99, throughput and error rate into
`perf_metrics`, enforces **P-6: p95 < 800 ms** (plus per-endpoint and error-rate budgets) and
posts the results to the Insight Engine through an outbox that loses nothing.

* Targets: `config/targets.json` beside this file (or `$PERF_PROFILER_TARGETS_FILE`), overridden by
  the Variable `perf_profiler_targets` (JSON).
* Connections: `perf_metrics_db` (Postgres or SQLite), `insight_engine` (HTTP; token in password).
* Task logs: each `benchmark` logs its endpoints' p50/p95/p99, requests, errors and throughput;
  `store` logs one table of every endpoint with its p95 against its baseline (README, "Reading the results").
* Shards: a service's `load.shards: N` runs N `benchmark` instances (`service[i/N]`), on any
  workers, started together through the metrics database and merged exactly (README, "Running on Celery").
* Parallel benchmarks: at most `[perf_profiler] max_active_benchmarks` (default 2) at once, in
  `default_pool` or the pool named by `[perf_profiler] benchmark_pool`; no hand step needed.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pendulum
from airflow.sdk import CronDataIntervalTimetable, TriggerRule, Variable, dag, get_current_context, task

from perf_profiler.model.params import form_params
from perf_profiler.model.result import BenchmarkResult
from perf_profiler.tasks import settings, timeouts
from perf_profiler.tasks.assets import PERF_METRICS_ASSET

#: The default targets file, found beside this DAG file (a copied dags folder or a bundle has it too).
TARGETS_FILE = Path(__file__).parent / "config" / "targets.json"


@dag(
    dag_id="perf_profiler",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["performance", "p-6", "perf-profiler"],
    doc_md=__doc__,
    params=form_params(TARGETS_FILE),
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timeouts.DEFAULT_TIMEOUT,  # nothing hangs forever (tasks/timeouts.py)
    },
)
def perf_profiler():
    @task
    def load_targets() -> list[dict]:
        from perf_profiler.tasks import plan

        context = get_current_context()
        dag_run = context["dag_run"]
        run_plan = plan.load_targets(Variable.get(plan.TARGETS_VARIABLE, default=None), context["params"],
                                     dag_run.conf, dag_run.run_type, TARGETS_FILE)
        # Airflow maps only over a return value ("cannot map over XCom with custom key" for a
        # multiple_outputs key): the services to probe are returned, the whole plan goes to store.
        context["ti"].xcom_push(key="plan", value=run_plan)
        return run_plan["to_probe"]

    # multiple_outputs=False: a task annotated `-> dict` would otherwise also push every key of its
    # result as an XCom of its own (the encoded histograms twice). show_return_value_in_logs=False:
    # the log shows each endpoint's percentiles instead of a dump of the encoded histograms.
    @task(pool=settings.benchmark_pool(), max_active_tis_per_dag=settings.max_active_benchmarks(),
          queue=settings.benchmark_queue(),
          execution_timeout=timeouts.execution_timeout("benchmark"),
          map_index_template="{{ service_name }}", multiple_outputs=False, show_return_value_in_logs=False)
    def benchmark(service: dict) -> BenchmarkResult:
        from perf_profiler.tasks import measure, sharding
        from perf_profiler.tasks.shard_start import ShardTask

        context = get_current_context()
        # map_index_template is rendered from this task's context, which takes keys of our own
        # ("api" or, for a shard, "api[2/4]"); the Context TypedDict lists Airflow's keys only, hence the cast
        cast(dict[str, Any], context)["service_name"] = sharding.label(service)
        return measure.benchmark(service, ShardTask.from_context(context))

    # the log shows the run's table (every endpoint, its p95 against its baseline), not the summary dict.
    # ALL_DONE: a failed benchmark (or shard) leaves its service out; the others are stored and posted,
    # and gate fails the run at its end (the results hold only the benchmarks that succeeded). The plan
    # is pulled here, not passed: after a failed load_targets there is none, and store fails at once
    @task(outlets=[PERF_METRICS_ASSET], trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False,
          execution_timeout=timeouts.execution_timeout("store"), show_return_value_in_logs=False)
    def store(results: list[dict]) -> dict:
        from perf_profiler.tasks import persist

        context = get_current_context()
        plan = persist.pulled_plan(context["ti"])
        identity = persist.run_identity(context, tenant_id=plan["options"]["tenant"])
        stored = persist.store_metrics(list(results[:]) if results is not None else [], plan, identity)  # one fetch
        context["outlet_events"][PERF_METRICS_ASSET].extra = persist.asset_extra(stored)
        return stored

    @task.branch
    def check_budget(stored: dict) -> str:
        from perf_profiler.tasks import verdict

        return verdict.choose_branch(stored)

    @task
    def within_budget(stored: dict) -> int:
        return stored["rows"]

    @task
    def budget_violated(stored: dict) -> list[str]:
        from perf_profiler.tasks import verdict

        return verdict.log_violations(stored)

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, multiple_outputs=False,
          execution_timeout=timeouts.execution_timeout("post_to_insight"))
    def post_to_insight(stored: dict) -> dict:
        from perf_profiler.tasks import deliver

        return deliver.post_to_insight(stored)

    @task(retries=0)
    def gate(stored: dict) -> int:
        from perf_profiler.tasks import verdict

        return verdict.gate(stored)

    services = load_targets()
    stored = store(benchmark.expand(service=services))
    branches = check_budget(stored) >> [within_budget(stored), budget_violated(stored)]
    branches >> post_to_insight(stored) >> gate(stored)


perf_profiler()
