-- Keys that can be listed, revoked and expired (issue 13). A client key gets an id an operator can
-- name (derived from its hash, so keys issued before this migration get the same id the code would
-- give them), an optional expiry and the time it was last used (written at most once a minute).
-- Admin keys beside the one from ALLOT_ADMIN_KEY live in their own table, each with a role:
-- 'admin' may change anything, 'read-only' may only read.
ALTER TABLE api_keys ADD COLUMN id TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
UPDATE api_keys SET id = 'key_' || substr(hash, 1, 16);
CREATE UNIQUE INDEX api_keys_id ON api_keys(id);

CREATE TABLE admin_keys (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'read-only')),
  name TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_used_at INTEGER
);
