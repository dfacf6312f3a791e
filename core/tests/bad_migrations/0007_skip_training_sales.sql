-- "Training-mode sales must not be queued": a BEFORE INSERT trigger with RAISE(IGNORE)
-- drops the queue row silently, so a sale the cashier saw completed is never uploaded.
-- refused: 1
ALTER TABLE stores ADD COLUMN training INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER outbox_training BEFORE INSERT ON outbox
WHEN (SELECT training FROM stores WHERE store_id = new.store_id) = 1
BEGIN
    SELECT RAISE ( IGNORE );
END;
