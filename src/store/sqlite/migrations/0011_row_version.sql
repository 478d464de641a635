-- A row version for the D1 store (src/store/d1/): it has no transaction across round trips, so a write
-- decided on a read applies only if the row is still the version read, and bumps it. The SQLite store,
-- one writer in one process, needs none and leaves it 0.
ALTER TABLE requests ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
