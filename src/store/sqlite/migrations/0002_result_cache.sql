-- Result caching (SPEC section 5): finished outputs by cache key, and what
-- the optimizer did for each request.
CREATE TABLE result_cache (
  key TEXT PRIMARY KEY,
  template TEXT NOT NULL,
  output TEXT NOT NULL,
  usage TEXT,
  source_request_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX result_cache_template ON result_cache(template);

ALTER TABLE requests ADD COLUMN optimization TEXT;
