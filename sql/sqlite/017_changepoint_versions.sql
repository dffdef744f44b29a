-- The releases of a change point for SQLite: the same columns as sql/postgres/017_changepoint_versions.sql.

ALTER TABLE perf_changepoints ADD COLUMN first_version TEXT;
ALTER TABLE perf_changepoints ADD COLUMN previous_version TEXT;
