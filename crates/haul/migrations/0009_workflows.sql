-- Haul 0009: workflows. Fan-out batches: a batch is a row here plus its children, the jobs whose
-- `batch_id` names it. It finishes, once, when none of its children is left waiting: the
-- statement that sees that (under the batch row's lock, so two completers finishing the last
-- children at once cannot both see it) records the final counts and inserts the callback job.
-- A child's row may be gone by then (completed rows are deleted): a child that is no longer
-- there counts as completed.
CREATE TABLE {schema}.batches (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id   bigint,
    total       integer     NOT NULL,
    callback    jsonb,
    callback_id bigint,
    completed   integer,
    discarded   integer,
    cancelled   integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT batches_total_positive CHECK (total > 0),
    CONSTRAINT batches_counted_iff_finished CHECK (
        (finished_at IS NULL) = (completed IS NULL AND discarded IS NULL AND cancelled IS NULL))
);

-- The leader's sweep: batches not finished yet.
CREATE INDEX batches_open ON {schema}.batches (id) WHERE finished_at IS NULL;

-- A plain job leaves `batch_id` NULL: no index entry, nothing more to write.
ALTER TABLE {schema}.jobs ADD COLUMN batch_id bigint;
CREATE INDEX jobs_batch ON {schema}.jobs (batch_id, state) WHERE batch_id IS NOT NULL;

-- Dependencies: a job inserted with steps to wait on stays `pending` until every one of them
-- completed (a job it waits on that is no longer stored completed), and is cancelled when one
-- is discarded or cancelled. Edges are only ever inserted with both jobs, in one statement.
CREATE TABLE {schema}.dependencies (
    job_id     bigint NOT NULL,
    depends_on bigint NOT NULL,
    PRIMARY KEY (depends_on, job_id)
);
CREATE INDEX dependencies_job ON {schema}.dependencies (job_id);

-- The leader's sweep over waiting jobs (plain jobs are never pending: no entry for them).
CREATE INDEX jobs_pending ON {schema}.jobs (id) WHERE state = 'pending';
