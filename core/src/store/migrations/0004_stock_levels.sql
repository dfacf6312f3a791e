-- 0004: stock levels in a narrow table of their own. A sale rewrites the page of every
-- tracked product it sells; product rows are wide (name, SKU, barcodes, price), so a
-- sale's products sat on as many pages as it had lines. Narrow rows put ~150 products on a
-- page, so a sale's products share pages and each sale writes fewer encrypted pages.
-- Every level is copied before the old column goes; no sale, queue row or movement changes.
CREATE TABLE stock_levels (
    store_id    TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    stock_milli INTEGER NOT NULL,
    PRIMARY KEY (store_id, product_id)
) STRICT, WITHOUT ROWID;
INSERT INTO stock_levels (store_id, product_id, stock_milli)
    SELECT store_id, product_id, stock_milli FROM products;
ALTER TABLE products DROP COLUMN stock_milli;
