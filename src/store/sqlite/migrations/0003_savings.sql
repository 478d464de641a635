-- The savings ledger (SPEC section 5): what each optimization saved against
-- running the request as submitted, and how that was estimated.
CREATE TABLE savings (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  template TEXT NOT NULL,
  strategy TEXT NOT NULL,
  usd_nano INTEGER NOT NULL,
  calls INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  method TEXT NOT NULL
);
CREATE INDEX savings_client ON savings(client_id, at);
