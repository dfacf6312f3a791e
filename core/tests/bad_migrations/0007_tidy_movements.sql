-- "Movements of synced sales are on the server: tidy them up as sales are acknowledged."
-- A trigger that deletes runs on every later acknowledgement.
-- refused: 1
CREATE INDEX stock_movements_sale ON stock_movements (sale_ref);
CREATE TRIGGER sales_synced AFTER UPDATE OF synced_at ON sales
WHEN new.synced_at IS NOT NULL
BEGIN
    SELECT CASE WHEN old.synced_at IS NULL THEN 1 ELSE 0 END;
    DELETE FROM stock_movements WHERE sale_ref = new.id;
END;
