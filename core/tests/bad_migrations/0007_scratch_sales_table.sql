-- "Stage the new columns in a scratch table": a TEMP table named sales shadows the real
-- one on the migrating connection, so every sale rung until the app restarts goes into a
-- table that vanishes with it.
-- refused: 1
CREATE TEMP TABLE sales AS SELECT * FROM main.sales WHERE 0;
ALTER TABLE main.sales ADD COLUMN note TEXT;
