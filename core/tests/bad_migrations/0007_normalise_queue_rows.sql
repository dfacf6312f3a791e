-- "Normalise the bytes column": INSERT OR REPLACE deletes each queue row it replaces
-- (and REPLACE, spelt alone, the same).
-- refused: 2
INSERT OR REPLACE INTO [outbox] (sale_ref, store_id, state, enqueued_at, bytes)
    SELECT o.sale_ref, o.store_id, o.state, o.enqueued_at, length(CAST(s.record AS BLOB))
    FROM outbox o JOIN sales s ON s.id = o.sale_ref;
replace into Stock_Movements select * from stock_movements;
