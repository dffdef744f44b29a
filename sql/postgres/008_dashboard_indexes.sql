-- The indexes of the Performance view's reads (perf_profiler/storage/dashboard_sql.py).
-- ix_perf_metrics_dashboard: the overview walks the distinct tenant x DAG x service x endpoint keys
-- down it (one probe per key) and reads each key's latest runs and its run of 7 days earlier from
-- it; an endpoint's series is one range of it (measured_at >= since). perf_trends' p95 history
-- (the latest earlier runs of one key) reads it too.
-- ix_perf_metrics_run: the rows of one DAG run (the run page; every tenant).
-- Applied by perf_profiler.storage.migrations.migrate() inside one transaction.

CREATE INDEX IF NOT EXISTS ix_perf_metrics_dashboard
    ON perf_metrics (tenant_id, dag_id, service, endpoint, measured_at DESC);

CREATE INDEX IF NOT EXISTS ix_perf_metrics_run
    ON perf_metrics (dag_id, run_id);
