-- The indexes of the Performance view's reads: the same as sql/postgres/008_dashboard_indexes.sql.

CREATE INDEX IF NOT EXISTS ix_perf_metrics_dashboard
    ON perf_metrics (tenant_id, dag_id, service, endpoint, measured_at DESC);

CREATE INDEX IF NOT EXISTS ix_perf_metrics_run
    ON perf_metrics (dag_id, run_id);
