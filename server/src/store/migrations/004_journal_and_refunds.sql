-- The journal and refunds. Every record keeps the SHA-256 it hashed to when it arrived
-- (record_hash), so the journal audit names a stored record changed afterwards. Refunds are
-- stored beside the sales (kind 'refund', refund_of the sale they reverse): the register's
-- numbering, the stock ledger and the store's totals see them with no join. Rows of earlier
-- builds are sales without a recorded hash. Columns and an index are added; nothing is
-- deleted or rewritten.
ALTER TABLE sales ADD COLUMN kind TEXT NOT NULL DEFAULT 'sale';
ALTER TABLE sales ADD COLUMN refund_of TEXT;
ALTER TABLE sales ADD COLUMN record_hash TEXT;
CREATE INDEX sales_refund_of ON sales (store_id, refund_of) WHERE refund_of IS NOT NULL;
