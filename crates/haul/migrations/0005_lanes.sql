-- Haul 0005: the jobs table becomes a partitioned table of lanes, so the space of finished jobs
-- comes back by TRUNCATE instead of VACUUM (maintenance/reclaimer.rs).
--
-- A new job goes to the hot lane of the 3-second period it is inserted in, lanes 0 and 1 in
-- turn (the `lane` default, by the database's clock). Once a lane's period is over and its jobs
-- are done, the leader truncates it: its heap and indexes go back to empty at once, whatever
-- the xmin horizon, and no VACUUM has to scan them. Jobs that would keep a lane from draining
-- for long — finished ones kept for retention, dead letters, jobs scheduled for later — are
-- moved to the cold lane (-1), which is vacuumed as before. Every statement addresses `jobs`,
-- the parent; only the reclaimer names a lane. The rows of the table this migration replaces
-- go to the cold lane. (The table is rewritten: on a large table, run it off-peak.)

ALTER TABLE {schema}.jobs RENAME TO jobs_unlaned;
ALTER TABLE {schema}.jobs_unlaned RENAME CONSTRAINT jobs_pkey TO jobs_unlaned_pkey;
DROP INDEX {schema}.jobs_fetch, {schema}.jobs_due, {schema}.jobs_lease, {schema}.jobs_finalized;

CREATE TABLE {schema}.jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    run_at           timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempted_at     timestamptz,
    finalized_at     timestamptz,
    lease_expires_at timestamptz,
    timeout_ms       integer,
    priority         smallint    NOT NULL DEFAULT 0,
    attempt          smallint    NOT NULL DEFAULT 0,
    max_attempts     smallint    NOT NULL,
    state            text        NOT NULL,
    kind             text        NOT NULL,
    queue            text        NOT NULL,
    attempted_by     text,
    args             jsonb       NOT NULL,
    metadata         jsonb       NOT NULL DEFAULT '{}',
    tags             text[]      NOT NULL DEFAULT '{}',
    errors           jsonb[]     NOT NULL DEFAULT '{}',
    cancel_requested_at timestamptz,
    -- the hot lane of the insert's 3-second period (keep in step with db/lane.rs)
    lane             smallint    NOT NULL
        DEFAULT (floor(date_part('epoch', clock_timestamp()) / 3)::bigint % 2)::smallint,
    -- ids come from the identity alone; the key names the lane because a partitioned table's
    -- keys must include its partition key
    PRIMARY KEY (id, lane),
    CONSTRAINT jobs_state_known CHECK (state IN ('pending', 'scheduled', 'available', 'running',
        'retryable', 'completed', 'cancelled', 'discarded')),
    CONSTRAINT jobs_kind_length CHECK (char_length(kind) BETWEEN 1 AND 128),
    CONSTRAINT jobs_queue_length CHECK (char_length(queue) BETWEEN 1 AND 128),
    CONSTRAINT jobs_priority_range CHECK (priority BETWEEN -10 AND 10),
    CONSTRAINT jobs_attempts_valid CHECK (max_attempts > 0 AND attempt >= 0),
    CONSTRAINT jobs_timeout_positive CHECK (timeout_ms IS NULL OR timeout_ms > 0),
    CONSTRAINT jobs_finalized_iff_final CHECK (
        (state IN ('completed', 'cancelled', 'discarded')) = (finalized_at IS NOT NULL)),
    CONSTRAINT jobs_running_has_lease CHECK (state <> 'running' OR lease_expires_at IS NOT NULL)
) PARTITION BY LIST (lane);

CREATE TABLE {schema}.jobs_lane_0 PARTITION OF {schema}.jobs FOR VALUES IN (0);
CREATE TABLE {schema}.jobs_lane_1 PARTITION OF {schema}.jobs FOR VALUES IN (1);
CREATE TABLE {schema}.jobs_cold PARTITION OF {schema}.jobs FOR VALUES IN (-1);

INSERT INTO {schema}.jobs (id, run_at, created_at, attempted_at, finalized_at, lease_expires_at,
    timeout_ms, priority, attempt, max_attempts, state, kind, queue, attempted_by, args, metadata,
    tags, errors, cancel_requested_at, lane)
OVERRIDING SYSTEM VALUE
SELECT id, run_at, created_at, attempted_at, finalized_at, lease_expires_at, timeout_ms, priority,
    attempt, max_attempts, state, kind, queue, attempted_by, args, metadata, tags, errors,
    cancel_requested_at, -1
FROM {schema}.jobs_unlaned;
SELECT setval(pg_get_serial_sequence('{schema}.jobs', 'id'),
              (SELECT coalesce(max(id), 0) + 1 FROM {schema}.jobs_unlaned), false);
DROP TABLE {schema}.jobs_unlaned;

-- The same indexes as 0001, on every lane.
CREATE INDEX jobs_fetch ON {schema}.jobs (queue, priority, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_due ON {schema}.jobs (run_at) WHERE state IN ('scheduled', 'retryable');
CREATE INDEX jobs_lease ON {schema}.jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_finalized ON {schema}.jobs (state, finalized_at)
    WHERE state IN ('completed', 'cancelled', 'discarded');

-- The storage settings of 0001, 0003 and 0004, on every lane (a partitioned table has none).
ALTER TABLE {schema}.jobs_lane_0 SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_threshold = 1000, vacuum_truncate = false);
ALTER TABLE {schema}.jobs_lane_1 SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_threshold = 1000, vacuum_truncate = false);
ALTER TABLE {schema}.jobs_cold SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_threshold = 1000, vacuum_truncate = false);
