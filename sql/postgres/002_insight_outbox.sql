-- Write-ahead outbox for Insight Engine deliveries (see plugins/perf_profiler/insight.py).
-- A payload is inserted before it is posted, and seq gives the delivery order (oldest first).
-- An entry is pending while delivered_at and rejected_at are both NULL. Rows are never deleted
-- by the pipeline: a delivered key stays here, so re-enqueueing it is a no-op (UNIQUE key).
-- Timestamps are written by the application as ISO-8601 UTC text; the defaults are for manual use.
CREATE TABLE IF NOT EXISTS insight_outbox (
    seq             BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT        NOT NULL UNIQUE,
    payload         TEXT        NOT NULL,              -- canonical JSON, posted verbatim
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_attempt_at TIMESTAMPTZ NULL,
    last_status     INTEGER     NULL,                  -- HTTP status of the last attempt, if any
    last_error      TEXT        NULL CHECK (length(last_error) <= 300),   -- short, never secrets
    delivered_at    TIMESTAMPTZ NULL,
    rejected_at     TIMESTAMPTZ NULL,                  -- 4xx: kept for reporting, not retried
    CONSTRAINT insight_outbox_one_outcome CHECK (delivered_at IS NULL OR rejected_at IS NULL)
);

CREATE INDEX IF NOT EXISTS insight_outbox_pending
    ON insight_outbox (seq)
    WHERE delivered_at IS NULL AND rejected_at IS NULL;
