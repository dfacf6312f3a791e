-- The PostgreSQL schema: stores, registers and their token digests, the versioned catalogue,
-- sales and the stock ledger. Every primary and unique key starts with store_id, so each
-- table can be distributed by store (Citus) and a store's rows live together. Money is TEXT
-- (exact decimals, summed in Rust); stock is BIGINT thousandths.

CREATE TABLE stores (
    store_id        TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- TaxSettings JSON; NULL until the first catalogue load. Its currency is the store's.
    tax_settings    TEXT,
    -- The catalogue cursor: bumped by every load and by every batch that moved stock.
    catalog_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE registers (
    store_id    TEXT NOT NULL REFERENCES stores (store_id),
    register_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (store_id, register_id)
);

CREATE TABLE tokens (
    store_id    TEXT NOT NULL,
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash  TEXT NOT NULL,
    register_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    PRIMARY KEY (store_id, token_hash),
    FOREIGN KEY (store_id, register_id) REFERENCES registers (store_id, register_id)
);
-- A request names its store in the path, but the token is looked up by digest alone so a
-- token used on another store's path is told apart (403) from an unknown one (401).
CREATE INDEX tokens_by_hash ON tokens (token_hash);

CREATE TABLE products (
    store_id            TEXT NOT NULL REFERENCES stores (store_id),
    product_id          TEXT NOT NULL,
    -- ProductRecord JSON as loaded; its stock is the starting stock.
    record              TEXT NOT NULL,
    name                TEXT NOT NULL,
    stock_tracked       BOOLEAN NOT NULL,
    base_stock_milli    BIGINT NOT NULL,
    -- Movements with a larger id count on top of the starting stock (a stock count resets it).
    base_after_movement BIGINT NOT NULL DEFAULT 0,
    changed_version     BIGINT NOT NULL,
    -- Kept as a tombstone so deltas can tell devices about the removal.
    removed             BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (store_id, product_id)
);

CREATE TABLE discounts (
    store_id        TEXT NOT NULL REFERENCES stores (store_id),
    discount_id     TEXT NOT NULL,
    definition      TEXT NOT NULL,
    changed_version BIGINT NOT NULL,
    removed         BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (store_id, discount_id)
);

CREATE TABLE sales (
    store_id        TEXT NOT NULL REFERENCES stores (store_id),
    sale_id         TEXT NOT NULL,
    register_id     TEXT NOT NULL,
    uploaded_by     TEXT NOT NULL,
    receipt_no      TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    received_at     BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    total           TEXT NOT NULL,
    tax_total       TEXT NOT NULL,
    -- Canonical SaleRecord JSON (TEXT, not JSONB: compared byte for byte on a re-upload).
    record          TEXT NOT NULL,
    server_totals   TEXT,
    tax_difference  TEXT,
    totals_match    BOOLEAN NOT NULL,
    tax_check_error TEXT,
    PRIMARY KEY (store_id, sale_id)
);
CREATE INDEX sales_by_register_seq ON sales (store_id, register_id, seq);

CREATE TABLE stock_movements (
    store_id    TEXT NOT NULL,
    -- Within a store, ids grow in the order batches committed (uploads to one store are
    -- serialised by a lock on its row), which is the order the audit replays.
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    product_id  TEXT NOT NULL,
    register_id TEXT NOT NULL,
    sale_id     TEXT NOT NULL,
    delta_milli BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, sale_id) REFERENCES sales (store_id, sale_id)
);
CREATE INDEX movements_by_product ON stock_movements (store_id, product_id, id);
