-- Haul 0005: unique jobs. A job with a unique key holds it while its state is in its
-- `unique_states` (a bitmask, one bit per state, the same numbers as `haul::UniqueStates`). The
-- partial unique index enforces it: concurrent inserts wait for each other's commit or
-- rollback, so there is never a second job nor a duplicate reported for a job that rolled back.
ALTER TABLE {schema}.jobs ADD COLUMN unique_key text, ADD COLUMN unique_states integer;
CREATE UNIQUE INDEX jobs_unique ON {schema}.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND (unique_states & CASE state
        WHEN 'pending' THEN 1 WHEN 'scheduled' THEN 2 WHEN 'available' THEN 4 WHEN 'running' THEN 8
        WHEN 'retryable' THEN 16 WHEN 'completed' THEN 32 WHEN 'cancelled' THEN 64
        WHEN 'discarded' THEN 128 ELSE 0 END) <> 0;
