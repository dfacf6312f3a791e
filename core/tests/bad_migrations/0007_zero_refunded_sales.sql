-- "Show refunded sales as zero": a trigger that rewrites the refunded sale's total, so an
-- immutable, possibly unsent sale changes after the cashier printed it.
-- refused: 1
CREATE TRIGGER sales_refunded AFTER INSERT ON sales
WHEN new.refund_of IS NOT NULL
BEGIN
    UPDATE "sales" SET total = '0.00' WHERE sale_id = new.refund_of;
END;
