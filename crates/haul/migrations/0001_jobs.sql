-- Haul 0001: the jobs table, its indexes, and the leader lease.
-- `{schema}` is replaced with Haul's (validated, quoted) schema name.

CREATE TABLE {schema}.jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
);

-- The fetch: the next available jobs of one queue, by priority then age.
CREATE INDEX jobs_fetch ON {schema}.jobs (queue, priority, run_at, id) WHERE state = 'available';
-- The scheduler: scheduled and retryable jobs whose time has come.
CREATE INDEX jobs_due ON {schema}.jobs (run_at) WHERE state IN ('scheduled', 'retryable');
-- The rescuer: running jobs whose lease ran out.
CREATE INDEX jobs_lease ON {schema}.jobs (lease_expires_at) WHERE state = 'running';
-- The cleaner and the dead-letter listing: final jobs by state and age.
CREATE INDEX jobs_finalized ON {schema}.jobs (state, finalized_at)
    WHERE state IN ('completed', 'cancelled', 'discarded');

-- A queue table churns: leave room for updates on each page and vacuum early.
ALTER TABLE {schema}.jobs SET (
    fillfactor = 90,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);

-- The maintenance leader: one row per election, held by a lease (works through PgBouncer).
CREATE TABLE {schema}.leader (
    name       text        PRIMARY KEY,
    leader_id  text        NOT NULL,
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
