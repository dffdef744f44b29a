-- The releases of a change point (issue 15): first_version is the service_version of the first run
-- of the new level (the release that brought it), previous_version the latest service_version stored
-- before that run. NULL when those runs have none. Re-detection rewrites both.
-- Applied by perf_profiler.storage.migrations.migrate() inside one transaction.

ALTER TABLE perf_changepoints ADD COLUMN IF NOT EXISTS first_version VARCHAR(256);
ALTER TABLE perf_changepoints ADD COLUMN IF NOT EXISTS previous_version VARCHAR(256);
