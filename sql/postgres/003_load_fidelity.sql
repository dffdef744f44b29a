-- Load fidelity (open-loop load, coordinated omission, client saturation): which load model
-- produced a row, how many sends the generator dropped, whether the generator itself was
-- saturated (then the latencies describe it as much as the service), its own scheduling lag,
-- and the service-time percentiles (open loop: from the actual send; p50_ms..p999_ms stay the
-- corrected ones, from the intended send). Rows written before this migration read as a closed
-- loop without drops; their lag and service-time columns are NULL (unknown).
-- Applied by perf_profiler.store.migrate() inside one transaction; keep it free of BEGIN/COMMIT.

ALTER TABLE perf_metrics
    ADD COLUMN IF NOT EXISTS load_model         VARCHAR(16)      NOT NULL DEFAULT 'closed'
        CHECK (load_model IN ('closed', 'open')),
    ADD COLUMN IF NOT EXISTS target_rate        DOUBLE PRECISION CHECK (target_rate > 0),
    ADD COLUMN IF NOT EXISTS dropped            BIGINT           NOT NULL DEFAULT 0 CHECK (dropped >= 0),
    ADD COLUMN IF NOT EXISTS client_saturated   BOOLEAN          NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS saturation_reasons JSONB            NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN IF NOT EXISTS lag_p50_ms         DECIMAL(10,2)    CHECK (lag_p50_ms >= 0),
    ADD COLUMN IF NOT EXISTS lag_p99_ms         DECIMAL(10,2)    CHECK (lag_p99_ms >= 0),
    ADD COLUMN IF NOT EXISTS service_p50_ms     DECIMAL(10,2)    CHECK (service_p50_ms >= 0),
    ADD COLUMN IF NOT EXISTS service_p95_ms     DECIMAL(10,2)    CHECK (service_p95_ms >= 0),
    ADD COLUMN IF NOT EXISTS service_p99_ms     DECIMAL(10,2)    CHECK (service_p99_ms >= 0),
    ADD COLUMN IF NOT EXISTS service_hist       TEXT;

-- A dropped send means the generator did not deliver the load it was asked for.
ALTER TABLE perf_metrics DROP CONSTRAINT IF EXISTS perf_metrics_drops_saturate;
ALTER TABLE perf_metrics
    ADD CONSTRAINT perf_metrics_drops_saturate CHECK (client_saturated OR dropped = 0);
