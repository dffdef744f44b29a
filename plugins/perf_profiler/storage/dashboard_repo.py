"""The Performance view's reads: the overview, an endpoint's series, a run's rows, one histogram, tenants.

Every read takes the DAG ids the caller may read (``ui.auth.Reader.dag_ids``) and returns only
rows of those DAGs; the tenant is a filter, not a security boundary. The SQL (``dashboard_sql``)
aggregates on the server and binds every value. Before the migrations ran (no schema, or one
older than the ``origin`` column of 007) every read returns "no data": an empty result or None.

"Baseline" is ``analysis.trends.baseline`` over the runs before the latest since the current level
started (the latest change point ``perf_trends`` found), as ``perf_trends`` judges regressions: one
definition, so a better detector changes every view at once.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from perf_profiler.analysis import trends
from perf_profiler.storage import dashboard_sql as q
from perf_profiler.storage.dialect import TABLE_EXISTS_SQL, Dialect, dialect_of
from perf_profiler.storage.migrations import VERSION_TABLE
from perf_profiler.storage.row_binding import normalise_row, timestamp_text

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = [
    "RECENT_RUNS",
    "REQUIRED_MIGRATION",
    "EndpointSeries",
    "StoredHistogram",
    "changepoints",
    "endpoint_series",
    "latency_histogram",
    "level_starts",
    "overview",
    "run_rows",
    "tenants",
]

#: Runs per endpoint the overview reads: its trend line, and the history of its baseline.
RECENT_RUNS = max(30, trends.WINDOW + 1)
#: The migration the reads need (007 added ``origin`` and ``rederived_at``).
REQUIRED_MIGRATION = 7
#: The migration the change-point reads need (015 added ``perf_changepoints``, 017 its releases).
CHANGEPOINTS_MIGRATION = 17
_CHANGEPOINT_COLUMNS = ("dag_id", "service", "endpoint", "metric", "kind", "run_id", "measured_at", "state",
                        "effect", "first_version", "previous_version", "acknowledged_at", "acknowledged_by",
                        "ack_note")
_EPOCH = "1970-01-01T00:00:00.000000+00:00"
_RUN_COLUMNS = ("tenant_id", "service", "endpoint", "method", "p50_ms", "p95_ms", "p99_ms", "throughput",
                "error_rate", "verdict", "budget_p95_ms", "client_saturated", "origin", "measured_at")


@dataclass(frozen=True)
class EndpointSeries:
    """One endpoint's runs in a window, oldest first, and its recorded regressions among them."""

    points: list[dict[str, Any]] = field(default_factory=list)
    regressions: list[dict[str, Any]] = field(default_factory=list)
    budget_p95_ms: float | None = None
    changepoints: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StoredHistogram:
    run_id: str
    measured_at: str
    latency_hist: str | None


def tenants(hook: DbApiHook, dag_ids: Collection[str]) -> list[str]:
    """The tenants that have rows of a readable DAG, sorted."""
    records = _read(hook, q.TENANTS_SQL, [], dag_ids)
    return [str(tenant) for (tenant,) in records or ()]


def overview(hook: DbApiHook, tenant: str, dag_ids: Collection[str]) -> list[dict[str, Any]]:
    """Every readable DAG × service × endpoint of ``tenant``: its latest run, trend and baseline, worst first."""
    records = _read(hook, q.OVERVIEW_SQL, [tenant, RECENT_RUNS], dag_ids)
    rows = [dict(zip(q.OVERVIEW_COLUMNS, record, strict=True)) for record in records or ()]
    found = changepoints(hook, tenant, dag_ids) if rows else []
    starts = level_starts(found)
    summaries = [_summary(list(runs), starts.get(key))
                 for key, runs in groupby(rows, key=lambda r: (r["dag_id"], r["service"], r["endpoint"]))]
    confirmed = {(c["dag_id"], c["service"], c["endpoint"]) for c in found
                 if c["kind"] == "regression" and c["state"] == "confirmed"}
    for summary in summaries:
        summary["confirmed_regression"] = (summary["dag_id"], summary["service"], summary["endpoint"]) in confirmed
    return sorted(summaries, key=_worst_first)


def level_starts(found: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    """(dag_id, service, endpoint) -> when its current p95 level started: the latest p95 change point
    (a regression or an improvement, not a suspect night) among ``found`` (``changepoints``)."""
    starts: dict[tuple[str, str, str], str] = {}
    for c in found:
        if c["metric"] == "p95_ms" and c["kind"] in ("regression", "improvement") and c["state"] != "suspected":
            key = (c["dag_id"], c["service"], c["endpoint"])
            starts[key] = max(starts.get(key, ""), c["measured_at"])
    return starts


def changepoints(hook: DbApiHook, tenant: str, dag_ids: Collection[str], *, dag_id: str | None = None,
                 service: str | None = None, endpoint: str | None = None) -> list[dict[str, Any]]:
    """The change points, outliers and drift ``perf_trends`` found (``storage.changepoints_repo``) of
    readable DAGs, optionally of one endpoint; state ``acknowledged`` once someone acknowledged one.
    Confirmed unacknowledged regressions first, then newest first."""
    where = "".join(f" AND {column} = {{m}}" for column, value in
                    (("dag_id", dag_id), ("service", service), ("endpoint", endpoint)) if value is not None)
    sql = (f"SELECT {', '.join(_CHANGEPOINT_COLUMNS)} FROM perf_changepoints WHERE tenant_id = {{m}}{where} "
           "AND dag_id IN ({dags}) ORDER BY CASE WHEN kind = 'regression' AND state = 'confirmed' "
           "AND acknowledged_at IS NULL THEN 0 ELSE 1 END, measured_at DESC")
    params = [tenant, *(v for v in (dag_id, service, endpoint) if v is not None)]
    found = []
    for record in _read(hook, sql, params, dag_ids, CHANGEPOINTS_MIGRATION) or ():
        row = normalise_row(dict(zip(_CHANGEPOINT_COLUMNS, record, strict=True)))
        row["effect"] = float(row["effect"])
        if row["acknowledged_at"] is not None:
            row["state"], row["acknowledged_at"] = "acknowledged", timestamp_text(row["acknowledged_at"], "at")
        found.append(row)
    return found


def endpoint_series(hook: DbApiHook, *, tenant: str, dag_id: str, service: str, endpoint: str,
                    since: datetime | None, dag_ids: Collection[str]) -> EndpointSeries:
    """The runs of one endpoint measured at or after ``since`` (None: all), oldest first."""
    if dag_id not in dag_ids:
        return EndpointSeries()
    start = _EPOCH if since is None else timestamp_text(since, "since")
    records = _read(hook, q.ENDPOINT_SQL, [tenant, dag_id, service, endpoint, start], ())
    points, regressions = [], []
    for record in records or ():
        row = normalise_row(dict(zip(q.SERIES_COLUMNS, record, strict=True)))
        baseline, threshold = row.pop("baseline_p95_ms"), row.pop("threshold_ms")
        row["has_histogram"], row["regression"] = bool(row["has_histogram"]), bool(row["regression"])
        points.append(row)
        if row["regression"]:
            regressions.append({"run_id": row["run_id"], "measured_at": row["measured_at"], "p95_ms": row["p95_ms"],
                                "baseline_p95_ms": _number(baseline), "threshold_ms": _number(threshold)})
    budget = points[-1]["budget_p95_ms"] if points else None
    marks = changepoints(hook, tenant, dag_ids, dag_id=dag_id, service=service, endpoint=endpoint)
    return EndpointSeries(points, regressions, budget, marks)


def run_rows(hook: DbApiHook, *, dag_id: str, run_id: str, dag_ids: Collection[str]) -> list[dict[str, Any]]:
    """The rows of one DAG run (every tenant); none when the DAG is not readable."""
    if dag_id not in dag_ids:
        return []
    records = _read(hook, q.RUN_SQL, [dag_id, run_id], ())
    rows = [normalise_row(dict(zip(_RUN_COLUMNS, record, strict=True))) for record in records or ()]
    for row in rows:
        row["client_saturated"] = bool(row["client_saturated"])
    return rows


def latency_histogram(hook: DbApiHook, *, tenant: str, dag_id: str, service: str, endpoint: str, run_id: str,
                      dag_ids: Collection[str]) -> StoredHistogram | None:
    """One row's stored latency histogram (``latency_hist`` None after retention); None: no such row."""
    if dag_id not in dag_ids:
        return None
    records = _read(hook, q.HISTOGRAM_SQL, [tenant, dag_id, run_id, service, endpoint], ())
    if not records:
        return None
    row = normalise_row({"run_id": records[0][0], "measured_at": records[0][1]})
    return StoredHistogram(row["run_id"], row["measured_at"], records[0][2])


# --------------------------------------------------------------------------- helpers
def _summary(records: Sequence[dict[str, Any]], level_start: str | None = None) -> dict[str, Any]:
    """One overview row from an endpoint's recent runs as fetched (newest first); its baseline from
    the runs of the current level (since ``level_start``, the latest change point), as perf_trends judges.

    Only the latest run is normalised whole; of the others the trend needs two columns.
    """
    latest = normalise_row(records[0])
    runs = [latest, *(normalise_row({"measured_at": r["measured_at"], "p95_ms": r["p95_ms"]}) for r in records[1:])]
    level = [run["p95_ms"] for run in runs[1:] if level_start is None or run["measured_at"] >= level_start]
    base = trends.baseline(level[:trends.WINDOW])
    p95, budget, ago = latest["p95_ms"], latest["budget_p95_ms"], _number(latest["p95_7d_ago_ms"])
    headroom = None if budget is None else round(budget - p95, 2)
    return {
        **{key: latest[key] for key in ("dag_id", "service", "endpoint", "method", "run_id", "measured_at",
                                        "p50_ms", "p95_ms", "p99_ms", "throughput", "error_rate", "verdict",
                                        "budget_p95_ms")},
        "headroom_ms": headroom,
        "headroom_pct": None if headroom is None or not budget else round(100.0 * headroom / budget, 2),
        "p95_7d_ago_ms": ago,
        "p95_change_7d_pct": None if not ago else round(100.0 * (p95 - ago) / ago, 2),
        "baseline_p95_ms": None if base is None else base.median_ms,
        "open_regression": bool(latest["regression"]),
        "trend": [{"measured_at": run["measured_at"], "p95_ms": run["p95_ms"]} for run in reversed(runs)],
    }


def _worst_first(row: dict[str, Any]) -> tuple[Any, ...]:
    """Confirmed regressions first, then failing before passing, then the smallest headroom (rows
    without a budget last)."""
    pct = row["headroom_pct"]
    return (not row.get("confirmed_regression"), row["verdict"] != "fail", pct is None, pct if pct is not None else 0.0,
            row["dag_id"], row["service"], row["endpoint"])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _read(hook: DbApiHook, template: str | Mapping[Dialect, str], params: list[Any],
          dag_ids: Collection[str], required: int = REQUIRED_MIGRATION) -> list[tuple[Any, ...]] | None:
    """Run one read (a template, or one per dialect) with ``dag_ids`` bound into its ``{dags}``
    list; None before the migrations ran. A ``{dags}`` list without a readable DAG returns []
    without asking the database.
    """
    sql = template if isinstance(template, str) else template[dialect_of(hook)]
    mark, dags = hook.placeholder, sorted(dag_ids)
    if "{dags}" in sql and not dags:
        return []
    statement = sql.format(m=mark, dags=", ".join([mark] * len(dags)))
    with _cursor(hook, required) as cur:
        if cur is None:
            return None
        cur.execute(statement, [*params, *dags])
        return list(cur.fetchall())


@contextmanager
def _cursor(hook: DbApiHook, required: int = REQUIRED_MIGRATION) -> Iterator[Any]:
    """A read-only cursor, or None when the schema the read needs (migration ``required``) is not there yet."""
    dialect, mark = dialect_of(hook), hook.placeholder
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        try:
            cur.execute(TABLE_EXISTS_SQL[dialect].format(mark=mark), (VERSION_TABLE,))
            ready = bool(cur.fetchone()[0])
            if ready:
                cur.execute(f"SELECT count(*) FROM {VERSION_TABLE} WHERE version = {mark}", (required,))
                ready = bool(cur.fetchone()[0])
            yield cur if ready else None
        finally:
            conn.rollback()
