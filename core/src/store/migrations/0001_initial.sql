-- 0001: the first schema. Money is stored as decimal TEXT (exact); stock as integer
-- thousandths (weighed goods have up to 3 decimals); times as Unix milliseconds.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row per store whose catalogue this device holds.
CREATE TABLE stores (
    store_id       TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    tax_settings   TEXT NOT NULL,          -- JSON TaxSettings
    catalog_cursor TEXT,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE products (
    id            INTEGER PRIMARY KEY,     -- rowid shared with product_fts
    store_id      TEXT NOT NULL,
    product_id    TEXT NOT NULL,
    sku           TEXT NOT NULL,
    name          TEXT NOT NULL,
    price         TEXT NOT NULL,
    tax_category  TEXT,
    stock_tracked INTEGER NOT NULL,
    stock_milli   INTEGER NOT NULL,
    active        INTEGER NOT NULL,
    barcodes      TEXT NOT NULL,           -- space-separated, mirrored in `barcodes`
    UNIQUE (store_id, product_id),
    UNIQUE (store_id, sku)
) STRICT;

CREATE TABLE barcodes (
    store_id   TEXT NOT NULL,
    barcode    TEXT NOT NULL,
    product_id TEXT NOT NULL,
    PRIMARY KEY (store_id, barcode)
) STRICT, WITHOUT ROWID;

-- Search index over name, SKU and barcodes, kept in step with `products` by triggers.
CREATE VIRTUAL TABLE product_fts USING fts5(
    name, sku, barcodes,
    content = 'products', content_rowid = 'id',
    tokenize = "unicode61 remove_diacritics 2 tokenchars '-_'",
    prefix = '1 2 3'
);
CREATE TRIGGER products_ai AFTER INSERT ON products BEGIN
    INSERT INTO product_fts (rowid, name, sku, barcodes) VALUES (new.id, new.name, new.sku, new.barcodes);
END;
CREATE TRIGGER products_ad AFTER DELETE ON products BEGIN
    INSERT INTO product_fts (product_fts, rowid, name, sku, barcodes) VALUES ('delete', old.id, old.name, old.sku, old.barcodes);
END;
CREATE TRIGGER products_au AFTER UPDATE OF name, sku, barcodes ON products BEGIN
    INSERT INTO product_fts (product_fts, rowid, name, sku, barcodes) VALUES ('delete', old.id, old.name, old.sku, old.barcodes);
    INSERT INTO product_fts (rowid, name, sku, barcodes) VALUES (new.id, new.name, new.sku, new.barcodes);
END;

CREATE TABLE discounts (
    store_id        TEXT NOT NULL,
    discount_id     TEXT NOT NULL,
    definition      TEXT NOT NULL,         -- JSON DiscountRule
    PRIMARY KEY (store_id, discount_id)
) STRICT, WITHOUT ROWID;

-- Gapless receipt numbering per register: bumped inside the sale's transaction.
CREATE TABLE register_seq (
    store_id    TEXT NOT NULL,
    register_id TEXT NOT NULL,
    last_seq    INTEGER NOT NULL,
    PRIMARY KEY (store_id, register_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE sales (
    sale_id        TEXT PRIMARY KEY,       -- UUIDv7, sent on every retry
    store_id       TEXT NOT NULL,
    register_id    TEXT NOT NULL,
    staff_id       TEXT NOT NULL,
    receipt_no     TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    subtotal       TEXT NOT NULL,
    discount_total TEXT NOT NULL,
    net_total      TEXT NOT NULL,
    tax_total      TEXT NOT NULL,
    total          TEXT NOT NULL,
    cash_rounding  TEXT NOT NULL,
    amount_due     TEXT NOT NULL,
    tendered       TEXT NOT NULL,
    change_due     TEXT NOT NULL,
    oversold       INTEGER NOT NULL,
    cart_discount  TEXT,                   -- JSON applied cart discount, if any
    tax_settings   TEXT NOT NULL,          -- JSON TaxSettings the totals were computed with
    synced_at      INTEGER,                -- set when the server acknowledged the sale
    UNIQUE (store_id, register_id, seq)
) STRICT;
CREATE INDEX sales_store_created ON sales (store_id, created_at);

CREATE TABLE sale_lines (
    sale_id       TEXT NOT NULL REFERENCES sales (sale_id),
    line_no       INTEGER NOT NULL,
    product_id    TEXT NOT NULL,
    sku           TEXT NOT NULL,
    name          TEXT NOT NULL,
    unit_price    TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    tax_category  TEXT,
    discount      TEXT,                    -- JSON applied line discount, if any
    amount        TEXT NOT NULL,
    line_discount TEXT NOT NULL,
    cart_discount TEXT NOT NULL,
    net           TEXT NOT NULL,
    tax           TEXT NOT NULL,
    gross         TEXT NOT NULL,
    PRIMARY KEY (sale_id, line_no)
) STRICT, WITHOUT ROWID;

CREATE TABLE sale_payments (
    sale_id   TEXT NOT NULL REFERENCES sales (sale_id),
    idx       INTEGER NOT NULL,
    method    TEXT NOT NULL,
    amount    TEXT NOT NULL,
    reference TEXT,
    PRIMARY KEY (sale_id, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE sale_taxes (
    sale_id      TEXT NOT NULL REFERENCES sales (sale_id),
    rate_id      TEXT NOT NULL,
    label        TEXT NOT NULL,
    percent      TEXT NOT NULL,
    taxable_base TEXT NOT NULL,
    tax          TEXT NOT NULL,
    PRIMARY KEY (sale_id, rate_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    store_id    TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    sale_id     TEXT NOT NULL REFERENCES sales (sale_id),
    delta_milli INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX stock_movements_sale ON stock_movements (sale_id);
CREATE INDEX stock_movements_product ON stock_movements (store_id, product_id);

-- The upload queue: one row per sale the server has not acknowledged yet.
-- A row leaves only when the server acknowledged its sale; no migration may delete rows.
CREATE TABLE outbox (
    sale_id     TEXT PRIMARY KEY REFERENCES sales (sale_id),
    store_id    TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'attention')),
    payload     TEXT NOT NULL,             -- the exact JSON sent on every retry
    enqueued_at INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    reason      TEXT                       -- the server's reason, for sales set aside
) STRICT;
CREATE INDEX outbox_store_state ON outbox (store_id, state, enqueued_at);
