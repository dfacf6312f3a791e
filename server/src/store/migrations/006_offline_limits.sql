-- Offline limits: the store's limits (JSON OfflineLimits, as devices receive them in the
-- catalogue); NULL: none. A column is added; nothing is deleted or rewritten.
ALTER TABLE stores ADD COLUMN offline_limits TEXT;
