-- p75_ms for SQLite: the same column as sql/postgres/005_p75.sql (DECIMAL(10,2) -> range CHECK).
-- NULL for rows stored before this migration (a backfill re-derives it from latency_hist).

ALTER TABLE perf_metrics ADD COLUMN p75_ms DECIMAL(10,2) CHECK (p75_ms >= 0 AND p75_ms <= 99999999.99);
