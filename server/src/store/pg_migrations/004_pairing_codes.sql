-- One-time pairing codes: an operator makes one for a register (admin pair-register) and a
-- device trades it once for a fresh token (POST /v1/pair). Only the code's digest is stored;
-- a used or expired code stays as a record of who paired when.

CREATE TABLE pairing_codes (
    store_id    TEXT NOT NULL,
    -- SHA-256 of the code (domain-separated from token digests); the code is never stored.
    code_hash   TEXT NOT NULL,
    register_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- Server clock (Unix ms); the code is refused from then on.
    expires_at  BIGINT NOT NULL,
    -- Set once, when a device redeemed it; a used code is refused.
    used_at     BIGINT,
    PRIMARY KEY (store_id, code_hash),
    FOREIGN KEY (store_id, register_id) REFERENCES registers (store_id, register_id)
);
-- A device sends only the code, so it is looked up by digest alone.
CREATE INDEX pairing_codes_by_hash ON pairing_codes (code_hash);
