"""The work behind each task of the ``perf_profiler`` DAG; the DAG file only wires these.

Every function takes plain values (no Airflow context) so it can be tested on its own and so
the DAG file stays free of heavy imports.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from perf_profiler.rows import RunIdentity, iso_utc

log = logging.getLogger(__name__)

TARGETS_VARIABLE = "perf_profiler_targets"
DEFAULT_DB_CONN_ID = "perf_metrics_db"
DEFAULT_INSIGHT_CONN_ID = "insight_engine"
OUTBOX_RETENTION_S = 7 * 24 * 3600


def load_targets(variable_json: str | None) -> list[dict[str, Any]]:
    """Validated services as XCom-friendly dicts: the Airflow Variable when set, else the file.

    A bad config fails the task at once (no retries: retrying cannot fix it), naming the field.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.targets import TargetsError

    try:
        return [service.to_dict() for service in _read_targets(variable_json)]
    except TargetsError as error:
        raise AirflowFailException(f"invalid perf-profiler targets: {error}") from error


def _read_targets(variable_json: str | None):
    from perf_profiler.targets import default_targets_path, load_targets_file, parse_targets_json

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
    from perf_profiler.probe import run_probe
    from perf_profiler.targets import parse_service

    service = parse_service(dict(service_dict))
    result = run_probe(service)
    for endpoint in result["endpoints"]:
        log.info(
            "%s %s: %s requests, %s ok", service.name, endpoint["endpoint"], endpoint["requests"], endpoint["ok"]
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
    from perf_profiler.targets import parse_service

    budgets = {}
    for service_dict in service_dicts:
        service = parse_service(dict(service_dict))
        for endpoint in service.endpoints:
            budgets[(service.name, endpoint.name)] = service.budget_for(endpoint)
    return budgets


def store(
    results: Sequence[Mapping[str, Any]],
    services: Sequence[Mapping[str, Any]],
    identity: RunIdentity,
    conn_id: str = DEFAULT_DB_CONN_ID,
) -> dict[str, Any]:
    """Merge results, judge them against P-6 and upsert perf_metrics; returns a small summary."""
    from perf_profiler import observability
    from perf_profiler.metrics import summarize_results
    from perf_profiler.rows import build_rows
    from perf_profiler.store import get_hook, migrate, upsert_metrics

    rows = build_rows(summarize_results(results), budgets_by_endpoint(services), identity)
    hook = get_hook(conn_id)
    applied = migrate(hook)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    written = upsert_metrics(hook, rows)
    log.info("upserted %s perf_metrics rows for run %s", written, identity.run_id)
    observability.emit(rows)
    return stored_summary(rows, identity)


def stored_summary(rows: Sequence[Mapping[str, Any]], identity: RunIdentity) -> dict[str, Any]:
    """The small XCom the branch and the Insight task need: identity, counts, violations."""
    keep = ("service", "endpoint", "p95_ms", "budget_p95_ms", "error_rate", "budget_error_rate", "verdict")
    return {
        "identity": identity.to_dict(),
        "rows": len(rows),
        "violations": [{k: row[k] for k in keep} for row in rows if row["verdict"] == "fail"],
    }


def choose_branch(stored: Mapping[str, Any]) -> str:
    """``budget_violated`` when any endpoint broke its budget, else ``within_budget``."""
    return "budget_violated" if stored["violations"] else "within_budget"


def log_violations(stored: Mapping[str, Any]) -> list[str]:
    """Log one line per violation; returns the lines."""
    from perf_profiler.budget import describe_violation

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

    from perf_profiler import insight
    from perf_profiler.store import fetch_metrics, get_hook, migrate

    identity = stored["identity"]
    hook = get_hook(db_conn_id)
    migrate(hook)
    rows = fetch_metrics(hook, dag_id=identity["dag_id"], run_id=identity["run_id"])
    rows = [r for r in rows if r["tenant_id"] == identity["tenant_id"]]
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
