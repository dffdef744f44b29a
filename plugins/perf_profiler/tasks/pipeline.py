"""The work behind each task of the ``perf_profiler`` DAG; the DAG file only wires these.

Every function takes plain values (no Airflow context) so it can be tested on its own and so
the DAG file stays free of heavy imports.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from perf_profiler.analysis.rows import RunIdentity, iso_utc

log = logging.getLogger(__name__)

TARGETS_VARIABLE = "perf_profiler_targets"
DEFAULT_DB_CONN_ID = "perf_metrics_db"
DEFAULT_INSIGHT_CONN_ID = "insight_engine"
OUTBOX_RETENTION_S = 7 * 24 * 3600
BACKFILL = "backfill"
MEASURE = "measure"
REDERIVE = "rederive"


def load_targets(
    variable_json: str | None,
    params: Mapping[str, Any] | None = None,
    conf: Mapping[str, Any] | None = None,
    run_type: str | None = None,
) -> dict[str, Any]:
    """The run's plan: validated services (Variable, else file) with the run's params applied.

    ``to_probe`` lists the services to benchmark; it is empty for a backfill run, which cannot
    measure the past and re-derives stored histograms instead (``mode`` says which). A bad
    config or bad params fail the task at once (no retries: retrying cannot fix them), naming
    the field or the param.
    """
    from dataclasses import asdict

    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.model.params import ParamsError, apply
    from perf_profiler.model.targets import TargetsError

    try:
        services, options = apply(_read_targets(variable_json), params or {}, conf)
    except TargetsError as error:
        raise AirflowFailException(f"invalid perf-profiler targets: {error}") from error
    except ParamsError as error:
        raise AirflowFailException(f"invalid run params: {error}") from error
    service_dicts = [service.to_dict() for service in services]
    backfill = run_type == BACKFILL
    if backfill:
        log.info("backfill run: sending no requests; stored histograms of this interval will be re-derived")
    log.info("benchmarking %s", ", ".join(s.name for s in services) if not backfill else "nothing")
    return {
        "mode": REDERIVE if backfill else MEASURE,
        "services": service_dicts,
        "to_probe": [] if backfill else service_dicts,
        "options": asdict(options),
    }


def _read_targets(variable_json: str | None):
    from perf_profiler.model.targets import default_targets_path, load_targets_file, parse_targets_json

    if variable_json:
        services = parse_targets_json(variable_json, source=f"Airflow Variable {TARGETS_VARIABLE!r}")
        log.info("targets from Variable %s: %s services", TARGETS_VARIABLE, len(services))
    else:
        path = default_targets_path()
        services = load_targets_file(path)
        log.info("targets from %s: %s services", path, len(services))
    return services


def benchmark(service_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Probe one service; failures of the target are counted in the result, never raised."""
    from perf_profiler.engine.runner import run_probe
    from perf_profiler.tasks.target_auth import connection_headers
    from perf_profiler.model.targets import parse_service, with_secret_headers

    service = parse_service(dict(service_dict))
    if service.headers_conn_id:  # secrets are read here, at probe time, and never leave this task
        headers = connection_headers(service.headers_conn_id)
        service = with_secret_headers(service, headers, source=f"connection {service.headers_conn_id!r}")
    result = run_probe(service)
    for endpoint in result["endpoints"]:
        log.info(
            "%s %s: %s requests, %s ok, %s dropped (%s loop)", service.name, endpoint["endpoint"],
            endpoint["requests"], endpoint["ok"], endpoint.get("dropped", 0), endpoint.get("model", "closed"),
        )
        if endpoint.get("client_saturated"):
            log.warning(
                "%s %s: CLIENT SATURATED -- the load generator could not deliver the requested load; "
                "its latencies are distorted and the stored row says client_saturated=true "
                "(scheduling lag p99 %.2f ms, %s sends dropped): %s",
                service.name, endpoint["endpoint"], endpoint.get("lag_p99_ms", 0.0), endpoint.get("dropped", 0),
                "; ".join(endpoint.get("saturation_reasons", [])),
            )
    return result


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


def budgets_by_endpoint(service_dicts: Iterable[Mapping[str, Any]]):
    """(service, endpoint) → Budget for every configured endpoint."""
    from perf_profiler.model.targets import parse_service

    budgets = {}
    for service_dict in service_dicts:
        service = parse_service(dict(service_dict))
        for endpoint in service.endpoints:
            budgets[(service.name, endpoint.name)] = service.budget_for(endpoint)
    return budgets


def store(
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
    from perf_profiler.tasks import observability
    from perf_profiler.storage.repository import get_hook, migrate, upsert_metrics

    hook = get_hook(conn_id)
    applied = migrate(hook)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    budgets = budgets_by_endpoint(plan["services"])
    if plan["mode"] == REDERIVE:
        rows = _rederived_rows(hook, identity, budgets)
    else:
        rows = _measured_rows(results, identity, budgets)
    written = upsert_metrics(hook, rows)
    log.info("upserted %s perf_metrics rows (%s) for run %s", written, plan["mode"], identity.run_id)
    if plan["mode"] == MEASURE:
        observability.emit(rows)
    return stored_summary(rows, identity, plan)


def _measured_rows(results, identity: RunIdentity, budgets) -> list[dict[str, Any]]:
    from perf_profiler.analysis.reduce import summarize_results
    from perf_profiler.analysis.rows import build_rows

    return build_rows(summarize_results(results), budgets, identity)


def _rederived_rows(hook, identity: RunIdentity, budgets) -> list[dict[str, Any]]:
    from airflow.sdk.exceptions import AirflowSkipException

    from perf_profiler.analysis.rederive import rederive_rows
    from perf_profiler.storage.repository import fetch_metrics

    interval = (identity.data_interval_start, identity.data_interval_end)
    stored = [] if None in interval else fetch_metrics(
        hook, dag_id=identity.dag_id, tenant_id=identity.tenant_id, data_interval=interval)
    if not stored:
        message = (f"no data for interval {identity.data_interval_start} – {identity.data_interval_end}: "
                   "no measurement was stored for it and a backfill cannot measure the past; skipping")
        log.warning("%s", message)
        raise AirflowSkipException(message)
    log.info("re-deriving %s stored rows of interval %s – %s from their histograms",
             len(stored), identity.data_interval_start, identity.data_interval_end)
    return rederive_rows(stored, budgets)


def stored_summary(
    rows: Sequence[Mapping[str, Any]], identity: RunIdentity, plan: Mapping[str, Any]
) -> dict[str, Any]:
    """The small XCom the branch, the Insight task and the gate need."""
    keep = ("service", "endpoint", "p95_ms", "budget_p95_ms", "error_rate", "budget_error_rate", "verdict")
    return {
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
    }


def gate(stored: Mapping[str, Any]) -> int:
    """Fail the run (no retries) when it broke a budget and ``fail_on_violation`` is set."""
    from airflow.sdk.exceptions import AirflowFailException

    count = len(stored["violations"])
    if count and stored["fail_on_violation"]:
        names = ", ".join(f"{v['service']} {v['endpoint']}" for v in stored["violations"])
        raise AirflowFailException(f"P-6 budget violated by {count} endpoint(s): {names} (fail_on_violation=true)")
    log.info("gate passed: %s violation(s), fail_on_violation=%s", count, stored["fail_on_violation"])
    return count


def choose_branch(stored: Mapping[str, Any]) -> str:
    """``budget_violated`` when any endpoint broke its budget, else ``within_budget``."""
    return "budget_violated" if stored["violations"] else "within_budget"


def log_violations(stored: Mapping[str, Any]) -> list[str]:
    """Log one line per violation; returns the lines."""
    from perf_profiler.analysis.budget import describe_violation

    lines = [describe_violation(v) for v in stored["violations"]]
    for line in lines:
        log.warning("%s", line)
    return lines


def post_to_insight(
    stored: Mapping[str, Any],
    db_conn_id: str = DEFAULT_DB_CONN_ID,
    insight_conn_id: str = DEFAULT_INSIGHT_CONN_ID,
    retention_s: float = OUTBOX_RETENTION_S,
) -> dict[str, Any]:
    """Queue this run's rows for the Insight Engine and drain the outbox, oldest first.

    Never fails because the Insight Engine is down: undelivered payloads stay in the outbox
    and go first on the next run. Entries older than ``retention_s`` are reported, not dropped.
    """
    from airflow.sdk.exceptions import AirflowNotFoundException

    from perf_profiler.insight import delivery as insight
    from perf_profiler.storage.repository import fetch_metrics, get_hook, migrate

    identity = stored["identity"]
    hook = get_hook(db_conn_id)
    migrate(hook)
    rows = [row for run_id in stored["source_run_ids"]
            for row in fetch_metrics(hook, dag_id=identity["dag_id"], run_id=run_id, tenant_id=identity["tenant_id"])]
    try:
        client = insight.InsightClient.from_connection(insight_conn_id)
    except AirflowNotFoundException:
        log.warning("no Airflow connection %r: payloads are queued in the outbox only", insight_conn_id)
        client = None
    report = insight.deliver(hook, client, [insight.build_payload(r) for r in rows])
    log.info("insight delivery: %s", report.to_dict())
    for entry in insight.pending_older_than(hook, retention_s):
        log.warning("insight outbox: %s %s (run %s) undelivered for %.0f s: %s",
                    entry.service, entry.endpoint, entry.run_id, entry.age_s, entry.last_error)
    return report.to_dict()


def analyse_trends(asset_extras: Sequence[Mapping[str, Any]], conn_id: str = DEFAULT_DB_CONN_ID) -> dict[str, Any]:
    """perf_trends: judge the rows behind each Asset event against their history; roll up days."""
    from perf_profiler.analysis import trends
    from perf_profiler.storage.repository import fetch_metrics, get_hook, migrate

    hook = get_hook(conn_id)
    migrate(hook)
    rows = [row for extra in asset_extras for run_id in extra.get("source_run_ids", [])
            for row in fetch_metrics(hook, dag_id=extra["dag_id"], run_id=run_id, tenant_id=extra["tenant_id"])]
    regressions = trends.detect(hook, rows)
    for found in regressions:
        log.warning("p95 regression: %s %s run %s p95=%.1fms baseline=%.1fms threshold=%.1fms",
                    found["service"], found["endpoint"], found["run_id"], found["p95_ms"],
                    found["baseline_p95_ms"], found["threshold_ms"])
    days = trends.rollup(hook, rows)
    log.info("perf_trends: %s rows judged, %s regressions, %s daily rollups updated", len(rows), len(regressions), days)
    return {"rows": len(rows), "regressions": regressions, "rollups": days}
