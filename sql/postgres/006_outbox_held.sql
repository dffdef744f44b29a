-- Entries the Insight Engine answered 413 (payload too large) are held aside: not pending, not
-- rejected, so they never block the entries behind them. `perf-profiler outbox requeue --held`
-- sets held_at back to NULL (pending again).
ALTER TABLE insight_outbox ADD COLUMN IF NOT EXISTS held_at TIMESTAMPTZ NULL;

DROP INDEX IF EXISTS insight_outbox_pending;
CREATE INDEX IF NOT EXISTS insight_outbox_pending
    ON insight_outbox (seq)
    WHERE delivered_at IS NULL AND rejected_at IS NULL AND held_at IS NULL;
