-- The tax settings each sale was decided with, so a register refunding another register's
-- sale (GET .../sales/lookup) reverses its tax with them, never with the store's current
-- ones. Every catalogue load that changes the store's settings keeps them as a new version
-- (tax_settings_history); a sale stores the version the server checked it with. A table and
-- columns are added; nothing is deleted or rewritten. Sales stored before this migration
-- keep no version (NULL): the server cannot tell which settings they were decided with.
CREATE TABLE tax_settings_history (
    store_id    TEXT NOT NULL REFERENCES stores (store_id),
    tax_version BIGINT NOT NULL,
    -- TaxSettings JSON exactly as the store held it.
    settings    TEXT NOT NULL,
    loaded_at   BIGINT NOT NULL,
    PRIMARY KEY (store_id, tax_version)
);
-- 0: no settings yet (no catalogue loaded).
ALTER TABLE stores ADD COLUMN tax_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN tax_version BIGINT;
INSERT INTO tax_settings_history (store_id, tax_version, settings, loaded_at)
SELECT store_id, 1, tax_settings, created_at FROM stores WHERE tax_settings IS NOT NULL;
UPDATE stores SET tax_version = 1 WHERE tax_settings IS NOT NULL;
