-- Downstream analytics (DAG perf_trends): regressions against each endpoint's own history,
-- a daily rollup, and a stable view for analysts. Applied by perf_profiler.store.migrate().

CREATE TABLE IF NOT EXISTS perf_regressions (
    metric_id        UUID             PRIMARY KEY,   -- the perf_metrics row that regressed
    tenant_id        VARCHAR(100)     NOT NULL,
    dag_id           VARCHAR(250)     NOT NULL,
    run_id           VARCHAR(250)     NOT NULL,
    service          VARCHAR(100)     NOT NULL,
    endpoint         VARCHAR(200)     NOT NULL,
    measured_at      TIMESTAMPTZ,
    p95_ms           DOUBLE PRECISION NOT NULL CHECK (p95_ms >= 0),
    baseline_p95_ms  DOUBLE PRECISION NOT NULL CHECK (baseline_p95_ms >= 0),
    mad_ms           DOUBLE PRECISION NOT NULL CHECK (mad_ms >= 0),
    threshold_ms     DOUBLE PRECISION NOT NULL CHECK (threshold_ms >= 0),
    history_runs     INTEGER          NOT NULL CHECK (history_runs > 0),
    method           VARCHAR(100)     NOT NULL,
    detected_at      TIMESTAMPTZ      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS perf_regressions_endpoint_idx
    ON perf_regressions (tenant_id, service, endpoint, measured_at);

CREATE TABLE IF NOT EXISTS perf_daily_rollup (
    tenant_id        VARCHAR(100)     NOT NULL,
    service          VARCHAR(100)     NOT NULL,
    endpoint         VARCHAR(200)     NOT NULL,
    day              DATE             NOT NULL,
    runs             INTEGER          NOT NULL CHECK (runs > 0),
    failing_runs     INTEGER          NOT NULL CHECK (failing_runs >= 0),
    requests         BIGINT           NOT NULL CHECK (requests >= 0),
    errors           BIGINT           NOT NULL CHECK (errors >= 0),
    p95_median_ms    DOUBLE PRECISION NOT NULL,
    p95_max_ms       DOUBLE PRECISION NOT NULL,
    throughput_mean  DOUBLE PRECISION NOT NULL,
    updated_at       TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, service, endpoint, day)
);

-- Stable for analysts: columns are only ever added to a new version (perf_analytics_v2, ...).
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
