"""The SQL of the Performance view's reads (``dashboard_repo`` runs it), per dialect where it differs.

Every statement is a template: ``{m}`` is the hook's bound-parameter marker and ``{dags}`` a list
of markers, one per readable DAG id (the ids themselves are bound, never formatted in). Each read
is one statement that the indexes of ``sql/*/008_dashboard_indexes.sql`` answer without a scan of
the table:

* the overview walks the distinct tenant × DAG × service × endpoint keys of a tenant down the
  index (a "loose index scan": one index probe per key, however many runs each key has) and takes
  each key's latest ``RECENT`` runs with ``LATERAL`` on PostgreSQL; SQLite (development) ranks the
  tenant's rows with a window function instead;
* an endpoint's series is one index range (``measured_at >= since``);
* the tenants are a loose index scan of ``tenant_id`` (both dialects).
"""
from __future__ import annotations

from perf_profiler.storage.dialect import Dialect

__all__ = [
    "ENDPOINT_SQL",
    "HISTOGRAM_SQL",
    "OVERVIEW_COLUMNS",
    "OVERVIEW_SQL",
    "RUN_SQL",
    "SERIES_COLUMNS",
    "TENANTS_SQL",
]

#: The columns of one overview row, in the order the overview statements return them.
OVERVIEW_COLUMNS = (
    "dag_id", "service", "endpoint", "rn", "id", "run_id", "method", "measured_at", "p50_ms", "p95_ms",
    "p99_ms", "throughput", "error_rate", "verdict", "budget_p95_ms", "regression", "p95_7d_ago_ms",
)

_RECENT = ("id, run_id, method, measured_at, p50_ms, p95_ms, p99_ms, throughput, error_rate, verdict, "
           "budget_p95_ms")

#: Params: tenant, limit (runs per key), readable DAG ids.
OVERVIEW_SQL: dict[Dialect, str] = {
    "postgres": f"""
WITH RECURSIVE keys AS (
    (SELECT tenant_id, dag_id, service, endpoint FROM perf_metrics
      WHERE tenant_id = {{m}} ORDER BY tenant_id, dag_id, service, endpoint LIMIT 1)
    UNION ALL
    SELECT nxt.tenant_id, nxt.dag_id, nxt.service, nxt.endpoint FROM keys CROSS JOIN LATERAL (
        SELECT k.tenant_id, k.dag_id, k.service, k.endpoint FROM perf_metrics k
         WHERE k.tenant_id = keys.tenant_id
           AND (k.dag_id, k.service, k.endpoint) > (keys.dag_id, keys.service, keys.endpoint)
         ORDER BY k.tenant_id, k.dag_id, k.service, k.endpoint LIMIT 1) nxt
)
SELECT keys.dag_id, keys.service, keys.endpoint, recent.rn, recent.id, recent.run_id, recent.method,
       recent.measured_at, recent.p50_ms, recent.p95_ms, recent.p99_ms, recent.throughput, recent.error_rate,
       recent.verdict, recent.budget_p95_ms, (r.metric_id IS NOT NULL), ago.p95_ms
  FROM keys
 CROSS JOIN LATERAL (
        SELECT {_RECENT}, row_number() OVER (ORDER BY measured_at DESC) AS rn FROM perf_metrics p
         WHERE p.tenant_id = keys.tenant_id AND p.dag_id = keys.dag_id AND p.service = keys.service
           AND p.endpoint = keys.endpoint
         ORDER BY p.measured_at DESC LIMIT {{m}}) recent
  LEFT JOIN LATERAL (
        SELECT a.p95_ms FROM perf_metrics a
         WHERE recent.rn = 1 AND a.tenant_id = keys.tenant_id AND a.dag_id = keys.dag_id
           AND a.service = keys.service AND a.endpoint = keys.endpoint
           AND a.measured_at <= recent.measured_at - interval '7 days'
         ORDER BY a.measured_at DESC LIMIT 1) ago ON true
  LEFT JOIN perf_regressions r ON r.metric_id = recent.id
 WHERE keys.dag_id IN ({{dags}})
 ORDER BY keys.dag_id, keys.service, keys.endpoint, recent.rn""",
    "sqlite": f"""
WITH recent AS (
    SELECT tenant_id, dag_id, service, endpoint, {_RECENT},
           row_number() OVER (PARTITION BY dag_id, service, endpoint ORDER BY measured_at DESC) AS rn
      FROM perf_metrics WHERE tenant_id = {{m}}
)
SELECT recent.dag_id, recent.service, recent.endpoint, recent.rn, recent.id, recent.run_id, recent.method,
       recent.measured_at, recent.p50_ms, recent.p95_ms, recent.p99_ms, recent.throughput, recent.error_rate,
       recent.verdict, recent.budget_p95_ms, (r.metric_id IS NOT NULL),
       CASE WHEN recent.rn = 1 THEN (
           SELECT a.p95_ms FROM perf_metrics a
            WHERE a.tenant_id = recent.tenant_id AND a.dag_id = recent.dag_id AND a.service = recent.service
              AND a.endpoint = recent.endpoint
              AND a.measured_at <= strftime('%Y-%m-%dT%H:%M:%f000+00:00', recent.measured_at, '-7 days')
            ORDER BY a.measured_at DESC LIMIT 1) END
  FROM recent LEFT JOIN perf_regressions r ON r.metric_id = recent.id
 WHERE recent.rn <= {{m}} AND recent.dag_id IN ({{dags}})
 ORDER BY recent.dag_id, recent.service, recent.endpoint, recent.rn""",
}

#: The columns of one point of an endpoint's series, in statement order.
SERIES_COLUMNS = (
    "run_id", "measured_at", "p50_ms", "p95_ms", "p99_ms", "throughput", "error_rate", "verdict", "origin",
    "rederived_at", "budget_p95_ms", "has_histogram", "regression", "baseline_p95_ms", "threshold_ms",
)

#: Params: tenant, dag_id, service, endpoint, since (ISO text; the first point of the window).
ENDPOINT_SQL = """
SELECT p.run_id, p.measured_at, p.p50_ms, p.p95_ms, p.p99_ms, p.throughput, p.error_rate, p.verdict, p.origin,
       p.rederived_at, p.budget_p95_ms, (p.latency_hist IS NOT NULL), (r.metric_id IS NOT NULL),
       r.baseline_p95_ms, r.threshold_ms
  FROM perf_metrics p LEFT JOIN perf_regressions r ON r.metric_id = p.id
 WHERE p.tenant_id = {m} AND p.dag_id = {m} AND p.service = {m} AND p.endpoint = {m} AND p.measured_at >= {m}
 ORDER BY p.measured_at"""

#: Params: dag_id, run_id. The rows of one DAG run, every tenant.
RUN_SQL = """
SELECT tenant_id, service, endpoint, method, p50_ms, p95_ms, p99_ms, throughput, error_rate, verdict,
       budget_p95_ms, client_saturated, origin, measured_at
  FROM perf_metrics WHERE dag_id = {m} AND run_id = {m}
 ORDER BY tenant_id, service, endpoint"""

#: Params: tenant, dag_id, run_id, service, endpoint (the unique key).
HISTOGRAM_SQL = """
SELECT run_id, measured_at, latency_hist FROM perf_metrics
 WHERE tenant_id = {m} AND dag_id = {m} AND run_id = {m} AND service = {m} AND endpoint = {m}"""

#: Params: readable DAG ids. Each distinct tenant (one index probe each) that has a readable row.
TENANTS_SQL = """
WITH RECURSIVE t(tenant_id) AS (
    SELECT min(tenant_id) FROM perf_metrics
    UNION ALL
    SELECT (SELECT min(m.tenant_id) FROM perf_metrics m WHERE m.tenant_id > t.tenant_id)
      FROM t WHERE t.tenant_id IS NOT NULL
)
SELECT t.tenant_id FROM t
 WHERE t.tenant_id IS NOT NULL
   AND EXISTS (SELECT 1 FROM perf_metrics e WHERE e.tenant_id = t.tenant_id AND e.dag_id IN ({dags}))
 ORDER BY t.tenant_id"""
