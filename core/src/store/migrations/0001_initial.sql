-- 0001: the first schema. Money is stored as decimal TEXT (exact); stock as integer
-- thousandths (weighed goods have up to 3 decimals); times as Unix milliseconds.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Every tax configuration a store has had; sales point at the one they were rung with.
CREATE TABLE tax_settings (
    id         INTEGER PRIMARY KEY,
    store_id   TEXT NOT NULL,
    settings   TEXT NOT NULL,              -- JSON TaxSettings
    UNIQUE (store_id, settings)
) STRICT;

-- One row per store whose catalogue this device holds.
CREATE TABLE stores (
    store_id        TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    tax_settings_id INTEGER NOT NULL REFERENCES tax_settings (id),
    catalog_cursor  TEXT,
    updated_at      INTEGER NOT NULL
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
CREATE INDEX barcodes_product ON barcodes (store_id, product_id);

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

-- A completed sale is an immutable document: `record` is the JSON SaleRecord with its
-- lines (name, unit price and tax as sold), payments and tax breakdown, byte for byte what
-- is uploaded. The columns beside it are copies for listing without parsing. Keeping the
-- sale in one row is what makes completing a sale cost few page writes.
CREATE TABLE sales (
    id              INTEGER PRIMARY KEY,   -- local order; queue and movements refer to it
    sale_id         TEXT NOT NULL UNIQUE,  -- UUIDv7, sent on every retry
    store_id        TEXT NOT NULL,
    register_id     TEXT NOT NULL,
    receipt_no      TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    total           TEXT NOT NULL,
    oversold        INTEGER NOT NULL,
    tax_settings_id INTEGER NOT NULL REFERENCES tax_settings (id),
    record          TEXT NOT NULL,
    synced_at       INTEGER                -- set when the server acknowledged the sale
) STRICT;

CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    sale_ref    INTEGER NOT NULL REFERENCES sales (id),
    store_id    TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    delta_milli INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- The upload queue: one row per sale the server has not acknowledged yet, in the order
-- the sales were made. A row leaves only when the server acknowledged its sale; no
-- migration may delete rows.
CREATE TABLE outbox (
    sale_ref    INTEGER PRIMARY KEY REFERENCES sales (id),
    store_id    TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'attention')),
    enqueued_at INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,          -- size of the sale's record, for storage metrics
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    reason      TEXT                       -- the server's reason, for sales set aside
) STRICT;
