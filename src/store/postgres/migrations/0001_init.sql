-- Allot schema for PostgreSQL: the SQLite schema after its migrations 0001-0010,
-- in one step. Money is integer nano-USD and times are epoch ms, both BIGINT.
--
-- Differences from SQLite, each for a reason:
-- - A JSON payload that may be stored zstd-compressed (requests.input and
--   .output, result_cache.output, refs.data) has two columns: the JSON text,
--   byte for byte, or its zstd frame in <name>_zstd (BYTEA). SQLite keeps
--   either kind of value in one column; PostgreSQL columns have one type.
-- - Text columns that are sorted or compared by range (ids, names, periods,
--   templates) use the "C" collation, so they order byte by byte as in SQLite
--   whatever the database's locale.
-- - JSON is TEXT, not JSONB: it reads back exactly as written (JSONB reorders
--   keys); the one aggregate over JSON (usage by template) casts in the query.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE clients (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  tier TEXT NOT NULL,
  monthly_budget_usd DOUBLE PRECISION,
  max_concurrent INTEGER,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  -- Optimization strategies the client turned off, as JSON: { "cache": false, … }.
  optimizations TEXT
);

CREATE TABLE api_keys (
  hash TEXT PRIMARY KEY,
  client_id TEXT COLLATE "C" NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  prefix TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_client ON api_keys(client_id);

CREATE TABLE workers (
  name TEXT COLLATE "C" PRIMARY KEY,
  def TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE templates (
  name TEXT COLLATE "C" PRIMARY KEY,
  def TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE buckets (
  resource TEXT COLLATE "C" PRIMARY KEY,
  level DOUBLE PRECISION NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE budgets (
  client_id TEXT COLLATE "C" NOT NULL,
  period TEXT COLLATE "C" NOT NULL,
  spent_nano BIGINT NOT NULL DEFAULT 0,
  held_nano BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (client_id, period)
);

CREATE TABLE requests (
  id TEXT COLLATE "C" PRIMARY KEY,
  client_id TEXT COLLATE "C" NOT NULL,
  template TEXT COLLATE "C" NOT NULL,
  state TEXT NOT NULL,
  urgency TEXT NOT NULL,
  klass INTEGER NOT NULL,
  base_points DOUBLE PRECISION NOT NULL,
  priority TEXT NOT NULL,
  model TEXT,
  max_tokens INTEGER NOT NULL,
  input TEXT,
  input_zstd BYTEA,
  parameters TEXT NOT NULL,
  policy TEXT NOT NULL,
  estimate TEXT NOT NULL,
  hold_nano BIGINT NOT NULL,
  period TEXT COLLATE "C" NOT NULL,
  reserved TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  lease_token BIGINT NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  deadline_at BIGINT,
  run_at BIGINT,
  progress TEXT,
  output TEXT,
  output_zstd BYTEA,
  error TEXT,
  usage TEXT,
  cost_nano BIGINT NOT NULL DEFAULT 0,
  idempotency_key TEXT,
  body_hash TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  started_at BIGINT,
  completed_at BIGINT,
  optimization TEXT,
  -- Who executes the request: 'allot', or 'v2' (the legacy orchestrator).
  system TEXT NOT NULL DEFAULT 'allot',
  -- The v2 execution id (imports are idempotent on it).
  external_id TEXT,
  -- A shadow copy run to compare with the request it copies.
  shadow_of TEXT,
  -- Stage-by-stage state of a pipeline request (JSON).
  pipeline TEXT,
  -- Leases lost with their owner (not counted as attempts).
  recoveries INTEGER NOT NULL DEFAULT 0,
  -- Usage beyond what the job allowed (JSON).
  overuse TEXT,
  CONSTRAINT requests_input_one CHECK ((input IS NULL) <> (input_zstd IS NULL)),
  CONSTRAINT requests_output_one CHECK (output IS NULL OR output_zstd IS NULL)
);
CREATE UNIQUE INDEX requests_idempotency ON requests(client_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX requests_active ON requests(state) WHERE state IN ('PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY');
CREATE INDEX requests_client ON requests(client_id, created_at);
CREATE UNIQUE INDEX requests_external ON requests(external_id) WHERE external_id IS NOT NULL;
CREATE INDEX requests_shadow ON requests(shadow_of) WHERE shadow_of IS NOT NULL;
CREATE INDEX requests_completed ON requests(completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX requests_overuse ON requests(updated_at) WHERE overuse IS NOT NULL;

CREATE TABLE audit (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  request_id TEXT,
  client_id TEXT,
  kind TEXT NOT NULL,
  from_state TEXT,
  to_state TEXT,
  actor TEXT NOT NULL,
  data TEXT
);
CREATE INDEX audit_request ON audit(request_id) WHERE request_id IS NOT NULL;
CREATE INDEX audit_client ON audit(client_id, seq) WHERE client_id IS NOT NULL;

-- Result caching: finished outputs by cache key.
CREATE TABLE result_cache (
  key TEXT PRIMARY KEY,
  template TEXT NOT NULL,
  output TEXT,
  output_zstd BYTEA,
  usage TEXT,
  source_request_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  CONSTRAINT result_cache_output_one CHECK ((output IS NULL) <> (output_zstd IS NULL))
);
CREATE INDEX result_cache_template ON result_cache(template);

-- The savings ledger: what each optimization saved, and how that was estimated.
CREATE TABLE savings (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  request_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  template TEXT COLLATE "C" NOT NULL,
  strategy TEXT COLLATE "C" NOT NULL,
  usd_nano BIGINT NOT NULL,
  calls BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  method TEXT NOT NULL
);
CREATE INDEX savings_client ON savings(client_id, at);

-- Payloads passed by reference, readable only by one worker until they expire.
CREATE TABLE refs (
  ref_id TEXT PRIMARY KEY,
  request_id TEXT,
  worker TEXT NOT NULL,
  data TEXT,
  data_zstd BYTEA,
  size_bytes BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  CONSTRAINT refs_data_one CHECK ((data IS NULL) <> (data_zstd IS NULL))
);
CREATE INDEX refs_expiry ON refs(expires_at);

-- Shadow comparisons: the same request run by both systems.
CREATE TABLE shadow_results (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  request_id TEXT NOT NULL,
  template TEXT NOT NULL,
  primary_system TEXT NOT NULL,
  differences TEXT NOT NULL,
  allot TEXT NOT NULL,
  v2 TEXT NOT NULL
);
CREATE INDEX shadow_results_request ON shadow_results(request_id);

-- Shadow comparisons under way, kept so that a restart resumes them.
CREATE TABLE shadow_pending (
  request_id TEXT COLLATE "C" PRIMARY KEY,
  at BIGINT NOT NULL
);

-- Alerts: one row per firing of one condition on one subject; open while resolved_at is NULL.
CREATE TABLE alerts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  fired_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  resolved_at BIGINT
);
CREATE UNIQUE INDEX alerts_open ON alerts(kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_fired ON alerts(fired_at);
