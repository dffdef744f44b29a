-- origin and rederived_at for SQLite: the same columns as sql/postgres/007_origin.sql
-- (TIMESTAMPTZ -> TEXT ISO-8601 that julianday() can read).

ALTER TABLE perf_metrics ADD COLUMN origin VARCHAR(16) NOT NULL DEFAULT 'measured'
    CHECK (origin IN ('measured', 'rederived'));
ALTER TABLE perf_metrics ADD COLUMN rederived_at TEXT
    CHECK (julianday(rederived_at) IS NOT NULL OR rederived_at IS NULL);
