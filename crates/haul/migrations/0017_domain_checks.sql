-- Haul 0017: the single-column rules on job rows as domains, so no writing statement parses them.
-- PostgreSQL parses and plans a table's CHECK constraints again for every statement that writes
-- a row, a large share of a one-job claim's and a single insert's server work (docs/benchmarks.md,
-- "Row rules as domains"), while a domain's checks are parsed once per connection and kept.
-- Each column's rule is its domain's check, evaluated whenever a value is written to it; the one
-- rule over several columns (state, `finalized_at`, lease) stays a CHECK, in a short form. The
-- constraint names are 0001's and 0016's, but for 0001's `jobs_attempts_valid`, now one per
-- column (`jobs_attempt_valid`, `jobs_max_attempts_valid`).
CREATE DOMAIN {schema}.job_state AS text
    CONSTRAINT jobs_state_known CHECK (VALUE IN ('available', 'running', 'scheduled', 'retryable',
        'pending', 'completed', 'discarded', 'cancelled'));
CREATE DOMAIN {schema}.job_kind AS text
    CONSTRAINT jobs_kind_length CHECK (octet_length(VALUE) BETWEEN 1 AND 128);
CREATE DOMAIN {schema}.job_queue AS text
    CONSTRAINT jobs_queue_length CHECK (octet_length(VALUE) BETWEEN 1 AND 128);
CREATE DOMAIN {schema}.job_priority AS smallint
    CONSTRAINT jobs_priority_range CHECK (VALUE BETWEEN -10 AND 10);
CREATE DOMAIN {schema}.job_attempt AS smallint
    CONSTRAINT jobs_attempt_valid CHECK (VALUE >= 0);
CREATE DOMAIN {schema}.job_max_attempts AS smallint
    CONSTRAINT jobs_max_attempts_valid CHECK (VALUE > 0);
CREATE DOMAIN {schema}.job_timeout AS integer
    CONSTRAINT jobs_timeout_positive CHECK (VALUE > 0);

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT conname FROM pg_constraint
             WHERE conrelid = '{schema}.jobs'::regclass AND contype = 'c'
    LOOP
        EXECUTE format('ALTER TABLE {schema}.jobs DROP CONSTRAINT %I', r.conname);
    END LOOP;
END $$;

-- A domain over the column's own type: the rows are checked, and the indexes rebuilt.
ALTER TABLE {schema}.jobs
    ALTER COLUMN state TYPE {schema}.job_state,
    ALTER COLUMN kind TYPE {schema}.job_kind,
    ALTER COLUMN queue TYPE {schema}.job_queue,
    ALTER COLUMN priority TYPE {schema}.job_priority,
    ALTER COLUMN attempt TYPE {schema}.job_attempt,
    ALTER COLUMN max_attempts TYPE {schema}.job_max_attempts,
    ALTER COLUMN timeout_ms TYPE {schema}.job_timeout;

-- `finalized_at` set exactly in the final states, and a lease on a running row (the state is
-- known by its domain). NOT VALID for 0016's reason: the planner then never loads it.
ALTER TABLE {schema}.jobs ADD CONSTRAINT jobs_state_valid
    CHECK ((finalized_at IS NOT NULL) = (state IN ('completed', 'discarded', 'cancelled'))
           AND (lease_expires_at IS NOT NULL OR state <> 'running')) NOT VALID;

-- The rebuilt slot indexes get generated names: back to 0015's (`jobs_fetch_1`, ...).
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
               AND c.relname <> p.relname || '_' || substring(t.relname FROM 6)
    LOOP
        EXECUTE format('ALTER INDEX {schema}.%I RENAME TO %I', r.child, r.parent || '_' || r.n);
    END LOOP;
END $$;
