-- Alerts with firing/resolved state (SPEC section 8): one row per firing of
-- one condition on one subject; open while resolved_at is NULL.
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  value REAL NOT NULL,
  fired_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  resolved_at INTEGER
);
CREATE UNIQUE INDEX alerts_open ON alerts(kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_fired ON alerts(fired_at);
