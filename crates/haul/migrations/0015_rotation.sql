-- Haul 0015: the jobs table in slots, so the storage of finished jobs is emptied by TRUNCATE
-- rather than left to VACUUM, which cannot clean past a held xmin horizon.
-- `jobs` is LIST-partitioned on `slot`. Slot 0 keeps the jobs that may live long (scheduled,
-- unique, workflow jobs, and those the rotator moves there). Slots 1 and 2 take turns receiving
-- the plain jobs available at insert, by the clock (db/rotation.rs: 30 s each), and the leader's
-- rotator (maintenance/rotator.rs) truncates the other one once no job is left in it.
-- Existing jobs move to slot 0 in this migration's transaction, under the table's lock.
ALTER TABLE {schema}.jobs RENAME TO jobs_before_0015;
ALTER SEQUENCE {schema}.jobs_id_seq RENAME TO jobs_before_0015_id_seq;
ALTER TABLE {schema}.jobs_before_0015 DROP CONSTRAINT jobs_pkey;
DROP INDEX {schema}.jobs_fetch, {schema}.jobs_due, {schema}.jobs_lease, {schema}.jobs_finalized,
    {schema}.jobs_unique, {schema}.jobs_dead, {schema}.jobs_batch, {schema}.jobs_pending;

-- The columns of 0001–0014 with `slot` after the leading ones that are never NULL, so reading
-- it (every row a claim, a move or a direct insert checks) costs no walk over the columns
-- before it; the CHECK constraints copied from the old table below.
CREATE TABLE {schema}.jobs (
    id bigint GENERATED ALWAYS AS IDENTITY,
    run_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    slot smallint NOT NULL DEFAULT 0,
    attempted_at timestamptz,
    finalized_at timestamptz,
    lease_expires_at timestamptz,
    timeout_ms integer,
    priority smallint NOT NULL DEFAULT 0,
    attempt smallint NOT NULL DEFAULT 0,
    max_attempts smallint NOT NULL,
    state text NOT NULL,
    kind text NOT NULL,
    queue text NOT NULL,
    attempted_by text,
    args jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',
    errors jsonb[] NOT NULL DEFAULT '{}',
    cancel_requested_at timestamptz,
    unique_key text,
    unique_states integer,
    batch_id bigint
) PARTITION BY LIST (slot);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
             WHERE conrelid = '{schema}.jobs_before_0015'::regclass AND contype = 'c'
    LOOP
        EXECUTE format('ALTER TABLE {schema}.jobs ADD CONSTRAINT %I %s', r.conname, r.def);
    END LOOP;
END $$;

-- The storage settings of 0001, 0003 and 0004 on each slot (a partitioned table has no storage),
-- and each slot's primary key on `id` alone: a key on the parent would have to include `slot`,
-- and that wider key costs every claim measurably. Ids are still unique over all slots: one
-- sequence draws them, and a job moved to slot 0 keeps its id.
CREATE TABLE {schema}.jobs_0 PARTITION OF {schema}.jobs FOR VALUES IN (0);
CREATE TABLE {schema}.jobs_1 PARTITION OF {schema}.jobs FOR VALUES IN (1);
CREATE TABLE {schema}.jobs_2 PARTITION OF {schema}.jobs FOR VALUES IN (2);
DO $$
DECLARE n int;
BEGIN
    FOR n IN 0..2 LOOP
        EXECUTE format('ALTER TABLE {schema}.%I SET (fillfactor = 90,
            autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02,
            autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0,
            autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_insert_threshold = 1000,
            vacuum_truncate = false)', 'jobs_' || n);
        EXECUTE format('ALTER TABLE {schema}.%I ADD CONSTRAINT %I PRIMARY KEY (id)', 'jobs_' || n, 'jobs_pkey_' || n);
    END LOOP;
END $$;

-- The indexes of 0001, 0005, 0008, 0009, 0013 and 0014, on every slot.
CREATE INDEX jobs_fetch ON {schema}.jobs (queue, priority, run_at, id) WITH (deduplicate_items = off)
    WHERE state = 'available';
CREATE INDEX jobs_due ON {schema}.jobs (run_at) WHERE state IN ('scheduled', 'retryable');
CREATE INDEX jobs_lease ON {schema}.jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_finalized ON {schema}.jobs (state, finalized_at)
    WHERE state IN ('completed', 'cancelled', 'discarded');
-- Unique over all slots: a job with a key is always in slot 0 (inserts and the rotator keep it there).
CREATE UNIQUE INDEX jobs_unique ON {schema}.jobs (unique_key COLLATE "C", slot)
    WHERE unique_key IS NOT NULL AND (unique_states & CASE state
        WHEN 'pending' THEN 1 WHEN 'scheduled' THEN 2 WHEN 'available' THEN 4 WHEN 'running' THEN 8
        WHEN 'retryable' THEN 16 WHEN 'completed' THEN 32 WHEN 'cancelled' THEN 64
        WHEN 'discarded' THEN 128 ELSE 0 END) <> 0;
CREATE INDEX jobs_dead ON {schema}.jobs (queue, kind) WHERE state = 'discarded';
CREATE INDEX jobs_batch ON {schema}.jobs (batch_id, state) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_pending ON {schema}.jobs (id) WHERE state = 'pending';

-- Each slot's index is named after the index it belongs to: `jobs_unique_0`, `jobs_fetch_1`, ...
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname AS child, p.relname AS parent, substring(t.relname FROM 6) AS n
             FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
             JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_index x ON x.indexrelid = c.oid
             JOIN pg_class t ON t.oid = x.indrelid
             WHERE p.relnamespace = '{schema}'::regnamespace AND p.relkind = 'I'
               AND t.relname IN ('jobs_0', 'jobs_1', 'jobs_2')
    LOOP
        EXECUTE format('ALTER INDEX {schema}.%I RENAME TO %I', r.child, r.parent || '_' || r.n);
    END LOOP;
END $$;

-- By name: the new table orders its columns differently.
DO $$
DECLARE cols text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = '{schema}.jobs_before_0015'::regclass AND attnum > 0 AND NOT attisdropped;
    EXECUTE format('INSERT INTO {schema}.jobs (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM {schema}.jobs_before_0015',
                   cols, cols);
END $$;
-- Ids go on from the old sequence, so no id is ever given twice.
SELECT setval(pg_get_serial_sequence('{schema}.jobs', 'id'), last_value, is_called)
FROM {schema}.jobs_before_0015_id_seq;
DROP TABLE {schema}.jobs_before_0015;

-- Plain inserts go straight into slot 1 or 2 (no routing through the parent): a partition
-- does not inherit the identity, so each slot draws its ids from the parent's sequence.
ALTER TABLE {schema}.jobs_1 ALTER COLUMN id SET DEFAULT nextval('{schema}.jobs_id_seq'::regclass);
ALTER TABLE {schema}.jobs_2 ALTER COLUMN id SET DEFAULT nextval('{schema}.jobs_id_seq'::regclass);

-- Empties slot `n` (1 or 2) if it holds no job (the caller picks the slot inserts left): takes the slot's
-- ACCESS EXCLUSIVE lock without waiting (up to `tries` times, 2 ms apart), so no statement
-- ever queues behind it, then checks under the lock, through the partial indexes that cover
-- every state, that no job is left. Returns 'truncated', 'jobs' or 'busy'.
CREATE FUNCTION {schema}.truncate_slot(n smallint, tries integer) RETURNS text
LANGUAGE plpgsql SET jit = off SET enable_seqscan = off SET enable_bitmapscan = off AS $fn$
DECLARE
    rel text := '{schema}.jobs_' || n;
BEGIN
    FOR i IN 1..tries LOOP
        BEGIN
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', rel);
            IF EXISTS (SELECT 1 FROM {schema}.jobs WHERE slot = n AND state = 'available')
               OR EXISTS (SELECT 1 FROM {schema}.jobs WHERE slot = n AND state = 'running')
               OR EXISTS (SELECT 1 FROM {schema}.jobs WHERE slot = n AND state IN ('scheduled', 'retryable'))
               OR EXISTS (SELECT 1 FROM {schema}.jobs WHERE slot = n
                          AND state IN ('completed', 'cancelled', 'discarded'))
               OR EXISTS (SELECT 1 FROM {schema}.jobs WHERE slot = n AND state = 'pending') THEN
                RETURN 'jobs';
            END IF;
            EXECUTE format('TRUNCATE %s', rel);
            RETURN 'truncated';
        EXCEPTION WHEN lock_not_available THEN
            PERFORM pg_sleep(0.002);
        END;
    END LOOP;
    RETURN 'busy';
END
$fn$;
