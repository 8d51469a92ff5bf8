-- Haul 0013: `jobs_unique` compares keys byte by byte (`COLLATE "C"`), without the locale's
-- `strcoll`. Equality is byte equality in every deterministic collation (a database's default
-- always is), so which keys collide does not change. The column keeps its type and collation,
-- so no statement's result changes type; a query that looks a key up says `COLLATE "C"` to
-- use the index. Rebuilt in this migration's transaction, holding the table's lock meanwhile.
DROP INDEX {schema}.jobs_unique;
CREATE UNIQUE INDEX jobs_unique ON {schema}.jobs (unique_key COLLATE "C")
    WHERE unique_key IS NOT NULL AND (unique_states & CASE state
        WHEN 'pending' THEN 1 WHEN 'scheduled' THEN 2 WHEN 'available' THEN 4 WHEN 'running' THEN 8
        WHEN 'retryable' THEN 16 WHEN 'completed' THEN 32 WHEN 'cancelled' THEN 64
        WHEN 'discarded' THEN 128 ELSE 0 END) <> 0;
