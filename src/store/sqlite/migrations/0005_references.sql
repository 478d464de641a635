-- Payloads passed by reference (SPEC section 6, v2 handshake and pipelines):
-- readable only by the worker a request was dispatched to, until they expire.
CREATE TABLE refs (
  ref_id TEXT PRIMARY KEY,
  request_id TEXT,
  worker TEXT NOT NULL,
  data BLOB NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX refs_expiry ON refs(expires_at);
