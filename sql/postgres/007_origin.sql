-- origin: whether a row was measured by a probe or re-derived from its stored histograms by a
-- backfill ('rederived'), and rederived_at: when it was last re-derived (NULL for a measured row).
-- Rows stored before this migration read as measured. The Performance view marks re-derived points.
-- Applied by perf_profiler.storage.migrations.migrate() inside one transaction.

ALTER TABLE perf_metrics
    ADD COLUMN IF NOT EXISTS origin       VARCHAR(16) NOT NULL DEFAULT 'measured'
        CHECK (origin IN ('measured', 'rederived')),
    ADD COLUMN IF NOT EXISTS rederived_at TIMESTAMPTZ;
