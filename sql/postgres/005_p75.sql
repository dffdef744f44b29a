-- p75_ms: the 75th percentile of the successful-response latency, next to p50/p90/p95/p99.
-- NULL for rows stored before this migration (a backfill re-derives it from latency_hist).
-- Applied by perf_profiler.storage.migrations.migrate() inside one transaction.

ALTER TABLE perf_metrics
    ADD COLUMN IF NOT EXISTS p75_ms DECIMAL(10,2) CHECK (p75_ms >= 0);
