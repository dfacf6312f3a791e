-- Sale ids are unique per store, as on PostgreSQL (sales (store_id, sale_id)): a sale of one
-- store can neither collide with nor reveal another store's sale of the same id. SQLite
-- cannot change a table's primary key, so both tables are rebuilt by copy: the old ones are
-- renamed (sales_v6, stock_movements_v6) and kept exactly as they were, never read again;
-- every row is copied with its rowid and movement id (stock counts' watermarks still hold);
-- the indexes move to the new tables. Nothing is deleted: drop the _v6 tables by hand once a
-- backup holds the migrated file, if the space matters.
ALTER TABLE sales RENAME TO sales_v6;
ALTER TABLE stock_movements RENAME TO stock_movements_v6;
DROP INDEX IF EXISTS sales_by_register_seq;
DROP INDEX IF EXISTS sales_refund_of;
DROP INDEX IF EXISTS movements_by_product;

CREATE TABLE sales (
    sale_id         TEXT NOT NULL,
    store_id        TEXT NOT NULL REFERENCES stores (store_id),
    register_id     TEXT NOT NULL,
    uploaded_by     TEXT NOT NULL,
    receipt_no      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    total           TEXT NOT NULL,
    tax_total       TEXT NOT NULL,
    -- Canonical SaleRecord JSON: compared byte for byte when the id is uploaded again.
    record          TEXT NOT NULL,
    server_totals   TEXT,
    tax_difference  TEXT,
    totals_match    INTEGER NOT NULL,
    tax_check_error TEXT,
    seq             INTEGER NOT NULL DEFAULT 0,
    kind            TEXT NOT NULL DEFAULT 'sale',
    refund_of       TEXT,
    record_hash     TEXT,
    PRIMARY KEY (store_id, sale_id)
) STRICT;
INSERT INTO sales (rowid, sale_id, store_id, register_id, uploaded_by, receipt_no, created_at,
    received_at, currency, total, tax_total, record, server_totals, tax_difference,
    totals_match, tax_check_error, seq, kind, refund_of, record_hash)
SELECT rowid, sale_id, store_id, register_id, uploaded_by, receipt_no, created_at,
    received_at, currency, total, tax_total, record, server_totals, tax_difference,
    totals_match, tax_check_error, seq, kind, refund_of, record_hash
FROM sales_v6 ORDER BY rowid;
CREATE INDEX sales_by_register_seq ON sales (store_id, register_id, seq);
CREATE INDEX sales_refund_of ON sales (store_id, refund_of) WHERE refund_of IS NOT NULL;

CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    store_id    TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    register_id TEXT NOT NULL,
    sale_id     TEXT NOT NULL,
    delta_milli INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    FOREIGN KEY (store_id, sale_id) REFERENCES sales (store_id, sale_id)
) STRICT;
INSERT INTO stock_movements (id, store_id, product_id, register_id, sale_id, delta_milli,
    created_at, received_at)
SELECT id, store_id, product_id, register_id, sale_id, delta_milli, created_at, received_at
FROM stock_movements_v6 ORDER BY id;
CREATE INDEX movements_by_product ON stock_movements (store_id, product_id, id);
