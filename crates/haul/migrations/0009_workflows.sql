-- Haul 0009: workflows: fan-out batches, dependencies and sagas.
-- A batch is a row of `batches` plus its children, the jobs whose `batch_id` names it. It
-- finishes, once, when none of its children is left waiting: the statement that sees that
-- (under the batch row's lock, so two completers finishing the last children at once cannot
-- both see it) records the final counts and inserts the callback job. A child's row may be
-- gone by then (completed rows are deleted): a child that is no longer there completed.
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

-- Sagas: a chain of steps (jobs waiting on the one before), each with an optional
-- compensation job kept here as JSON until needed. The transaction that ends a step for good
-- (discarded or cancelled) locks the saga row and inserts the compensations of the steps
-- before it as a chain in reverse order; the one that completes the last step marks it done.
CREATE TABLE {schema}.sagas (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step_ids         bigint[]    NOT NULL,
    compensations    jsonb       NOT NULL,
    state            text        NOT NULL DEFAULT 'running',
    failed_step      integer,
    compensation_ids bigint[],
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT sagas_state_known CHECK (state IN ('running', 'completed', 'compensating')),
    CONSTRAINT sagas_finished_iff_ended CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX sagas_running ON {schema}.sagas (id) WHERE state = 'running';
