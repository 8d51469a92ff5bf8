-- Haul 0016: the same rules on each job row in cheaper checks. PostgreSQL evaluates every CHECK
-- of the table on every row it writes (each claim rewrites a row) and parses each one again for
-- every statement that writes: 0001's compared `state` with up to twelve strings per row and
-- counted the characters of `kind` and `queue` twice. One CASE on `state` now holds the state
-- rules (one comparison for a claimed row, two for an inserted one), and the lengths are byte
-- lengths: queue and kind names are ASCII (names.rs), so bytes are characters.
-- Every check is NOT VALID: each row written is still checked (NOT VALID only skips checking
-- the rows already there, which 0001's equivalent checks passed), and the planner reads only
-- validated checks, so planning a statement over the slots (migration 0015) does not load every
-- check of every slot and try to refute it: a quarter of the planning of a claim.
ALTER TABLE {schema}.jobs
    DROP CONSTRAINT jobs_state_known,
    DROP CONSTRAINT jobs_finalized_iff_final,
    DROP CONSTRAINT jobs_running_has_lease,
    DROP CONSTRAINT jobs_kind_length,
    DROP CONSTRAINT jobs_queue_length;

-- A known state; `finalized_at` set exactly in the final states; a running row has a lease.
-- The states a row is written in most (claimed, inserted) come first, and the rest are two
-- array constants: the executor parses the check again for each writing statement, and a short
-- check is cheap to parse.
ALTER TABLE {schema}.jobs
    ADD CONSTRAINT jobs_state_valid CHECK (CASE state
        WHEN 'running' THEN finalized_at IS NULL AND lease_expires_at IS NOT NULL
        WHEN 'available' THEN finalized_at IS NULL
        ELSE state = ANY ('{retryable,scheduled,pending,completed,discarded,cancelled}')
            AND (finalized_at IS NOT NULL) = (state = ANY ('{completed,discarded,cancelled}'))
        END) NOT VALID,
    ADD CONSTRAINT jobs_kind_length CHECK (octet_length(kind) BETWEEN 1 AND 128) NOT VALID,
    ADD CONSTRAINT jobs_queue_length CHECK (octet_length(queue) BETWEEN 1 AND 128) NOT VALID;

-- The other checks of 0001, unchanged but NOT VALID.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
             WHERE conrelid = '{schema}.jobs'::regclass AND contype = 'c' AND convalidated
    LOOP
        EXECUTE format('ALTER TABLE {schema}.jobs DROP CONSTRAINT %I', r.conname);
        EXECUTE format('ALTER TABLE {schema}.jobs ADD CONSTRAINT %I %s NOT VALID', r.conname, r.def);
    END LOOP;
END $$;
