-- "Tidy stale bookkeeping": meta holds the pending receipt-number check and the recorded
-- cipher settings; clearing the check lets a recovered register reuse printed numbers.
-- refused: 2
DELETE FROM meta WHERE key LIKE 'seq_%' OR key LIKE 'receipt_%';
INSERT INTO `meta` (key, value) VALUES ('cipher_settings', 'default')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
