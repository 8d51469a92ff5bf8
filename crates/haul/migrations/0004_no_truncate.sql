-- Haul 0004: VACUUM must not truncate the jobs table. Truncating the empty pages at its end
-- takes an ACCESS EXCLUSIVE lock, and under load every claim, insert and completion queues
-- behind it for as long as the truncation takes. The freed pages stay in the file and are
-- reused by new rows; the table keeps its high-water size.
ALTER TABLE {schema}.jobs SET (vacuum_truncate = false);
