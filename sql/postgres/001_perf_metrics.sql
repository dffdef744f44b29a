-- perf_metrics: one row per tenant x DAG run x service x endpoint (see docs/CONTRACTS.md).
-- The seed report's columns and CHECK constraints are kept as they were specified:
-- id UUID, service VARCHAR(100), endpoint VARCHAR(200), p50/p95/p99 DECIMAL(10,2) >= 0,
-- throughput DECIMAL(10,2) >= 0, error_rate BETWEEN 0 AND 1.
-- DECIMAL(10,2) holds up to 99,999,999.99: the histogram ceiling (1 h = 3,600,000 ms) fits.
-- Applied by perf_profiler.store.migrate() inside one transaction; keep it free of BEGIN/COMMIT.

CREATE TABLE IF NOT EXISTS perf_metrics (
    id                  UUID          PRIMARY KEY,
    tenant_id           VARCHAR(100)  NOT NULL DEFAULT 'default' CHECK (tenant_id <> ''),
    dag_id              VARCHAR(250)  NOT NULL CHECK (dag_id <> ''),
    run_id              VARCHAR(250)  NOT NULL CHECK (run_id <> ''),
    run_type            VARCHAR(50),
    logical_date        TIMESTAMPTZ,
    data_interval_start TIMESTAMPTZ,
    data_interval_end   TIMESTAMPTZ,
    service             VARCHAR(100)  NOT NULL CHECK (service <> ''),
    endpoint            VARCHAR(200)  NOT NULL CHECK (endpoint <> ''),
    method              VARCHAR(16)   NOT NULL DEFAULT 'GET',
    p50_ms              DECIMAL(10,2) NOT NULL CHECK (p50_ms >= 0),
    p90_ms              DECIMAL(10,2) NOT NULL CHECK (p90_ms >= 0),
    p95_ms              DECIMAL(10,2) NOT NULL CHECK (p95_ms >= 0),
    p99_ms              DECIMAL(10,2) NOT NULL CHECK (p99_ms >= 0),
    p999_ms             DECIMAL(10,2) NOT NULL CHECK (p999_ms >= 0),
    min_ms              DECIMAL(10,2) NOT NULL CHECK (min_ms >= 0),
    max_ms              DECIMAL(10,2) NOT NULL CHECK (max_ms >= 0),
    mean_ms             DECIMAL(10,2) NOT NULL CHECK (mean_ms >= 0),
    throughput          DECIMAL(10,2) NOT NULL CHECK (throughput >= 0),
    error_rate          DOUBLE PRECISION NOT NULL CHECK (error_rate BETWEEN 0 AND 1),
    requests            BIGINT        NOT NULL CHECK (requests >= 0),
    ok_count            BIGINT        NOT NULL CHECK (ok_count >= 0),
    error_count         BIGINT        NOT NULL CHECK (error_count >= 0),
    errors_by_class     JSONB         NOT NULL DEFAULT '{}'::jsonb,
    status_codes        JSONB         NOT NULL DEFAULT '{}'::jsonb,
    budget_p95_ms       DECIMAL(10,2) CHECK (budget_p95_ms >= 0),
    budget_error_rate   DOUBLE PRECISION CHECK (budget_error_rate BETWEEN 0 AND 1),
    verdict             VARCHAR(16)   NOT NULL CHECK (verdict IN ('pass', 'fail')),
    latency_hist        TEXT,
    error_hist          TEXT,
    started_at          TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ,
    measured_at         TIMESTAMPTZ   NOT NULL,
    created_at          TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT perf_metrics_counts_add_up CHECK (ok_count + error_count = requests),
    CONSTRAINT perf_metrics_run_key UNIQUE (tenant_id, dag_id, run_id, service, endpoint)
);

CREATE INDEX IF NOT EXISTS ix_perf_metrics_service_endpoint_measured
    ON perf_metrics (service, endpoint, measured_at);

-- Policy P-6 violations, for people and dashboards.
CREATE OR REPLACE VIEW perf_budget_violations AS
SELECT
    tenant_id,
    dag_id,
    run_id,
    logical_date,
    measured_at,
    service,
    endpoint,
    method,
    p95_ms,
    budget_p95_ms,
    ROUND(p95_ms - budget_p95_ms, 2) AS p95_over_budget_ms,
    error_rate,
    budget_error_rate,
    p50_ms,
    p99_ms,
    throughput,
    requests,
    error_count,
    verdict,
    id
FROM perf_metrics
WHERE verdict = 'fail';
