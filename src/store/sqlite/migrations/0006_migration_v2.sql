-- Issue 5, migrating off Orchestrator v2.
-- system: who executes the request: 'allot', or 'v2' (routed to the legacy
--   orchestrator by the rollout, or imported while it was running there).
--   The scheduler never takes up v2 requests and the reaper leaves them alone.
-- external_id: the v2 execution id (imports are idempotent on it).
-- shadow_of: a shadow copy run to compare with the request it copies; not a
--   client's own request.
-- pipeline: stage-by-stage state of a pipeline request (JSON).
ALTER TABLE requests ADD COLUMN system TEXT NOT NULL DEFAULT 'allot';
ALTER TABLE requests ADD COLUMN external_id TEXT;
ALTER TABLE requests ADD COLUMN shadow_of TEXT;
ALTER TABLE requests ADD COLUMN pipeline TEXT;
CREATE UNIQUE INDEX requests_external ON requests(external_id) WHERE external_id IS NOT NULL;
CREATE INDEX requests_shadow ON requests(shadow_of) WHERE shadow_of IS NOT NULL;

-- Shadow comparisons: the same request run by both systems.
CREATE TABLE shadow_results (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  template TEXT NOT NULL,
  primary_system TEXT NOT NULL,
  differences TEXT NOT NULL,
  allot TEXT NOT NULL,
  v2 TEXT NOT NULL
);
CREATE INDEX shadow_results_request ON shadow_results(request_id);
