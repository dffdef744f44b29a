-- held_at for SQLite: the same column as sql/postgres/006_outbox_held.sql (ISO-8601 UTC text).
ALTER TABLE insight_outbox ADD COLUMN held_at TEXT NULL;

DROP INDEX IF EXISTS insight_outbox_pending;
CREATE INDEX IF NOT EXISTS insight_outbox_pending
    ON insight_outbox (seq)
    WHERE delivered_at IS NULL AND rejected_at IS NULL AND held_at IS NULL;
