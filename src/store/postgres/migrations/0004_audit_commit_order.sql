-- The audit log is read by cursor (GET /admin/audit?after=<seq>). seq is numbered when a row is
-- inserted, not when it commits: with several writers a row can commit after one numbered later,
-- and a cursor that had read past it would never see it. Each row now records the transaction that
-- wrote it; a cursor read returns only rows of transactions older than every one still running
-- (pg_snapshot_xmin), so it never passes a row that is yet to commit. Rows written before this
-- migration have no tx and are all committed.
ALTER TABLE audit ADD COLUMN tx xid8;
ALTER TABLE audit ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
