-- Haul 0014: `jobs_fetch` without deduplication. Its keys end in the job's id, so no two
-- entries share a key and a deduplication pass never merges anything: it only costs each
-- insert that finds its leaf page full a pass over that page before the split. The setting
-- applies to later inserts (no rebuild) and takes only a SHARE UPDATE EXCLUSIVE lock.
ALTER INDEX {schema}.jobs_fetch SET (deduplicate_items = off);
