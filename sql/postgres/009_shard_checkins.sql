-- The shards' start line (issue 13): every shard of one service x endpoint checks in here before
-- its counted phase; the first shard that sees all N in (or the start timeout pass) writes the one
-- agreed start into perf_shard_starts, and every shard reads that same row. Times are epoch seconds
-- of THIS server's clock (one clock for every worker; each shard measures its offset to it).
-- Applied by perf_profiler.storage.migrations.migrate() inside one transaction.

CREATE TABLE IF NOT EXISTS perf_shard_checkins (
    dag_id        VARCHAR(250)     NOT NULL,
    run_id        VARCHAR(250)     NOT NULL,
    service       VARCHAR(100)     NOT NULL,
    endpoint      VARCHAR(200)     NOT NULL,
    shard         INTEGER          NOT NULL CHECK (shard >= 0),
    shards        INTEGER          NOT NULL CHECK (shards >= 1 AND shard < shards),
    host          VARCHAR(250)     NOT NULL,
    try_number    INTEGER          NOT NULL,
    checked_in_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (dag_id, run_id, service, endpoint, shard)
);

CREATE TABLE IF NOT EXISTS perf_shard_starts (
    dag_id     VARCHAR(250)     NOT NULL,
    run_id     VARCHAR(250)     NOT NULL,
    service    VARCHAR(100)     NOT NULL,
    endpoint   VARCHAR(200)     NOT NULL,
    shards     INTEGER          NOT NULL CHECK (shards >= 1),
    present    INTEGER          NOT NULL CHECK (present >= 1 AND present <= shards),
    timed_out  BOOLEAN          NOT NULL,
    decided_at DOUBLE PRECISION NOT NULL,
    start_at   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (dag_id, run_id, service, endpoint)
);

-- shards: per-shard host, try, counted window (server clock), counts and start-line outcome of a
-- sharded row (NULL for an unsharded one); shards_not_concurrent: the shards' counted windows did
-- not all overlap (a timed-out start line, a shard retried after its siblings' start).
ALTER TABLE perf_metrics
    ADD COLUMN IF NOT EXISTS shards                JSONB,
    ADD COLUMN IF NOT EXISTS shards_not_concurrent BOOLEAN NOT NULL DEFAULT FALSE;
