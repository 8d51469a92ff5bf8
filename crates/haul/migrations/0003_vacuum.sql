-- Haul 0003: a queue table churns three row versions per job. Let autovacuum run unthrottled
-- on it and start early; the leader's vacuumer (maintenance/vacuumer.rs) does the rest,
-- since autovacuum visits a database at most once per autovacuum_naptime (1 min by default).
ALTER TABLE {schema}.jobs SET (
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_threshold = 1000
);
