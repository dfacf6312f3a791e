-- Stores, registers and their token digests, the versioned catalogue, sales and the
-- stock ledger. Money is TEXT (exact decimals); stock is INTEGER thousandths.

CREATE TABLE stores (
    store_id        TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    -- TaxSettings JSON; NULL until the first catalogue load. Its currency is the store's.
    tax_settings    TEXT,
    -- The catalogue cursor: bumped by every load and by every batch that moved stock.
    catalog_version INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE registers (
    store_id    TEXT NOT NULL REFERENCES stores (store_id),
    register_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (store_id, register_id)
) STRICT;

CREATE TABLE tokens (
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash  TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL,
    register_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    FOREIGN KEY (store_id, register_id) REFERENCES registers (store_id, register_id)
) STRICT;

CREATE TABLE products (
    store_id            TEXT NOT NULL REFERENCES stores (store_id),
    product_id          TEXT NOT NULL,
    -- ProductRecord JSON as loaded; its stock is the starting stock.
    record              TEXT NOT NULL,
    name                TEXT NOT NULL,
    stock_tracked       INTEGER NOT NULL,
    base_stock_milli    INTEGER NOT NULL,
    -- Movements with a larger id count on top of the starting stock (a stock count resets it).
    base_after_movement INTEGER NOT NULL DEFAULT 0,
    changed_version     INTEGER NOT NULL,
    -- Kept as a tombstone so deltas can tell devices about the removal.
    removed             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (store_id, product_id)
) STRICT;

CREATE TABLE discounts (
    store_id        TEXT NOT NULL REFERENCES stores (store_id),
    discount_id     TEXT NOT NULL,
    definition      TEXT NOT NULL,
    changed_version INTEGER NOT NULL,
    removed         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (store_id, discount_id)
) STRICT;

CREATE TABLE sales (
    sale_id         TEXT PRIMARY KEY,
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
    tax_check_error TEXT
) STRICT;
CREATE INDEX sales_by_store ON sales (store_id, received_at);

CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    store_id    TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    register_id TEXT NOT NULL,
    sale_id     TEXT NOT NULL REFERENCES sales (sale_id),
    delta_milli INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX movements_by_product ON stock_movements (store_id, product_id, id);
