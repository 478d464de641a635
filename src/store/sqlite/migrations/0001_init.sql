-- Allot schema, version 1. Money is integer nano-USD; times are epoch ms.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  tier TEXT NOT NULL,
  monthly_budget_usd REAL,
  max_concurrent INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
  hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX api_keys_client ON api_keys(client_id);

CREATE TABLE workers (
  name TEXT PRIMARY KEY,
  def TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE templates (
  name TEXT PRIMARY KEY,
  def TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE buckets (
  resource TEXT PRIMARY KEY,
  level REAL NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE budgets (
  client_id TEXT NOT NULL,
  period TEXT NOT NULL,
  spent_nano INTEGER NOT NULL DEFAULT 0,
  held_nano INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (client_id, period)
);

CREATE TABLE requests (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  template TEXT NOT NULL,
  state TEXT NOT NULL,
  urgency TEXT NOT NULL,
  klass INTEGER NOT NULL,
  base_points REAL NOT NULL,
  priority TEXT NOT NULL,
  model TEXT,
  max_tokens INTEGER NOT NULL,
  input TEXT NOT NULL,
  parameters TEXT NOT NULL,
  policy TEXT NOT NULL,
  estimate TEXT NOT NULL,
  hold_nano INTEGER NOT NULL,
  period TEXT NOT NULL,
  reserved TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  lease_token INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  deadline_at INTEGER,
  run_at INTEGER,
  progress TEXT,
  output TEXT,
  error TEXT,
  usage TEXT,
  cost_nano INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT,
  body_hash TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER
);
CREATE UNIQUE INDEX requests_idempotency ON requests(client_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX requests_active ON requests(state) WHERE state IN ('PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY');
CREATE INDEX requests_client ON requests(client_id, created_at);

CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
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
