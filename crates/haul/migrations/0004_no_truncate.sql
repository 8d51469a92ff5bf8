-- Haul 0004: VACUUM must not truncate the jobs table. Truncating the empty pages at its end
-- takes an ACCESS EXCLUSIVE lock, and under load every claim, insert and completion queues
-- behind it: in W5 probes, the two times the table shrank after a held xmin horizon ended
-- coincided with stalls of 1-3 s (throughput down to 1,369 and ~8,000 jobs/s). The freed pages
-- stay in the file and are reused by new rows; the table keeps its high-water size.
ALTER TABLE {schema}.jobs SET (vacuum_truncate = false);
