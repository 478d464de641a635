-- Shadow comparisons under way: kept so that a restart resumes them instead
-- of dropping them. A row goes when its comparison is recorded or abandoned.
CREATE TABLE shadow_pending (
  request_id TEXT PRIMARY KEY,
  at INTEGER NOT NULL
);
