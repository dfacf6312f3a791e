-- "Fix the standard rate in place": sales point at the tax settings they were rung with,
-- so rewriting a row changes the tax of every sale already made under it.
-- refused: 2
UPDATE tax_settings SET settings = replace(settings, '"0.20"', '"0.21"');
INSERT OR REPLACE INTO [tax_settings] (id, store_id, settings)
    SELECT id, store_id, settings FROM tax_settings WHERE store_id = 'uk-01';
