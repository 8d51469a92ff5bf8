-- Haul 0006: queues as rows. A queue's row is created when a worker starts running it or when
-- an operator pauses or resumes it; inserting a job never touches this table, so a queue
-- without a row is an ordinary, running queue. Workers claim nothing from a paused queue.
CREATE TABLE {schema}.queues (
    name       text        PRIMARY KEY,
    paused_at  timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queues_name_length CHECK (char_length(name) BETWEEN 1 AND 128)
);
