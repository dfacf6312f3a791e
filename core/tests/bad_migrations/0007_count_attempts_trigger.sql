-- "Count upload attempts in the database": a TEMP TRIGGER lives on the app's connection
-- after the migration, and this one rewrites queue rows behind the sync engine's back.
-- refused: 1
CREATE TEMP TRIGGER outbox_attempts AFTER UPDATE OF last_error ON main.outbox
BEGIN
    UPDATE outbox SET attempts = 0, state = 'pending' WHERE sale_ref = new.sale_ref;
END;
