-- Downstream analytics (DAG perf_trends): regressions against each endpoint's own history,
-- a daily rollup, and a stable view for analysts. Equivalent to sql/postgres/004_trends.sql.

CREATE TABLE IF NOT EXISTS perf_regressions (
    metric_id        TEXT    PRIMARY KEY,   -- the perf_metrics row that regressed
    tenant_id        TEXT    NOT NULL,
    dag_id           TEXT    NOT NULL,
    run_id           TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    endpoint         TEXT    NOT NULL,
    measured_at      TEXT,
    p95_ms           REAL    NOT NULL CHECK (p95_ms >= 0),
    baseline_p95_ms  REAL    NOT NULL CHECK (baseline_p95_ms >= 0),
    mad_ms           REAL    NOT NULL CHECK (mad_ms >= 0),
    threshold_ms     REAL    NOT NULL CHECK (threshold_ms >= 0),
    history_runs     INTEGER NOT NULL CHECK (history_runs > 0),
    method           TEXT    NOT NULL,
    detected_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS perf_regressions_endpoint_idx
    ON perf_regressions (tenant_id, service, endpoint, measured_at);

CREATE TABLE IF NOT EXISTS perf_daily_rollup (
    tenant_id        TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    endpoint         TEXT    NOT NULL,
    day              TEXT    NOT NULL CHECK (date(day) = day),
    runs             INTEGER NOT NULL CHECK (runs > 0),
    failing_runs     INTEGER NOT NULL CHECK (failing_runs >= 0),
    requests         INTEGER NOT NULL CHECK (requests >= 0),
    errors           INTEGER NOT NULL CHECK (errors >= 0),
    p95_median_ms    REAL    NOT NULL,
    p95_max_ms       REAL    NOT NULL,
    throughput_mean  REAL    NOT NULL,
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    PRIMARY KEY (tenant_id, service, endpoint, day)
);

DROP VIEW IF EXISTS perf_analytics_v1;
CREATE VIEW perf_analytics_v1 AS
SELECT
    m.tenant_id, m.service, m.endpoint, m.dag_id, m.run_id, m.run_type,
    m.data_interval_start, m.data_interval_end, m.measured_at,
    m.p50_ms, m.p95_ms, m.p99_ms, m.throughput, m.error_rate, m.requests,
    m.budget_p95_ms, m.verdict,
    (r.metric_id IS NOT NULL) AS regression,
    r.baseline_p95_ms
FROM perf_metrics m
LEFT JOIN perf_regressions r ON r.metric_id = m.id;
