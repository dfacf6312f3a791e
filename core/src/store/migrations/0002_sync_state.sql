-- 0002: what the sync engine keeps between runs: per-store sync bookkeeping and a
-- record of each upload attempt's outcome for the operator metrics.

CREATE TABLE sync_state (
    store_id        TEXT PRIMARY KEY,
    last_success_at INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER
) STRICT, WITHOUT ROWID;

-- Sales rung while the device was offline, and whether they completed (for the
-- "success rate during outages" metric). One row per attempt to complete a sale.
CREATE TABLE sale_attempts (
    id         INTEGER PRIMARY KEY,
    store_id   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    offline    INTEGER NOT NULL,
    completed  INTEGER NOT NULL
) STRICT;

-- Time from network-up to queue empty, per reconnect (the "sync latency" metric).
CREATE TABLE sync_latency (
    id          INTEGER PRIMARY KEY,
    store_id    TEXT NOT NULL,
    network_up  INTEGER NOT NULL,
    drained_at  INTEGER NOT NULL,
    sales       INTEGER NOT NULL
) STRICT;
