-- Load fidelity for SQLite: the same columns and constraints as sql/postgres/003_load_fidelity.sql
-- (BOOLEAN -> INTEGER 0/1, JSONB -> TEXT with json_valid(), DECIMAL(10,2) -> range CHECK).
-- Rows written before this migration read as a closed loop without drops; their lag and
-- service-time columns are NULL (unknown). Applied by perf_profiler.store.migrate().

ALTER TABLE perf_metrics ADD COLUMN load_model VARCHAR(16) NOT NULL DEFAULT 'closed'
    CHECK (load_model IN ('closed', 'open'));
ALTER TABLE perf_metrics ADD COLUMN target_rate REAL CHECK (target_rate > 0);
ALTER TABLE perf_metrics ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0
    CHECK (typeof(dropped) = 'integer' AND dropped >= 0);
-- a dropped send means the generator did not deliver the load it was asked for
ALTER TABLE perf_metrics ADD COLUMN client_saturated INTEGER NOT NULL DEFAULT 0
    CHECK (client_saturated IN (0, 1) AND (client_saturated = 1 OR dropped = 0));
ALTER TABLE perf_metrics ADD COLUMN saturation_reasons TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(saturation_reasons));
ALTER TABLE perf_metrics ADD COLUMN lag_p50_ms DECIMAL(10,2) CHECK (lag_p50_ms >= 0 AND lag_p50_ms <= 99999999.99);
ALTER TABLE perf_metrics ADD COLUMN lag_p99_ms DECIMAL(10,2) CHECK (lag_p99_ms >= 0 AND lag_p99_ms <= 99999999.99);
ALTER TABLE perf_metrics ADD COLUMN service_p50_ms DECIMAL(10,2) CHECK (service_p50_ms >= 0 AND service_p50_ms <= 99999999.99);
ALTER TABLE perf_metrics ADD COLUMN service_p95_ms DECIMAL(10,2) CHECK (service_p95_ms >= 0 AND service_p95_ms <= 99999999.99);
ALTER TABLE perf_metrics ADD COLUMN service_p99_ms DECIMAL(10,2) CHECK (service_p99_ms >= 0 AND service_p99_ms <= 99999999.99);
ALTER TABLE perf_metrics ADD COLUMN service_hist TEXT;
