-- service_version (issue 15): the service's release, read once per run from its version source
-- (targets config: a response header or a version endpoint). NULL when the service has no version
-- source, the read failed, or the row was stored before this migration. A backfill keeps it.
-- Applied by perf_profiler.storage.migrations.migrate() inside one transaction.

ALTER TABLE perf_metrics
    ADD COLUMN IF NOT EXISTS service_version VARCHAR(256);
