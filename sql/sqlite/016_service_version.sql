-- service_version for SQLite: the same column as sql/postgres/016_service_version.sql.

ALTER TABLE perf_metrics ADD COLUMN service_version TEXT CHECK (service_version IS NULL OR length(service_version) <= 256);
