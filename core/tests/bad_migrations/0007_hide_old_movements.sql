-- "Hide the movements of last year from the stock screen": a TEMP VIEW named like the
-- table stands in for it, and later inserts through the view's name fail or go nowhere.
-- refused: 1
CREATE TEMP VIEW stock_movements AS
    SELECT * FROM main.stock_movements WHERE created_at > 1700000000000;
