"""(f) The Performance view's reads on PostgreSQL at scale, with and without the 008 indexes.

A throwaway database gets ``endpoints`` × ``runs`` perf_metrics rows (default 50 × 10,000 =
500,000, one run an hour, so 90 days are 2,160 runs of an endpoint), each with a small but real
HDR latency histogram (16 distinct ones, 200 samples each), bulk-loaded with COPY, plus a
regression recorded for one run in a hundred. Then, for the overview of the tenant and for one
endpoint's 90-day series (the statements of ``perf_profiler.storage.dashboard_sql`` with the
parameters ``dashboard_repo`` binds):

* the server's execution time (``EXPLAIN (ANALYZE)``), median of ``repeats``;
* the whole repository call (``time.perf_counter``: connection, schema check, query, rows to
  dicts, the overview's baselines), median of ``repeats``;
* whether the plan reads ``ix_perf_metrics_dashboard``;

then the same after ``DROP INDEX`` of the 008 indexes, side by side.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

INDEXES = ("ix_perf_metrics_dashboard", "ix_perf_metrics_run")
DAG_ID = "perf_profiler"
CONN_ID = "perf_bench_dashboard_db"


def bench_dashboard(pg_dsn: str, endpoints: int = 50, runs: int = 10_000, repeats: int = 7) -> dict[str, Any]:
    """Create, fill, measure and drop one database; the numbers (or why it was skipped)."""
    import psycopg

    try:
        admin = psycopg.connect(pg_dsn, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        return {"skipped": f"no PostgreSQL at {pg_dsn}: {str(exc).strip()[:200]}"}
    name = f"perf_bench_dash_{uuid.uuid4().hex[:10]}"
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="perf-bench-airflow-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{pg_dsn.rsplit('/', 1)[0]}/{name}"
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = dsn
    try:
        return _measure(dsn, endpoints, runs, repeats)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _measure(dsn: str, endpoints: int, runs: int, repeats: int) -> dict[str, Any]:
    import psycopg

    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.migrations import migrate

    hook = get_hook(CONN_ID)
    migrate(hook)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        _load(conn, endpoints, runs, now)
        load_s = time.perf_counter() - started
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('perf_metrics'))").fetchone()
        with_indexes = _queries(conn, hook, now, repeats)
        for index in INDEXES:
            conn.execute(f"DROP INDEX {index}")
        conn.execute("ANALYZE perf_metrics")
        without = _queries(conn, hook, now, 1)  # seconds per statement without them: once is enough
    return {"rows": endpoints * runs, "endpoints": endpoints, "runs_per_endpoint": runs, "run_every": "1 h",
            "load_s": round(load_s, 1), "table_size": size[0] if size else None, "repeats": repeats,
            "with_indexes": with_indexes, "without_indexes": without}


def _load(conn: Any, endpoints: int, runs: int, now: datetime) -> None:
    """COPY ``endpoints`` × ``runs`` rows (prepared once from one real row, varied per run)."""
    from perf_profiler.model.columns import ROW_COLUMNS
    from perf_profiler.model.identity import make_row_id
    from perf_profiler.storage.row_binding import prepare_row

    template, hists = _template_row(now)
    base = list(prepare_row(template))
    at = {column: ROW_COLUMNS.index(column) for column in (
        "id", "run_id", "service", "endpoint", "measured_at", "started_at", "finished_at", "p50_ms", "p95_ms",
        "p99_ms", "latency_hist", "logical_date", "data_interval_start", "data_interval_end", "run_type")}
    with conn.cursor() as cur, cur.copy(f"COPY perf_metrics ({', '.join(ROW_COLUMNS)}) FROM STDIN") as copy:
        for run in range(runs):
            when = now - timedelta(hours=runs - 1 - run)
            stamp = when.isoformat()
            run_id = f"manual__{stamp}"
            for e in range(endpoints):
                service, endpoint = f"service-{e // 10:02d}", f"/endpoint/{e % 10}"
                row = base.copy()
                p95 = 40.0 + (e % 7) * 5 + ((run * 7919 + e * 104729) % 23)
                row[at["id"]] = make_row_id("default", DAG_ID, run_id, service, endpoint)
                row[at["run_id"]], row[at["service"]], row[at["endpoint"]] = run_id, service, endpoint
                row[at["measured_at"]] = row[at["finished_at"]] = stamp
                row[at["started_at"]] = (when - timedelta(seconds=10)).isoformat()
                row[at["logical_date"]] = row[at["data_interval_start"]] = row[at["data_interval_end"]] = None
                row[at["run_type"]] = "manual"
                row[at["p50_ms"]], row[at["p95_ms"]], row[at["p99_ms"]] = p95 / 2, p95, p95 * 1.5
                row[at["latency_hist"]] = hists[(run + e) % len(hists)]
                copy.write_row(row)
    conn.execute(
        "INSERT INTO perf_regressions (metric_id, tenant_id, dag_id, run_id, service, endpoint, measured_at, p95_ms, "
        "baseline_p95_ms, mad_ms, threshold_ms, history_runs, method) SELECT id, tenant_id, dag_id, run_id, service, "
        "endpoint, measured_at, p95_ms, p95_ms * 0.8, 1, p95_ms * 0.9, 20, 'bench' FROM perf_metrics "
        "WHERE abs(hashtext(run_id || endpoint)) % 100 = 0")
    conn.execute("VACUUM ANALYZE perf_metrics")
    conn.execute("ANALYZE perf_regressions")


def _template_row(now: datetime) -> tuple[dict[str, Any], list[str]]:
    """One realistic row (built as the pipeline builds it) and 16 small real latency histograms."""
    import numpy as np

    from perf_profiler.analysis import histogram
    from perf_profiler.analysis.reduce import summarize_endpoint
    from perf_profiler.analysis.rows import build_row
    from perf_profiler.model.identity import RunIdentity
    from perf_profiler.model.targets import Budget

    rng = np.random.default_rng(11)
    hists = []
    for _ in range(16):
        h = histogram.new_histogram()
        histogram.record_many(h, rng.lognormal(np.log(20_000), 0.6, 200).astype(int) + 1)
        hists.append(histogram.encode(h))
    finished = now.timestamp()
    part = {"endpoint": "/x", "method": "GET", "path": "/x", "started_at": finished - 10, "finished_at": finished,
            "requests": 200, "ok": 200, "errors": {}, "status_codes": {"200": 200}, "latency_hist": hists[0],
            "error_hist": histogram.encode(histogram.new_histogram())}
    identity = RunIdentity(dag_id=DAG_ID, run_id=f"manual__{now.isoformat()}", run_type="manual")
    return build_row(summarize_endpoint("svc", "/x", [part]), Budget(), identity), hists


def _queries(conn: Any, hook: Any, now: datetime, repeats: int) -> dict[str, Any]:
    """Server time, call time and plan of the overview and of one endpoint's 90-day series."""
    from perf_profiler.storage import dashboard_repo as repo
    from perf_profiler.storage.dashboard_sql import ENDPOINT_SQL, OVERVIEW_SQL
    from perf_profiler.storage.row_binding import timestamp_text

    readable = frozenset({DAG_ID})
    since = now - timedelta(days=90)
    key = {"tenant": "default", "dag_id": DAG_ID, "service": "service-02", "endpoint": "/endpoint/3"}
    statements: dict[str, tuple[str, list[Any], Callable[[], Any]]] = {
        "overview": (OVERVIEW_SQL["postgres"].format(m="%s", dags="%s"), ["default", repo.RECENT_RUNS, DAG_ID],
                     lambda: repo.overview(hook, "default", readable)),
        "endpoint_90d": (ENDPOINT_SQL.format(m="%s", dags=""),
                         [key["tenant"], key["dag_id"], key["service"], key["endpoint"],
                          timestamp_text(since, "since")],
                         lambda: repo.endpoint_series(hook, since=since, dag_ids=readable, **key)),
    }
    out: dict[str, Any] = {}
    for name, (sql, params, call) in statements.items():
        plans = [_explain(conn, sql, params) for _ in range(repeats)]
        calls = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = call()
            calls.append(time.perf_counter() - started)
        text = json.dumps(plans[-1]["Plan"])
        out[name] = {
            "server_ms": round(statistics.median(p["Execution Time"] for p in plans), 2),
            "planning_ms": round(statistics.median(p["Planning Time"] for p in plans), 2),
            "call_ms": round(1000 * statistics.median(calls), 2),
            "uses_dashboard_index": INDEXES[0] in text,
            "scan_nodes": sorted({n for n in ("Index Scan", "Index Only Scan", "Seq Scan", "Bitmap Heap Scan")
                                  if f'"{n}"' in text}),
            "result_rows": len(result) if isinstance(result, list) else len(result.points),
        }
    return out


def _explain(conn: Any, sql: str, params: list[Any]) -> dict[str, Any]:
    (plan,) = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params).fetchone()
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]


def dashboard_targets(f: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets for (f): < 300 ms of server time each, with the index in the plan."""
    out = {}
    for name in ("overview", "endpoint_90d"):
        measured = f["with_indexes"][name]
        out[f"f_{name}_server_time"] = {"target": "< 300 ms server time, ix_perf_metrics_dashboard in the plan",
                                        "value": measured["server_ms"],
                                        "met": measured["server_ms"] < 300 and measured["uses_dashboard_index"]}
    return out


def dashboard_lines(f: dict[str, Any], t: dict[str, Any]) -> list[str]:
    """The rows of (f) in the bench table (without the indexes: one run of each)."""
    if "skipped" in f:
        return [f"| f | Performance view reads on PostgreSQL | skipped: {f['skipped']} | | | < 300 ms | – |"]
    lines = []
    for name, what in (("overview", "overview of the tenant (every endpoint, last 30 runs, 7 d earlier)"),
                       ("endpoint_90d", "one endpoint's 90-day series")):
        with_, without = f["with_indexes"][name], f["without_indexes"][name]
        met = t[f"f_{name}_server_time"]["met"]
        lines.append(
            f"| f | {what}, {f['rows']:,} rows with histograms ({f['endpoints']} endpoints × "
            f"{f['runs_per_endpoint']:,} runs), median of {f['repeats']} "
            f"| {with_['server_ms']:.1f} ms server ({with_['call_ms']:.0f} ms whole call), index in plan: "
            f"{'yes' if with_['uses_dashboard_index'] else 'NO'} "
            f"| without the 008 indexes (one run): {without['server_ms']:.1f} ms server "
            f"({without['call_ms']:.0f} ms call) "
            f"| {without['server_ms'] / max(with_['server_ms'], 0.001):.1f}× faster with them "
            f"| < 300 ms server | {'**met**' if met else '**not met**'} |")
    return lines
