-- "Copy the products faster": with the journal off a crash half-way through the migration
-- leaves a damaged file instead of the old schema; and the mode is not the migration's.
-- refused: 2
PRAGMA journal_mode = OFF;
CREATE TABLE products_copy AS SELECT * FROM products;
PRAGMA journal_mode = WAL;
