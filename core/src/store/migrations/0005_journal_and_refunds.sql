-- 0005: the journal and refunds. register_seq gains each register's journal head: the
-- number and SHA-256 of its newest chained record, moved in the same transaction as every
-- record (the row the counter already rewrites, so no page more). Rows of earlier builds
-- have no head: their register's next record opens a journal segment (journal_started).
-- sales gains refund_of, the sale a refund row reverses (NULL for a sale), indexed only
-- where it is set, so completing a sale writes no page of that index.
-- Columns are added empty; no sale, queue row or movement changes.
ALTER TABLE register_seq ADD COLUMN head_seq INTEGER;
ALTER TABLE register_seq ADD COLUMN head_hash TEXT;
ALTER TABLE sales ADD COLUMN refund_of TEXT;
CREATE INDEX sales_refund_of ON sales (refund_of) WHERE refund_of IS NOT NULL;
