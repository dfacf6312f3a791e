-- Each sale's per-register sequence number as its own column, so the highest one the server
-- holds for a register (what a device recovering its database numbers on from) is one index
-- lookup. Existing rows take it from their stored record; nothing is deleted.
ALTER TABLE sales ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE sales SET seq = json_extract(record, '$.seq');
CREATE INDEX sales_by_register_seq ON sales (store_id, register_id, seq);
