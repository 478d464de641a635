-- A lease lost because Allot itself died does not use up an attempt: such
-- recoveries are counted apart (and bounded, against a request that crashes
-- Allot every time it runs).
ALTER TABLE requests ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
-- Usage a worker reported beyond what its job allowed (max_tokens, reserved
-- units): charged as reported, and flagged here (JSON) for the request view
-- and the worker_overuse alert.
ALTER TABLE requests ADD COLUMN overuse TEXT;
CREATE INDEX requests_overuse ON requests(updated_at) WHERE overuse IS NOT NULL;
