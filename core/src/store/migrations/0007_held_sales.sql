-- 0007: held copies of sales this register did not ring, fetched from the server to refund
-- them (GET .../sales/lookup). A held copy is not this register's record: it is in no queue,
-- no journal chain and no upload; it is kept apart from `sales` so that nothing reading
-- `sales` (the queue, the journal, recovery, the receipt numbering) ever sees it.
-- `refunds` is the server's list of the sale's refunds from every register when it was
-- fetched (JSON array of RefundRecord); `tax_settings_id` the settings the server decided
-- the sale with. A table is added; no sale, queue row or movement changes.
CREATE TABLE held_sales (
    id              INTEGER PRIMARY KEY,
    sale_id         TEXT NOT NULL UNIQUE,
    store_id        TEXT NOT NULL,
    receipt_no      TEXT NOT NULL,
    tax_settings_id INTEGER NOT NULL REFERENCES tax_settings (id),
    record          TEXT NOT NULL,
    refunds         TEXT NOT NULL,
    fetched_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX held_sales_by_receipt ON held_sales (store_id, receipt_no);
