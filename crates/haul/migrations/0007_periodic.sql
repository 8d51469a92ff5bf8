-- Haul 0007: periodic jobs. One row per schedule name: every tick up to `last_tick` is done
-- (enqueued, or skipped as missed). The leader moves it forward with a compare-and-set in the
-- transaction that inserts the tick's job, so no tick is enqueued twice, whichever process
-- leads and however often leadership changes; completed jobs may be long deleted.
CREATE TABLE {schema}.periodic (
    name       text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
    last_tick  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
