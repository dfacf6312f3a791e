-- 0006: offline limits. stores gains the store's offline limits as its catalogue carried
-- them (JSON OfflineLimits; NULL: none). offline_window holds each store's open offline
-- window: the offline time counted up to its checkpoint, the wall and boot clocks then, and
-- the card and cash totals of its sales. A row exists only while a window is open; no sale,
-- queue row or movement changes.
ALTER TABLE stores ADD COLUMN offline_limits TEXT;
CREATE TABLE offline_window (
    store_id   TEXT PRIMARY KEY,
    opened_at  INTEGER NOT NULL,  -- wall clock at the first sale (Unix ms; display only)
    offline_ms INTEGER NOT NULL,  -- offline time counted up to the checkpoint
    wall_at    INTEGER NOT NULL,  -- wall clock at the checkpoint (Unix ms)
    boot_at    INTEGER,           -- boot clock at the checkpoint (ms since boot; NULL: none)
    card_total TEXT NOT NULL,     -- decimal
    cash_total TEXT NOT NULL,     -- decimal
    sales      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
