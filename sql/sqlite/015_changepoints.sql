-- Change points of each series (DAG perf_trends, issue 15). Equivalent to sql/postgres/015_changepoints.sql.

CREATE TABLE IF NOT EXISTS perf_changepoints (
    tenant_id            TEXT NOT NULL,
    dag_id               TEXT NOT NULL,
    service              TEXT NOT NULL,
    endpoint             TEXT NOT NULL,
    metric               TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('regression', 'improvement', 'outlier', 'drift')),
    run_id               TEXT NOT NULL,
    metric_id            TEXT NOT NULL,
    data_interval_start  TEXT,
    data_interval_end    TEXT,
    measured_at          TEXT,
    state                TEXT NOT NULL CHECK (state IN ('suspected', 'confirmed', 'recovered')),
    effect               REAL NOT NULL,
    z                    REAL NOT NULL,
    confirmed_run_id     TEXT,
    recovered_run_id     TEXT,
    method               TEXT NOT NULL,
    notified_at          TEXT,
    acknowledged_at      TEXT,
    acknowledged_by      TEXT,
    ack_note             TEXT,
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    PRIMARY KEY (tenant_id, dag_id, service, endpoint, metric, kind, run_id)
);
CREATE INDEX IF NOT EXISTS perf_changepoints_state_idx ON perf_changepoints (kind, state, acknowledged_at);
