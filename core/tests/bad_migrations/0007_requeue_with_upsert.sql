-- "Put every set-aside sale back in line": an upsert over queue rows rewrites the server's
-- verdict and reason of each one it meets.
-- refused: 1
ALTER TABLE outbox ADD COLUMN requeued_at INTEGER;
INSERT INTO outbox (sale_ref, store_id, enqueued_at, bytes)
    SELECT id, store_id, created_at, length(record) FROM sales WHERE synced_at IS NULL
    ON CONFLICT (sale_ref) DO UPDATE SET state = 'pending', reason = NULL, attempts = 0;
