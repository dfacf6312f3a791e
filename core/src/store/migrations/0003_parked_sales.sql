-- 0003: parked sales. A sale the network path refuses even on its own (HTTP 413) stays
-- queued and pending, but is tried again, alone, only once `parked_until` (Unix ms) has
-- passed; `parks` counts those refusals for its backoff. Both columns are added empty:
-- no queued row is removed or rewritten. The error columns of sync_state were never
-- written or read (they hold no sales), so they go.
ALTER TABLE outbox ADD COLUMN parked_until INTEGER;
ALTER TABLE outbox ADD COLUMN parks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state DROP COLUMN last_error;
ALTER TABLE sync_state DROP COLUMN last_error_at;
