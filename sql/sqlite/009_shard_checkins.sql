-- The shards' start line for SQLite: the same tables and columns as
-- sql/postgres/009_shard_checkins.sql (DOUBLE PRECISION -> REAL, BOOLEAN -> INTEGER 0/1, JSONB -> TEXT).

CREATE TABLE IF NOT EXISTS perf_shard_checkins (
    dag_id        VARCHAR(250) NOT NULL,
    run_id        VARCHAR(250) NOT NULL,
    service       VARCHAR(100) NOT NULL,
    endpoint      VARCHAR(200) NOT NULL,
    shard         INTEGER      NOT NULL CHECK (shard >= 0),
    shards        INTEGER      NOT NULL CHECK (shards >= 1 AND shard < shards),
    host          VARCHAR(250) NOT NULL,
    try_number    INTEGER      NOT NULL,
    checked_in_at REAL         NOT NULL,
    PRIMARY KEY (dag_id, run_id, service, endpoint, shard)
);

CREATE TABLE IF NOT EXISTS perf_shard_starts (
    dag_id     VARCHAR(250) NOT NULL,
    run_id     VARCHAR(250) NOT NULL,
    service    VARCHAR(100) NOT NULL,
    endpoint   VARCHAR(200) NOT NULL,
    shards     INTEGER      NOT NULL CHECK (shards >= 1),
    present    INTEGER      NOT NULL CHECK (present >= 1 AND present <= shards),
    timed_out  INTEGER      NOT NULL CHECK (timed_out IN (0, 1)),
    decided_at REAL         NOT NULL,
    start_at   REAL         NOT NULL,
    PRIMARY KEY (dag_id, run_id, service, endpoint)
);

ALTER TABLE perf_metrics ADD COLUMN shards TEXT CHECK (shards IS NULL OR json_valid(shards));
ALTER TABLE perf_metrics ADD COLUMN shards_not_concurrent INTEGER NOT NULL DEFAULT 0
    CHECK (shards_not_concurrent IN (0, 1));
