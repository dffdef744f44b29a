-- perf_metrics for SQLite: the same columns, keys and constraints as sql/postgres/001_perf_metrics.sql.
-- SQLite does not enforce declared types or lengths, so the CHECKs below do it where PostgreSQL's
-- types would: VARCHAR(n) -> length(), DECIMAL(10,2) -> range (a text value fails "<= 99999999.99"),
-- BIGINT -> typeof(), TIMESTAMPTZ -> TEXT ISO-8601 that julianday() can read, JSONB -> json_valid().
-- Timestamps are written fixed-width (YYYY-MM-DDTHH:MM:SS.ffffff+00:00) so they sort as text.
-- id is the UUID as TEXT. Applied by perf_profiler.store.migrate() inside one transaction.

CREATE TABLE IF NOT EXISTS perf_metrics (
    id                  TEXT          NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant_id           VARCHAR(100)  NOT NULL DEFAULT 'default' CHECK (length(tenant_id) BETWEEN 1 AND 100),
    dag_id              VARCHAR(250)  NOT NULL CHECK (length(dag_id) BETWEEN 1 AND 250),
    run_id              VARCHAR(250)  NOT NULL CHECK (length(run_id) BETWEEN 1 AND 250),
    run_type            VARCHAR(50)   CHECK (length(run_type) <= 50),
    logical_date        TEXT          CHECK (julianday(logical_date) IS NOT NULL OR logical_date IS NULL),
    data_interval_start TEXT          CHECK (julianday(data_interval_start) IS NOT NULL OR data_interval_start IS NULL),
    data_interval_end   TEXT          CHECK (julianday(data_interval_end) IS NOT NULL OR data_interval_end IS NULL),
    service             VARCHAR(100)  NOT NULL CHECK (length(service) BETWEEN 1 AND 100),
    endpoint            VARCHAR(200)  NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 200),
    method              VARCHAR(16)   NOT NULL DEFAULT 'GET' CHECK (length(method) <= 16),
    p50_ms              DECIMAL(10,2) NOT NULL CHECK (p50_ms >= 0 AND p50_ms <= 99999999.99),
    p90_ms              DECIMAL(10,2) NOT NULL CHECK (p90_ms >= 0 AND p90_ms <= 99999999.99),
    p95_ms              DECIMAL(10,2) NOT NULL CHECK (p95_ms >= 0 AND p95_ms <= 99999999.99),
    p99_ms              DECIMAL(10,2) NOT NULL CHECK (p99_ms >= 0 AND p99_ms <= 99999999.99),
    p999_ms             DECIMAL(10,2) NOT NULL CHECK (p999_ms >= 0 AND p999_ms <= 99999999.99),
    min_ms              DECIMAL(10,2) NOT NULL CHECK (min_ms >= 0 AND min_ms <= 99999999.99),
    max_ms              DECIMAL(10,2) NOT NULL CHECK (max_ms >= 0 AND max_ms <= 99999999.99),
    mean_ms             DECIMAL(10,2) NOT NULL CHECK (mean_ms >= 0 AND mean_ms <= 99999999.99),
    throughput          DECIMAL(10,2) NOT NULL CHECK (throughput >= 0 AND throughput <= 99999999.99),
    error_rate          REAL          NOT NULL CHECK (error_rate BETWEEN 0 AND 1),
    requests            INTEGER       NOT NULL CHECK (typeof(requests) = 'integer' AND requests >= 0),
    ok_count            INTEGER       NOT NULL CHECK (typeof(ok_count) = 'integer' AND ok_count >= 0),
    error_count         INTEGER       NOT NULL CHECK (typeof(error_count) = 'integer' AND error_count >= 0),
    errors_by_class     TEXT          NOT NULL DEFAULT '{}' CHECK (json_valid(errors_by_class)),
    status_codes        TEXT          NOT NULL DEFAULT '{}' CHECK (json_valid(status_codes)),
    budget_p95_ms       DECIMAL(10,2) CHECK (budget_p95_ms >= 0 AND budget_p95_ms <= 99999999.99),
    budget_error_rate   REAL          CHECK (budget_error_rate BETWEEN 0 AND 1),
    verdict             VARCHAR(16)   NOT NULL CHECK (verdict IN ('pass', 'fail')),
    latency_hist        TEXT,
    error_hist          TEXT,
    started_at          TEXT          CHECK (julianday(started_at) IS NOT NULL OR started_at IS NULL),
    finished_at         TEXT          CHECK (julianday(finished_at) IS NOT NULL OR finished_at IS NULL),
    measured_at         TEXT          NOT NULL CHECK (julianday(measured_at) IS NOT NULL),
    created_at          TEXT          NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at          TEXT          NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    CONSTRAINT perf_metrics_counts_add_up CHECK (ok_count + error_count = requests),
    CONSTRAINT perf_metrics_run_key UNIQUE (tenant_id, dag_id, run_id, service, endpoint)
);

CREATE INDEX IF NOT EXISTS ix_perf_metrics_service_endpoint_measured
    ON perf_metrics (service, endpoint, measured_at);

-- Policy P-6 violations, for people and dashboards.
DROP VIEW IF EXISTS perf_budget_violations;
CREATE VIEW perf_budget_violations AS
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
