-- "Receipt numbers per store instead of per register": the counters start again, so the
-- next receipt reuses a number already printed.
-- refused: 2
CREATE TABLE store_seq (store_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) STRICT;
INSERT INTO store_seq SELECT store_id, max(last_seq) FROM register_seq GROUP BY store_id;
UPDATE register_seq SET last_seq = 0, head_seq = NULL, head_hash = NULL;
WITH gone AS (SELECT register_id FROM register_seq WHERE last_seq = 0)
DELETE FROM "main"."register_seq" WHERE register_id IN (SELECT register_id FROM gone);
