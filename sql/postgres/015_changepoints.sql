-- Change points of each tenant × DAG × service × endpoint's series (DAG perf_trends, issue 15):
-- regressions and improvements attributed to the first run of the new level, suspect nights
-- (outliers), drift. Re-detection rewrites detection columns only; the acknowledgement columns
-- are a person's and survive it. The shown state is 'acknowledged' when acknowledged_at is set.

CREATE TABLE IF NOT EXISTS perf_changepoints (
    tenant_id            VARCHAR(100)     NOT NULL,
    dag_id               VARCHAR(250)     NOT NULL,
    service              VARCHAR(100)     NOT NULL,
    endpoint             VARCHAR(200)     NOT NULL,
    metric               VARCHAR(40)      NOT NULL,   -- the series: p95_ms
    kind                 VARCHAR(20)      NOT NULL CHECK (kind IN ('regression', 'improvement', 'outlier', 'drift')),
    run_id               VARCHAR(250)     NOT NULL,   -- the first run of the new level (or the outlier night)
    metric_id            UUID             NOT NULL,
    data_interval_start  TIMESTAMPTZ,
    data_interval_end    TIMESTAMPTZ,
    measured_at          TIMESTAMPTZ,
    state                VARCHAR(20)      NOT NULL CHECK (state IN ('suspected', 'confirmed', 'recovered')),
    effect               DOUBLE PRECISION NOT NULL,   -- relative: level after / level before - 1
    z                    DOUBLE PRECISION NOT NULL,
    confirmed_run_id     VARCHAR(250),
    recovered_run_id     VARCHAR(250),
    method               VARCHAR(200)     NOT NULL,
    notified_at          TIMESTAMPTZ,
    acknowledged_at      TIMESTAMPTZ,
    acknowledged_by      VARCHAR(250),
    ack_note             TEXT,
    updated_at           TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, dag_id, service, endpoint, metric, kind, run_id)
);
CREATE INDEX IF NOT EXISTS perf_changepoints_state_idx ON perf_changepoints (kind, state, acknowledged_at);
