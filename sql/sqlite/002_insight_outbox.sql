-- Write-ahead outbox for Insight Engine deliveries (see plugins/perf_profiler/insight.py).
-- Same shape and rules as sql/postgres/002_insight_outbox.sql. Timestamps are ISO-8601 UTC text
-- of fixed width (YYYY-MM-DDTHH:MM:SS.ffffff+00:00), so they compare correctly as strings.
CREATE TABLE IF NOT EXISTS insight_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    payload         TEXT    NOT NULL,                  -- canonical JSON, posted verbatim
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_attempt_at TEXT    NULL,
    last_status     INTEGER NULL,                      -- HTTP status of the last attempt, if any
    last_error      TEXT    NULL CHECK (length(last_error) <= 300),   -- short, never secrets
    delivered_at    TEXT    NULL,
    rejected_at     TEXT    NULL,                      -- 4xx: kept for reporting, not retried
    CONSTRAINT insight_outbox_one_outcome CHECK (delivered_at IS NULL OR rejected_at IS NULL)
);

CREATE INDEX IF NOT EXISTS insight_outbox_pending
    ON insight_outbox (seq)
    WHERE delivered_at IS NULL AND rejected_at IS NULL;
