-- Haul 0004: VACUUM must not truncate the jobs table. Truncating the empty pages at its end
-- takes an ACCESS EXCLUSIVE lock, and under load every claim, insert and completion queues
-- behind it: W5 measured stalls of 1-3 s (throughput to ~1,000 jobs/s) each time a vacuum
-- truncated the table after a held xmin horizon ended. The freed pages stay in the file and
-- are reused by new rows; the table keeps its high-water size instead of shrinking.
ALTER TABLE {schema}.jobs SET (vacuum_truncate = false);
