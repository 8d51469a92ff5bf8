-- Haul 0008: stats rollups, and the dead letters by queue and kind.
-- Completed jobs are deleted as they complete, so what `Client::stats` reports about finished
-- attempts (outcome counts, run time and queue wait percentiles) lives here: one row per
-- minute, queue and kind, written by the workers' completers (one upsert per flush, adding to
-- what other workers wrote) and deleted by the leader's cleaner past the stats retention.
-- `run_time` and `queue_wait` are fixed-bucket histograms (`stats/histogram.rs`): bucket i
-- counts the durations of [2^(i/4), 2^((i+1)/4)) microseconds, so rows merge by adding arrays.
CREATE TABLE {schema}.stats_rollups (
    bucket     timestamptz NOT NULL,
    queue      text        NOT NULL,
    kind       text        NOT NULL,
    completed  bigint      NOT NULL DEFAULT 0,
    retried    bigint      NOT NULL DEFAULT 0,
    snoozed    bigint      NOT NULL DEFAULT 0,
    cancelled  bigint      NOT NULL DEFAULT 0,
    discarded  bigint      NOT NULL DEFAULT 0,
    run_time   bigint[]    NOT NULL,
    queue_wait bigint[]    NOT NULL,
    PRIMARY KEY (bucket, queue, kind)
);

-- The dead letters per queue and kind, counted from the index alone. Only discarded rows enter
-- it, so the hot path (insert, claim, complete) never writes to it.
CREATE INDEX jobs_dead ON {schema}.jobs (queue, kind) WHERE state = 'discarded';
