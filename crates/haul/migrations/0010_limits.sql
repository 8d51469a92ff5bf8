-- Haul 0010: global limits. A queue with a row in `limits` is claimed through the limited
-- path, which locks the row, counts the queue's running jobs and the starts of the rate's
-- window, and claims no more than they allow; a queue without a row is claimed as before.
CREATE TABLE {schema}.limits (
    queue          text        PRIMARY KEY,
    -- At most this many running jobs (per partition).
    concurrency    integer,
    -- At most `rate` starts in any window of `period_ms` (per partition).
    rate           integer,
    period_ms      integer,
    -- The partition: the job's kind, an args key's value, both, or neither (the whole queue).
    partition_kind boolean     NOT NULL DEFAULT false,
    partition_arg  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT limits_queue_length CHECK (char_length(queue) BETWEEN 1 AND 128),
    CONSTRAINT limits_some CHECK (concurrency IS NOT NULL OR rate IS NOT NULL),
    CONSTRAINT limits_concurrency CHECK (concurrency >= 1),
    CONSTRAINT limits_rate CHECK ((rate IS NULL) = (period_ms IS NULL) AND rate >= 1
                                  AND period_ms BETWEEN 1 AND 86400000),
    CONSTRAINT limits_arg_length CHECK (char_length(partition_arg) BETWEEN 1 AND 128)
);

-- The starts each limited claim took, per partition: the rate's sliding window. Claims
-- delete the entries that left the window.
CREATE TABLE {schema}.limit_starts (
    queue     text        NOT NULL REFERENCES {schema}.limits ON DELETE CASCADE,
    partition text        NOT NULL,
    at        timestamptz NOT NULL,
    n         integer     NOT NULL
);
CREATE INDEX limit_starts_window ON {schema}.limit_starts (queue, partition, at);
