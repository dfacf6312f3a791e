-- The upload path checks the store under its row lock and writes a sale and its movements in
-- one transaction, so these two foreign keys only added a per-row trigger (an index probe
-- and a row lock each) to every stored sale and movement: most of a batch's insert time.
-- Nothing is deleted.
ALTER TABLE sales DROP CONSTRAINT IF EXISTS sales_store_id_fkey;
ALTER TABLE stock_movements DROP CONSTRAINT IF EXISTS stock_movements_store_id_sale_id_fkey;
