-- Several instances on one database (src/cluster/): who schedules, and who is alive.

-- The scheduler's lease: one row per name; the holder renews it before expires_at (database time).
CREATE TABLE cluster_leader (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  term BIGINT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);

-- Every running instance says it is alive; a lease owned by an instance whose row expired was lost with it.
CREATE TABLE cluster_instances (
  id TEXT PRIMARY KEY,
  url TEXT,
  version TEXT,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL
);
