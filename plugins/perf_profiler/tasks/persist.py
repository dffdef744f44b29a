"""Task ``store``: judge the run against its budgets and upsert perf_metrics (or re-derive a backfill)."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from perf_profiler.common.encoding import iso_utc
from perf_profiler.model.identity import RunIdentity
from perf_profiler.tasks.connections import DEFAULT_DB_CONN_ID
from perf_profiler.tasks.plan import MEASURE, REDERIVE

log = logging.getLogger(__name__)


def run_identity(context: Mapping[str, Any], tenant_id: str = "default") -> RunIdentity:
    """The run's identity from an Airflow task context (interval and logical date may be None)."""
    dag_run = context["dag_run"]
    run_type = getattr(dag_run, "run_type", None)
    return RunIdentity(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        run_type=getattr(run_type, "value", run_type),
        logical_date=iso_utc(getattr(dag_run, "logical_date", None)),
        data_interval_start=iso_utc(getattr(dag_run, "data_interval_start", None)),
        data_interval_end=iso_utc(getattr(dag_run, "data_interval_end", None)),
        tenant_id=tenant_id,
    )



def pulled_plan(ti: Any) -> dict[str, Any]:
    """The run's plan (``load_targets``' XCom ``plan``). Without one (``load_targets`` failed)
    ``store`` fails at once, without retries, and so do the tasks after it: the run fails."""
    from airflow.sdk.exceptions import AirflowFailException

    plan = ti.xcom_pull(task_ids="load_targets", key="plan")
    if plan is None:
        raise AirflowFailException("no plan: load_targets did not succeed, nothing to store")
    return plan


def budgets_by_endpoint(service_dicts: Iterable[Mapping[str, Any]]):
    """(service, endpoint) → Budget for every configured endpoint."""
    from perf_profiler.model.targets import Service

    budgets = {}
    for service_dict in service_dicts:
        service = Service.model_validate(service_dict)
        for endpoint in service.endpoints:
            budgets[(service.name, endpoint.name)] = service.budget_for(endpoint)
    return budgets



def store_metrics(
    results: Sequence[Mapping[str, Any]],
    plan: Mapping[str, Any],
    identity: RunIdentity,
    conn_id: str = DEFAULT_DB_CONN_ID,
) -> dict[str, Any]:
    """Judge the run against its budgets and upsert perf_metrics; returns a small summary.

    A measuring run merges this run's results. A backfill run re-derives the rows already
    stored for its data interval from their histograms (new budgets → new verdicts, same rows),
    and is skipped, with a log line, when the interval has no stored data.
    """
    from perf_profiler.storage.metrics_repo import upsert_metrics
    from perf_profiler.tasks import observability
    from perf_profiler.tasks.metrics_db import migrated_hook

    hook = migrated_hook(conn_id)  # migrate() logs the migrations it applies
    budgets = budgets_by_endpoint(plan["services"])
    missing: dict[str, list[str]] = {}
    if plan["mode"] == REDERIVE:
        rows = _rederived_rows(hook, identity, budgets)
    else:
        rows, missing = _measured_rows(results, plan, identity, budgets)
    written = upsert_metrics(hook, rows)
    log.info("upserted %s perf_metrics rows (%s) for run %s", written, plan["mode"], identity.run_id)
    if plan["mode"] == MEASURE:
        observability.emit(rows)
    stored = {**stored_summary(rows, identity, plan), "incomplete": missing}
    log_run_table(hook, rows, stored)
    return stored



def log_run_table(hook, rows: Sequence[Mapping[str, Any]], stored: Mapping[str, Any]) -> None:
    """Log the run's table (``analysis.run_table``): every endpoint, passing ones included, with
    its p95 against the baseline of its previous runs."""
    from perf_profiler.analysis.run_table import run_heading, run_table

    heading = run_heading(stored["identity"], stored["mode"], len(rows), stored["source_run_ids"])
    several_runs = len(stored["source_run_ids"]) > 1  # a backfill may re-derive rows of several runs
    log.info("%s\n%s", heading, run_table(rows, p95_histories(hook, rows), with_run=several_runs))



def p95_histories(hook, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Row id → the p95 of its endpoint's last ``trends.WINDOW`` earlier runs (newest first).

    The table is a log: a failed read leaves the baseline column "n/a" and never fails the run.
    """
    from perf_profiler.analysis import trends
    from perf_profiler.storage.trends_repo import open_trends

    try:
        with open_trends(hook) as repo:
            return {str(row["id"]): repo.p95_history(row, trends.WINDOW) for row in rows}
    except Exception:  # any driver error: the rows are stored, only the log loses a column
        log.warning("could not read the p95 history of the run's endpoints; the table shows no baseline",
                    exc_info=True)
        return {}



def _measured_rows(results, plan, identity: RunIdentity, budgets) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Rows of the services whose benchmarks (every shard) succeeded, and the services left out.

    A service with a failed benchmark or shard gets no row (no partial merge); the others are
    stored, posted, and ``gate`` fails the run at the end (``stored["incomplete"]``).
    """
    from perf_profiler.analysis.reduce import summarize_results
    from perf_profiler.analysis.rows import build_rows
    from perf_profiler.analysis.shards import complete_services
    from perf_profiler.tasks.sharding import expected_shards

    done = complete_services(results, expected_shards(plan["services"]))
    for service, lost in done.missing.items():
        log.error("%s: NOT STORED -- no result from %s (failed after its retries); no partial row is written, "
                  "the other services are stored and posted, and the run fails at its end", service, ", ".join(lost))
    rows = build_rows(summarize_results(done.results), budgets, identity)
    annotate_shards(rows, done.results)
    annotate_versions(rows, done.results)
    return rows, done.missing


def annotate_versions(rows: list[dict[str, Any]], results: Sequence[Mapping[str, Any]]) -> None:
    """Give every row its service's release: the first non-null ``service_version`` of its results
    (every shard reads it; by shard number), NULL when none could be read."""
    ordered = sorted(results, key=lambda r: int(r.get("shard", {}).get("index", 0)))
    versions: dict[str, str] = {}
    for result in ordered:
        if result.get("service_version") is not None:
            versions.setdefault(str(result["service"]), str(result["service_version"]))
    for row in rows:
        row["service_version"] = versions.get(row["service"])


def annotate_shards(rows: list[dict[str, Any]], results: Sequence[Mapping[str, Any]]) -> None:
    """Give every row of a sharded service its shards' record and the not-concurrent flag (logged)."""
    from perf_profiler.analysis.shards import check_endpoint
    from perf_profiler.common.encoding import canonical_json

    sharded: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        if "shard" in result:
            sharded.setdefault(result["service"], []).append(result)
    for row in rows:
        if row["service"] not in sharded:
            continue
        check = check_endpoint(row["endpoint"], sharded[row["service"]])
        row["shards"] = canonical_json(check.record)
        row["shards_not_concurrent"] = check.not_concurrent
        if check.not_concurrent:
            log.warning("%s %s: shards_not_concurrent -- its %s shards did not run together: %s",
                        row["service"], row["endpoint"], check.record["count"], "; ".join(check.reasons))
        else:
            log.info("%s %s: %s shards ran together (counted windows overlap %.3f s)", row["service"],
                     row["endpoint"], check.record["count"], check.record["overlap_s"])



def _rederived_rows(hook, identity: RunIdentity, budgets) -> list[dict[str, Any]]:
    from airflow.sdk.exceptions import AirflowSkipException

    from perf_profiler.analysis.rederive import rederivable, rederive_rows
    from perf_profiler.storage.metrics_repo import fetch_metrics

    interval = (identity.data_interval_start, identity.data_interval_end)
    stored = [] if None in interval else fetch_metrics(
        hook, dag_id=identity.dag_id, tenant_id=identity.tenant_id, data_interval=interval)
    if not stored:
        message = (f"no data for interval {identity.data_interval_start} – {identity.data_interval_end}: "
                   "no measurement was stored for it and a backfill cannot measure the past; skipping")
        log.warning("%s", message)
        raise AirflowSkipException(message)
    usable = [row for row in stored if rederivable(row)]
    if len(usable) < len(stored):
        log.warning("%s of %s stored rows of interval %s – %s have no latency histogram (dropped by the "
                    "histogram retention, [perf_profiler] histogram_retention_days): left as they are, not re-derived",
                    len(stored) - len(usable), len(stored), identity.data_interval_start, identity.data_interval_end)
    if not usable:
        message = (f"interval {identity.data_interval_start} – {identity.data_interval_end}: every stored row's "
                   "histograms were dropped by retention, nothing can be re-derived; skipping")
        log.warning("%s", message)
        raise AirflowSkipException(message)
    log.info("re-deriving %s stored rows of interval %s – %s from their histograms",
             len(usable), identity.data_interval_start, identity.data_interval_end)
    return rederive_rows(usable, budgets)



def stored_summary(
    rows: Sequence[Mapping[str, Any]], identity: RunIdentity, plan: Mapping[str, Any]
) -> dict[str, Any]:
    """The small XCom the branch, the Insight task and the gate need."""
    from perf_profiler.tasks.changepoints import detector_settings

    keep = ("service", "endpoint", "p95_ms", "budget_p95_ms", "error_rate", "budget_error_rate", "verdict")
    return {
        # the change-point detector's parameters of the run's config, for perf_trends (only those not default)
        "regressions": detector_settings(plan["services"]),
        "identity": identity.to_dict(),
        "mode": plan["mode"],
        "fail_on_violation": plan["options"]["fail_on_violation"],
        "rows": len(rows),
        "source_run_ids": sorted({row["run_id"] for row in rows}),
        "violations": [{k: row[k] for k in keep} for row in rows if row["verdict"] == "fail"],
    }



def asset_extra(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Extras of the ``perf_metrics`` Asset event, for downstream DAGs."""
    identity = stored["identity"]
    return {
        "dag_id": identity["dag_id"],
        "run_id": identity["run_id"],
        "tenant_id": identity["tenant_id"],
        "data_interval_start": identity["data_interval_start"],
        "data_interval_end": identity["data_interval_end"],
        "mode": stored["mode"],
        "source_run_ids": stored["source_run_ids"],
        "rows": stored["rows"],
        "violations": len(stored["violations"]),
        # [service, endpoint, params] of endpoints whose detector parameters are not the defaults: perf_trends
        # judges each series with those of the run that stored it (a backfill: today's config, like budgets)
        "regressions": stored.get("regressions", []),
    }
