//! Every statement on the jobs table, named table-verb-qualifier (`job_get_available`,
//! `job_set_state_if_running_many`, ...). Nothing else in Haul touches `jobs`.
//!
//! Fenced batch statements compare the row's state with a column of the batch
//! (`j.state = d.running`, `d.running` all 'running') instead of a constant. With a constant,
//! statistics taken while nothing ran estimate ~0 running rows, and the planner drives the
//! join from a scan of `jobs` (the lease index, or the whole table) with the batch as the
//! inner side: 1,000 × running rows comparisons, seconds per statement. As a join clause the
//! state puts no restriction on `jobs` to misjudge: generic plans probe the primary key once
//! per batch row (1 ms for 1,000), and custom plans do that or, on small tables, hash the
//! batch. They also say `j.id = ANY($2)`: whatever the plan, `jobs` is then read through the
//! primary key for the batch's ids only. Without it, statistics taken by a vacuum right after
//! a held xmin horizon ended (a 600 MiB table nearly empty) once made the planner walk the
//! whole primary key as the outer side of a nested loop over the batch: 9.6 s per completion
//! with 300,000 rows queued (W5). Statements that pick rows (claim, schedule, rescue, clean)
//! update `WHERE id = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED))`: no join at all. The
//! worker's sessions also turn off sequential scans, bitmap scans and nested loops
//! ([`WORKER_SESSION`]), so no statistics can make a claim read and sort every available
//! row (measured: 1.2 s per claim) or loop over a batch once per row. Ids are sent sorted, so
//! batch statements lock rows in one order.

use super::{Db, render};
use crate::error::Result;
use crate::job::{AttemptError, JobRow, JobState};
use crate::stats::QueueDepth;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{PgExecutor, Row};
use std::sync::Arc;

/// Planner settings of the worker's own sessions (with its `statement_timeout`). A queue
/// table's statistics are always stale — it swings between empty and millions of rows between
/// two ANALYZEs — and each of these, chosen on stale statistics, turned a statement that touches
/// a batch of rows into one that reads the whole table: a sequential scan, a bitmap scan of
/// every available job sorted for the first few, a nested loop over the batch per row. Every
/// worker statement has a plan without them: index scans, hash and merge joins.
pub(crate) const WORKER_SESSION: [(&str, &str); 3] =
    [("enable_seqscan", "off"), ("enable_bitmapscan", "off"), ("enable_nestloop", "off")];

const INSERT_MANY: &str = r#"
WITH ins AS (
    INSERT INTO {schema}.jobs (kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    SELECT t.kind, t.queue, t.args::jsonb,
           CASE WHEN t.due > {now} THEN 'scheduled' ELSE 'available' END,
           t.priority, t.max_attempts, t.due, {now}, t.timeout_ms,
           coalesce(t.metadata::jsonb, '{}'), coalesce(string_to_array(t.tags, ','), '{}')
    FROM (SELECT u.*, coalesce(u.run_at, {now} + coalesce(u.delay_us, 0) * interval '1 microsecond') AS due
          FROM unnest($2::text[], $3::text[], $4::text[], $5::smallint[], $6::smallint[],
                      $7::timestamptz[], $8::bigint[], $9::int[], $10::text[], $11::text[])
            AS u(kind, queue, args, priority, max_attempts, run_at, delay_us, timeout_ms, metadata, tags)
         ) t
    RETURNING id, queue, state
)
SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM ins), '{}') AS ids,
       (SELECT count(pg_notify('{channel}', q.queue))
          FROM (SELECT DISTINCT queue FROM ins WHERE state = 'available') q) AS notified
"#;

/// One job: the same row as `INSERT_MANY` builds, without the arrays (W2's path).
const INSERT_ONE: &str = r#"
WITH ins AS (
    INSERT INTO {schema}.jobs (kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    SELECT $2, $3, $4::jsonb, CASE WHEN t.due > {now} THEN 'scheduled' ELSE 'available' END,
           $5, $6, t.due, {now}, $9, coalesce($10::jsonb, '{}'), coalesce(string_to_array($11, ','), '{}')
    FROM (SELECT coalesce($7::timestamptz, {now} + coalesce($8::bigint, 0) * interval '1 microsecond') AS due) t
    RETURNING id, queue, state
)
SELECT id, CASE WHEN state = 'available' THEN pg_notify('{channel}', queue)::text END FROM ins
"#;

/// `{after}` is empty for a scan from the queue's first job, or a keyset condition resuming
/// after the last claimed key (`fetch::cursor`): an index condition, so the scan starts there.
/// The claimed ids come back as one array (an init plan), so the update reads `jobs` through
/// the primary key for those ids whatever the statistics say (see the fenced statements).
/// The claimed jobs come back as one row of arrays, a column each: one row to send and decode
/// instead of one per job. (Measured for the completion statements, which did the same first:
/// the CPU of a whole 600,000-job W3 run, load included, fell from 7.9 s to 6.4–6.8 s.)
const GET_AVAILABLE: &str = r#"
WITH claimed AS (
    UPDATE {schema}.jobs j
    SET state = 'running', attempt = j.attempt + 1, attempted_at = {now},
        lease_expires_at = {now} + $4 * interval '1 millisecond', attempted_by = $5
    WHERE j.id = ANY(ARRAY(
        SELECT id FROM {schema}.jobs
        WHERE state = 'available' AND queue = $2 {after}
        ORDER BY priority, run_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING j.id, j.kind, j.args, j.attempt, j.max_attempts, j.priority, j.timeout_ms,
              j.metadata, j.created_at, j.run_at
)
SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(kind), '{}'),
       coalesce(array_agg(args::text), '{}'), coalesce(array_agg(attempt), '{}'),
       coalesce(array_agg(max_attempts), '{}'), coalesce(array_agg(priority), '{}'),
       coalesce(array_agg(timeout_ms), '{}'), coalesce(array_agg(metadata::text), '{}'),
       coalesce(array_agg(created_at), '{}'), coalesce(array_agg(run_at), '{}')
FROM claimed
"#;
const AFTER_KEY: &str = "AND (priority, run_at, id) > ($6, $7, $8)";

/// The completion statements return the applied ids as one array, in id order: one row to
/// send and decode instead of one per job.
const COMPLETE_DELETE_MANY: &str = r#"
WITH done AS (
    DELETE FROM {schema}.jobs j
    USING unnest($2::bigint[], $3::smallint[], array_fill('running'::text, ARRAY[cardinality($2)]))
         AS d(id, attempt, running)
    WHERE j.id = ANY($2) AND j.id = d.id AND j.attempt = d.attempt AND j.state = d.running
    RETURNING j.id
)
SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM done
"#;

const COMPLETE_KEEP_MANY: &str = r#"
WITH done AS (
    UPDATE {schema}.jobs j
    SET state = 'completed', finalized_at = {now}, lease_expires_at = NULL
    FROM unnest($2::bigint[], $3::smallint[], array_fill('running'::text, ARRAY[cardinality($2)]))
         AS d(id, attempt, running)
    WHERE j.id = ANY($2) AND j.id = d.id AND j.attempt = d.attempt AND j.state = d.running
    RETURNING j.id
)
SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM done
"#;

/// A failure of an attempt whose cancellation was requested ends the job `cancelled`.
const SET_STATE_IF_RUNNING_MANY: &str = r#"
WITH d AS MATERIALIZED (
    SELECT * FROM unnest($2::bigint[], $3::smallint[], $4::text[], $5::bigint[], $6::bool[],
                         $7::text[], $8::text[], array_fill('running'::text, ARRAY[cardinality($2)]))
      AS d(id, attempt, state, delay_us, refund, class, error, running)
),
del AS (
    DELETE FROM {schema}.jobs j USING d
    WHERE $9 AND d.state = 'completed'
      AND j.id = ANY($2) AND j.id = d.id AND j.attempt = d.attempt AND j.state = d.running
    RETURNING j.id
),
upd AS (
    UPDATE {schema}.jobs j SET
        state = CASE WHEN j.cancel_requested_at IS NOT NULL AND d.state IN ('retryable', 'scheduled')
                     THEN 'cancelled' ELSE d.state END,
        attempt = CASE WHEN d.refund THEN j.attempt - 1 ELSE j.attempt END,
        run_at = CASE WHEN d.delay_us IS NULL THEN j.run_at
                      ELSE {now} + d.delay_us * interval '1 microsecond' END,
        finalized_at = CASE WHEN d.state IN ('completed', 'cancelled', 'discarded')
                              OR j.cancel_requested_at IS NOT NULL THEN {now} END,
        lease_expires_at = NULL,
        errors = CASE WHEN d.error IS NULL THEN j.errors
                      ELSE array_append(j.errors, jsonb_build_object('at', {now},
                           'attempt', j.attempt, 'class', d.class, 'error', d.error,
                           'worker', j.attempted_by)) END
    FROM d
    WHERE NOT ($9 AND d.state = 'completed')
      AND j.id = ANY($2) AND j.id = d.id AND j.attempt = d.attempt AND j.state = d.running
    RETURNING j.id, j.state
)
SELECT id, 'completed' AS state FROM del UNION ALL SELECT id, state FROM upd
"#;

/// Returns each held id with whether its cancellation was requested (so poll-only workers
/// hear of it within a beat).
const HEARTBEAT_MANY: &str = r#"
UPDATE {schema}.jobs j
SET lease_expires_at = {now} + $4 * interval '1 millisecond'
FROM unnest($2::bigint[], $3::smallint[], array_fill('running'::text, ARRAY[cardinality($2)]))
     AS d(id, attempt, running)
WHERE j.id = ANY($2) AND j.id = d.id AND j.attempt = d.attempt AND j.state = d.running
RETURNING j.id, j.cancel_requested_at IS NOT NULL
"#;

const RELEASE_MANY: &str = r#"
WITH rel AS (
    UPDATE {schema}.jobs j
    SET state = 'available', attempt = j.attempt - 1, lease_expires_at = NULL
    FROM unnest($2::bigint[], $3::smallint[], array_fill('running'::text, ARRAY[cardinality($2)]))
         AS d(id, attempt, running)
    WHERE j.id = ANY($2) AND j.id = d.id AND j.attempt = d.attempt AND j.state = d.running
    RETURNING j.id, j.queue
)
SELECT coalesce((SELECT array_agg(id) FROM rel), '{}') AS ids,
       (SELECT count(pg_notify('{channel}', q.queue)) FROM (SELECT DISTINCT queue FROM rel) q)
"#;

const SCHEDULE_DUE: &str = r#"
WITH made AS (
    UPDATE {schema}.jobs j SET state = 'available'
    WHERE j.id = ANY(ARRAY(
        SELECT id FROM {schema}.jobs
        WHERE state IN ('scheduled', 'retryable') AND run_at <= {now}
        ORDER BY run_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING j.queue
)
SELECT (SELECT count(*) FROM made),
       (SELECT count(pg_notify('{channel}', q.queue)) FROM (SELECT DISTINCT queue FROM made) q)
"#;

/// Expired leases at or after `$3` (the previous round's cutoff; NULL scans from the start),
/// so a round does not step over the lease-index entries of jobs long finished. Returns the
/// cutoff with the rescued ids and states.
const RESCUE_MANY: &str = r#"
WITH rescued AS (
    UPDATE {schema}.jobs j SET
        state = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                     WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'retryable' END,
        finalized_at = CASE WHEN j.cancel_requested_at IS NOT NULL OR j.attempt >= j.max_attempts
                            THEN {now} END,
        run_at = {now},
        lease_expires_at = NULL,
        errors = array_append(j.errors, jsonb_build_object('at', {now}, 'attempt', j.attempt,
            'class', 'rescued', 'worker', j.attempted_by,
            'error', 'worker ' || coalesce(j.attempted_by, '?')
            || ' stopped heartbeating; its lease expired at ' || j.lease_expires_at::text))
    WHERE j.id = ANY(ARRAY(
        SELECT id FROM {schema}.jobs
        WHERE state = 'running' AND lease_expires_at < {now}
          AND lease_expires_at >= coalesce($3::timestamptz, '-infinity')
        ORDER BY lease_expires_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING j.id, j.state
)
SELECT {now} AS cutoff, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(state), '{}') AS states
FROM rescued
"#;

/// The `IN` list matches `jobs_finalized`'s predicate, so a generic plan (where `$2` is unknown)
/// can still use that index instead of scanning the table.
const DELETE_FINALIZED_BEFORE: &str = r#"
DELETE FROM {schema}.jobs j
WHERE j.id = ANY(ARRAY(
    SELECT id FROM {schema}.jobs
    WHERE state IN ('completed', 'cancelled', 'discarded') AND state = $2
      AND finalized_at < {now} - $3 * interval '1 second'
    ORDER BY finalized_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
))
"#;

const GET: &str = "SELECT * FROM {schema}.jobs WHERE id = $2";

const LIST: &str = r#"
SELECT * FROM {schema}.jobs
WHERE ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR queue = $3)
ORDER BY id DESC
LIMIT $4
"#;

const COUNT_BY_QUEUE_STATE: &str = r#"
SELECT queue, state, count(*) AS n FROM {schema}.jobs GROUP BY queue, state ORDER BY queue, state
"#;

/// A waiting job is cancelled at once; a running one gets a request, and its holder a NOTIFY.
const CANCEL: &str = r#"
WITH c AS (
    UPDATE {schema}.jobs SET
        state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
        finalized_at = CASE WHEN state = 'running' THEN NULL ELSE {now} END,
        cancel_requested_at = {now},
        errors = CASE WHEN state = 'running' THEN errors
                      ELSE array_append(errors, jsonb_build_object('at', {now}, 'attempt', attempt,
                           'class', 'cancel', 'error', $3::text)) END
    WHERE id = $2 AND state IN ('pending', 'scheduled', 'available', 'retryable', 'running')
    RETURNING id, state
)
SELECT state, (SELECT count(pg_notify('{control}', 'cancel:' || id)) FROM c WHERE state = 'running')
FROM c
"#;

const RETRY: &str = r#"
WITH r AS (
    UPDATE {schema}.jobs
    SET state = 'available', run_at = {now}, finalized_at = NULL, cancel_requested_at = NULL,
        max_attempts = greatest(max_attempts, attempt + 1)
    WHERE id = $2 AND state IN ('scheduled', 'retryable', 'completed', 'cancelled', 'discarded')
    RETURNING id, queue
)
SELECT r.id, pg_notify('{channel}', r.queue)::text FROM r
"#;

const DELETE: &str = "DELETE FROM {schema}.jobs WHERE id = $2 AND state <> 'running' RETURNING id";

/// The rendered statements on `jobs` for one schema.
pub(super) struct JobSql {
    insert_one: Arc<str>,
    insert_many: Arc<str>,
    get_available: Arc<str>,
    get_available_after: Arc<str>,
    complete_delete_many: Arc<str>,
    complete_keep_many: Arc<str>,
    set_state_if_running_many: Arc<str>,
    heartbeat_many: Arc<str>,
    release_many: Arc<str>,
    schedule_due: Arc<str>,
    rescue_many: Arc<str>,
    delete_finalized_before: Arc<str>,
    get: Arc<str>,
    list: Arc<str>,
    count_by_queue_state: Arc<str>,
    cancel: Arc<str>,
    retry: Arc<str>,
    delete: Arc<str>,
}

impl JobSql {
    pub(super) fn new(schema: &str) -> Self {
        let r = |t| render(t, schema);
        JobSql {
            insert_one: r(INSERT_ONE),
            insert_many: r(INSERT_MANY),
            get_available: r(&GET_AVAILABLE.replace("{after}", "")),
            get_available_after: r(&GET_AVAILABLE.replace("{after}", AFTER_KEY)),
            complete_delete_many: r(COMPLETE_DELETE_MANY),
            complete_keep_many: r(COMPLETE_KEEP_MANY),
            set_state_if_running_many: r(SET_STATE_IF_RUNNING_MANY),
            heartbeat_many: r(HEARTBEAT_MANY),
            release_many: r(RELEASE_MANY),
            schedule_due: r(SCHEDULE_DUE),
            rescue_many: r(RESCUE_MANY),
            delete_finalized_before: r(DELETE_FINALIZED_BEFORE),
            get: r(GET),
            list: r(LIST),
            count_by_queue_state: r(COUNT_BY_QUEUE_STATE),
            cancel: r(CANCEL),
            retry: r(RETRY),
            delete: r(DELETE),
        }
    }
}

/// New jobs as columns, one entry per job, ready to bind as arrays.
#[derive(Debug, Default)]
pub(crate) struct InsertBatch {
    pub kinds: Vec<String>,
    pub queues: Vec<String>,
    pub args: Vec<String>,
    pub priorities: Vec<i16>,
    pub max_attempts: Vec<i16>,
    pub run_at: Vec<Option<DateTime<Utc>>>,
    pub delays_us: Vec<Option<i64>>,
    pub timeouts_ms: Vec<Option<i32>>,
    pub metadata: Vec<Option<String>>,
    pub tags: Vec<Option<String>>,
}

impl InsertBatch {
    pub(crate) fn with_capacity(n: usize) -> Self {
        InsertBatch {
            kinds: Vec::with_capacity(n),
            queues: Vec::with_capacity(n),
            args: Vec::with_capacity(n),
            priorities: Vec::with_capacity(n),
            max_attempts: Vec::with_capacity(n),
            run_at: Vec::with_capacity(n),
            delays_us: Vec::with_capacity(n),
            timeouts_ms: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
        }
    }
}

/// A job just claimed by `job_get_available`.
#[derive(Debug)]
pub(crate) struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub args: JsonText,
    pub attempt: i16,
    pub max_attempts: i16,
    pub priority: i16,
    pub timeout_ms: Option<i32>,
    pub metadata: JsonText,
    pub created_at: DateTime<Utc>,
    pub run_at: DateTime<Utc>,
}

impl ClaimedJob {
    /// Its place in the fetch order.
    pub(crate) fn key(&self) -> ClaimKey {
        ClaimKey { priority: self.priority, run_at: self.run_at, id: self.id }
    }
}

/// A job's place in the fetch order (`ORDER BY priority, run_at, id`): fields compare in
/// that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClaimKey {
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub id: i64,
}

/// Outcomes to write in one fenced statement, as columns.
#[derive(Debug, Default)]
pub(crate) struct CompletionBatch {
    pub ids: Vec<i64>,
    pub attempts: Vec<i16>,
    pub states: Vec<&'static str>,
    pub delays_us: Vec<Option<i64>>,
    pub refunds: Vec<bool>,
    pub classes: Vec<Option<&'static str>>,
    pub errors: Vec<Option<String>>,
}

impl CompletionBatch {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn all_completed(&self) -> bool {
        self.states.iter().all(|s| *s == "completed")
    }
}

impl Db {
    /// Inserts a batch in one statement, notifying each queue that got an available job once.
    pub(crate) async fn job_insert_many<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
    ) -> Result<Vec<i64>> {
        let row = self
            .query(&self.inner.job.insert_many)
            .bind(&b.kinds)
            .bind(&b.queues)
            .bind(&b.args)
            .bind(&b.priorities)
            .bind(&b.max_attempts)
            .bind(&b.run_at)
            .bind(&b.delays_us)
            .bind(&b.timeouts_ms)
            .bind(&b.metadata)
            .bind(&b.tags)
            .fetch_one(ex)
            .await
            .map_err(|e| self.err(e))?;
        row.try_get("ids").map_err(|e| self.err(e))
    }

    /// Inserts the first job of `b` alone, notifying its queue if it is available now.
    pub(crate) async fn job_insert_one<'c>(&self, ex: impl PgExecutor<'c>, b: &InsertBatch) -> Result<i64> {
        let row = self
            .query(&self.inner.job.insert_one)
            .bind(&b.kinds[0])
            .bind(&b.queues[0])
            .bind(&b.args[0])
            .bind(b.priorities[0])
            .bind(b.max_attempts[0])
            .bind(b.run_at[0])
            .bind(b.delays_us[0])
            .bind(b.timeouts_ms[0])
            .bind(&b.metadata[0])
            .bind(&b.tags[0])
            .fetch_one(ex)
            .await
            .map_err(|e| self.err(e))?;
        row.try_get(0).map_err(|e| self.err(e))
    }

    /// Claims up to `limit` available jobs of `queue` for `worker`, under a lease: the first
    /// in fetch order, or the first after `after`.
    pub(crate) async fn job_get_available(
        &self,
        queue: &str,
        limit: i64,
        lease_ms: i64,
        worker: &str,
        after: Option<ClaimKey>,
    ) -> Result<Vec<ClaimedJob>> {
        let sql = match after {
            None => &self.inner.job.get_available,
            Some(_) => &self.inner.job.get_available_after,
        };
        let mut q = self.query(sql).bind(queue).bind(limit).bind(lease_ms).bind(worker);
        if let Some(k) = after {
            q = q.bind(k.priority).bind(k.run_at).bind(k.id);
        }
        let row = self.with_conn(async |c| q.fetch_one(c).await).await?;
        claimed_from_row(&row).map_err(|e| self.err(e))
    }

    /// Finishes successful attempts (delete, or mark completed when `keep`), fenced, through
    /// any executor (the handler's own transaction for transactional completion).
    /// Returns the ids whose attempt was still the running one.
    pub(crate) async fn job_complete_many<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        ids: &[i64],
        attempts: &[i16],
        keep: bool,
    ) -> Result<Vec<i64>> {
        let row = self.complete_query(ids, attempts, keep).fetch_one(ex).await.map_err(|e| self.err(e))?;
        row.try_get(0).map_err(|e| self.err(e))
    }

    /// [`Db::job_complete_many`] on the pool, under the statement timeout.
    pub(crate) async fn job_complete_many_pooled(
        &self,
        ids: &[i64],
        attempts: &[i16],
        keep: bool,
    ) -> Result<Vec<i64>> {
        let q = self.complete_query(ids, attempts, keep);
        let row = self.with_conn(async |c| q.fetch_one(c).await).await?;
        row.try_get(0).map_err(|e| self.err(e))
    }

    fn complete_query<'q>(&self, ids: &'q [i64], attempts: &'q [i16], keep: bool) -> Query<'q> {
        let sql =
            if keep { &self.inner.job.complete_keep_many } else { &self.inner.job.complete_delete_many };
        self.query(sql).bind(ids).bind(attempts)
    }

    /// Writes mixed outcomes in one fenced statement; returns the applied ids with the state
    /// each row ended in.
    pub(crate) async fn job_set_state_if_running_many(
        &self,
        b: &CompletionBatch,
        keep_completed: bool,
    ) -> Result<Vec<(i64, JobState)>> {
        let q = self
            .query(&self.inner.job.set_state_if_running_many)
            .bind(&b.ids)
            .bind(&b.attempts)
            .bind(&b.states)
            .bind(&b.delays_us)
            .bind(&b.refunds)
            .bind(&b.classes)
            .bind(&b.errors)
            .bind(!keep_completed);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        rows.iter().map(|r| Ok((r.try_get(0).map_err(|e| self.err(e))?, state_of(r, 1)?))).collect()
    }

    /// Extends the leases of running attempts; returns the ids still held, each with whether
    /// its cancellation was requested.
    pub(crate) async fn job_heartbeat_many(
        &self,
        ids: &[i64],
        attempts: &[i16],
        lease_ms: i64,
    ) -> Result<Vec<(i64, bool)>> {
        let q = self.query(&self.inner.job.heartbeat_many).bind(ids).bind(attempts).bind(lease_ms);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<sqlx::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Puts unfinished attempts back to `available` without using up an attempt.
    pub(crate) async fn job_release_many(&self, ids: &[i64], attempts: &[i16]) -> Result<Vec<i64>> {
        let q = self.query(&self.inner.job.release_many).bind(ids).bind(attempts);
        let row = self.with_conn(async |c| q.fetch_one(c).await).await?;
        row.try_get("ids").map_err(|e| self.err(e))
    }

    /// Makes up to `limit` due scheduled/retryable jobs available; returns how many.
    pub(crate) async fn job_schedule_due(&self, limit: i64) -> Result<i64> {
        let q = self.query(&self.inner.job.schedule_due).bind(limit);
        let row = self.with_conn(async |c| q.fetch_one(c).await).await?;
        row.try_get(0).map_err(|e| self.err(e))
    }

    /// Returns up to `limit` running jobs with expired leases to retryable (or discarded, or
    /// cancelled when that was requested).
    pub(crate) async fn job_rescue_many(
        &self,
        limit: i64,
        floor: Option<DateTime<Utc>>,
    ) -> Result<(DateTime<Utc>, Vec<(i64, JobState)>)> {
        let q = self.query(&self.inner.job.rescue_many).bind(limit).bind(floor);
        let row = self.with_conn(async |c| q.fetch_one(c).await).await?;
        let cutoff = row.try_get("cutoff").map_err(|e| self.err(e))?;
        let ids: Vec<i64> = row.try_get("ids").map_err(|e| self.err(e))?;
        let states: Vec<String> = row.try_get("states").map_err(|e| self.err(e))?;
        let states =
            states.iter().map(|s| s.parse().map_err(|e: String| self.err(sqlx::Error::Decode(e.into()))));
        Ok((cutoff, ids.into_iter().zip(states).map(|(id, s)| s.map(|s| (id, s))).collect::<Result<_>>()?))
    }

    /// Deletes up to `limit` rows in `state` finalized more than `age_s` seconds ago.
    pub(crate) async fn job_delete_finalized_before(
        &self,
        state: JobState,
        age_s: f64,
        limit: i64,
    ) -> Result<u64> {
        let q =
            self.query(&self.inner.job.delete_finalized_before).bind(state.as_str()).bind(age_s).bind(limit);
        let done = self.with_conn(async |c| q.execute(c).await).await?;
        Ok(done.rows_affected())
    }

    /// One job by id.
    pub(crate) async fn job_get(&self, id: i64) -> Result<Option<JobRow>> {
        let q = self.query(&self.inner.job.get).bind(id);
        let row = self.with_conn(async |c| q.fetch_optional(c).await).await?;
        row.map(|r| job_row(&r).map_err(|e| self.err(e))).transpose()
    }

    /// Newest jobs first, optionally of one state and/or queue.
    pub(crate) async fn job_list(
        &self,
        state: Option<JobState>,
        queue: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobRow>> {
        let q = self.query(&self.inner.job.list).bind(state.map(JobState::as_str)).bind(queue).bind(limit);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        rows.iter().map(|r| job_row(r).map_err(|e| self.err(e))).collect()
    }

    /// Row counts per queue and state.
    pub(crate) async fn job_count_by_queue_state(&self) -> Result<Vec<QueueDepth>> {
        let q = self.query(&self.inner.job.count_by_queue_state);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        rows.iter()
            .map(|r| {
                let queue = r.try_get("queue").map_err(|e| self.err(e))?;
                let count = r.try_get("n").map_err(|e| self.err(e))?;
                Ok(QueueDepth { queue, state: state_of(r, 1)?, count })
            })
            .collect()
    }

    /// Cancels a waiting job, or requests cancellation of a running one (and notifies its
    /// worker). Returns the job's state afterwards, `None` when no job could be cancelled.
    pub(crate) async fn job_cancel(&self, id: i64, reason: &str) -> Result<Option<JobState>> {
        let q = self.query(&self.inner.job.cancel).bind(id).bind(reason);
        let row = self.with_conn(async |c| q.fetch_optional(c).await).await?;
        row.map(|r| state_of(&r, 0)).transpose()
    }

    /// Makes a waiting or finished job available now, allowing one more attempt if needed.
    pub(crate) async fn job_retry(&self, id: i64) -> Result<bool> {
        let q = self.query(&self.inner.job.retry).bind(id);
        Ok(self.with_conn(async |c| q.fetch_optional(c).await).await?.is_some())
    }

    /// Deletes a job that is not running.
    pub(crate) async fn job_delete(&self, id: i64) -> Result<bool> {
        let q = self.query(&self.inner.job.delete).bind(id);
        Ok(self.with_conn(async |c| q.fetch_optional(c).await).await?.is_some())
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// The claim's one row of arrays, a column each (all of one length), as jobs.
fn claimed_from_row(r: &PgRow) -> sqlx::Result<Vec<ClaimedJob>> {
    let ids: Vec<i64> = r.try_get(0)?;
    let kinds: Vec<String> = r.try_get(1)?;
    let args: Vec<String> = r.try_get(2)?;
    let attempts: Vec<i16> = r.try_get(3)?;
    let max_attempts: Vec<i16> = r.try_get(4)?;
    let priorities: Vec<i16> = r.try_get(5)?;
    let timeouts: Vec<Option<i32>> = r.try_get(6)?;
    let metadata: Vec<String> = r.try_get(7)?;
    let created: Vec<DateTime<Utc>> = r.try_get(8)?;
    let run_at: Vec<DateTime<Utc>> = r.try_get(9)?;
    let n = ids.len();
    let lens = [kinds.len(), args.len(), attempts.len(), max_attempts.len(), priorities.len()];
    let more = [timeouts.len(), metadata.len(), created.len(), run_at.len()];
    if lens.iter().chain(&more).any(|l| *l != n) {
        return Err(sqlx::Error::Decode("claimed columns of different lengths".into()));
    }
    let texts = kinds.into_iter().zip(args).zip(metadata);
    Ok(texts
        .enumerate()
        .map(|(i, ((kind, args), metadata))| ClaimedJob {
            id: ids[i],
            kind,
            args: JsonText(args),
            attempt: attempts[i],
            max_attempts: max_attempts[i],
            priority: priorities[i],
            timeout_ms: timeouts[i],
            metadata: JsonText(metadata),
            created_at: created[i],
            run_at: run_at[i],
        })
        .collect())
}

fn state_of(r: &PgRow, col: usize) -> Result<JobState> {
    let s: String = r.try_get(col).map_err(crate::Error::Database)?;
    s.parse().map_err(|e: String| crate::Error::Database(sqlx::Error::Decode(e.into())))
}

fn job_row(r: &PgRow) -> sqlx::Result<JobRow> {
    let errors: Vec<sqlx::types::Json<AttemptError>> = r.try_get("errors")?;
    let state: String = r.try_get("state")?;
    Ok(JobRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        queue: r.try_get("queue")?,
        args: r.try_get("args")?,
        state: state.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        priority: r.try_get("priority")?,
        attempt: r.try_get("attempt")?,
        max_attempts: r.try_get("max_attempts")?,
        run_at: r.try_get("run_at")?,
        created_at: r.try_get("created_at")?,
        attempted_at: r.try_get("attempted_at")?,
        finalized_at: r.try_get("finalized_at")?,
        lease_expires_at: r.try_get("lease_expires_at")?,
        attempted_by: r.try_get("attempted_by")?,
        errors: errors.into_iter().map(|j| j.0).collect(),
        metadata: r.try_get("metadata")?,
        tags: r.try_get("tags")?,
    })
}

/// A `jsonb` value kept as its JSON text (the claim sends `args::text`), decoded once, later,
/// into the handler's type.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonText(pub String);

#[cfg(test)]
mod plan_tests {
    //! Fenced batch statements must plan well whatever the statistics say, as generic and as
    //! custom plans. The trap: statistics taken while nothing ran (the planner expects ~0
    //! running rows), then thousands running on a table small enough that a scan of it looks
    //! cheaper than probing the primary key once per batch row.

    use super::*;
    use sqlx::AssertSqlSafe;

    /// `n` copies of `value` as an array literal (EXECUTE takes no subqueries).
    fn literal(n: usize, value: impl Fn(usize) -> String) -> String {
        format!("'{{{}}}'", (1..=n).map(value).collect::<Vec<_>>().join(","))
    }

    /// The fenced batch statements with arguments for a batch of 1,000 running ids (`id(1..=1000)`,
    /// all at attempt 1), as (name, statement, parameter types, EXECUTE arguments).
    fn fenced_cases(
        sql: &JobSql,
        id: impl Fn(usize) -> usize,
    ) -> Vec<(&'static str, &Arc<str>, &'static str, String)> {
        let ids = literal(1000, |i| id(i).to_string());
        let ones = literal(1000, |_| "1".into());
        let arrays = format!("0, {ids}, {ones}");
        let retry = literal(1000, |_| "retryable".into());
        let no = literal(1000, |_| "f".into());
        let err = literal(1000, |_| "error".into());
        let ids_attempts = "bigint, bigint[], smallint[]";
        vec![
            ("complete_delete", &sql.complete_delete_many, ids_attempts, arrays.clone()),
            ("complete_keep", &sql.complete_keep_many, ids_attempts, arrays.clone()),
            (
                "heartbeat",
                &sql.heartbeat_many,
                "bigint, bigint[], smallint[], bigint",
                format!("{arrays}, 1000"),
            ),
            ("release", &sql.release_many, ids_attempts, arrays.clone()),
            (
                "set_state",
                &sql.set_state_if_running_many,
                "bigint, bigint[], smallint[], text[], bigint[], bool[], text[], text[], bool",
                format!("{arrays}, {retry}, {ones}, {no}, {err}, {err}, true"),
            ),
        ]
    }

    /// Prepares `stmt` as `name` and returns its plan as a generic and as a custom plan.
    async fn plans(
        conn: &mut sqlx::PgConnection,
        name: &str,
        stmt: &str,
        types: &str,
        args: &str,
    ) -> Vec<(&'static str, String)> {
        let prepare = format!("PREPARE {name}({types}) AS {stmt}");
        sqlx::raw_sql(AssertSqlSafe(prepare)).execute(&mut *conn).await.unwrap();
        let mut out = Vec::new();
        for mode in ["force_generic_plan", "force_custom_plan"] {
            let set = format!("SET plan_cache_mode = {mode}");
            sqlx::raw_sql(AssertSqlSafe(set)).execute(&mut *conn).await.unwrap();
            let explain = format!("EXPLAIN EXECUTE {name}({args})");
            let plan: Vec<String> =
                sqlx::query_scalar(AssertSqlSafe(explain)).fetch_all(&mut *conn).await.unwrap();
            out.push((mode, plan.join("\n")));
        }
        out
    }

    #[tokio::test]
    async fn fenced_statements_never_drive_the_join_from_a_scan_of_jobs() {
        let (pool, db, schema) = crate::db::test_db("ht_plans").await;
        let q = |s: &str| s.replace("{s}", &format!("\"{schema}\""));
        let mut conn = pool.acquire().await.unwrap();
        let setup = [
            "INSERT INTO {s}.jobs (kind, queue, args, state, max_attempts) SELECT 'noop', 'default', '{}', 'available', 3 FROM generate_series(1, 100000)",
            "VACUUM ANALYZE {s}.jobs",
            "UPDATE {s}.jobs SET state = 'running', attempt = 1, lease_expires_at = now() + interval '1 minute' WHERE id <= 2000",
        ];
        for step in setup {
            sqlx::raw_sql(AssertSqlSafe(q(step))).execute(&mut *conn).await.unwrap();
        }
        worker_session(&mut conn).await;
        let cases = fenced_cases(&db.inner.job, |i| i);
        for (name, stmt, types, args) in cases {
            for (mode, plan) in plans(&mut conn, name, stmt, types, &args).await {
                // the quadratic shape: a nested loop filtering the batch against scanned rows
                assert!(
                    !plan.contains("Join Filter: ((j.id = d.id)"),
                    "{name} ({mode}) loops over the batch per row:\n{plan}"
                );
                assert!(
                    !plan.contains("jobs_lease"),
                    "{name} ({mode}) must not scan the lease index:\n{plan}"
                );
                if mode == "force_generic_plan" {
                    assert!(
                        plan.contains("jobs_pkey"),
                        "{name} (generic) should probe the primary key:\n{plan}"
                    );
                }
            }
        }
        drop(conn);
        sqlx::raw_sql(AssertSqlSafe(q("DROP SCHEMA {s} CASCADE"))).execute(&pool).await.unwrap();
    }

    /// Applies the worker's planner settings to a test session.
    async fn worker_session(conn: &mut sqlx::PgConnection) {
        for (k, v) in WORKER_SESSION {
            sqlx::raw_sql(AssertSqlSafe(format!("SET {k} = {v}"))).execute(&mut *conn).await.unwrap();
        }
    }

    /// The trap W5 hit after a held xmin horizon ended: a vacuum saw a big table nearly empty
    /// (statistics: a few rows on many pages), then the table filled up again. Under the
    /// worker's settings every statement must still touch only its batch's rows.
    #[tokio::test]
    async fn worker_statements_stay_on_index_paths_when_statistics_say_the_table_is_empty() {
        let (pool, db, schema) = crate::db::test_db("ht_stale").await;
        let q = |s: &str| s.replace("{s}", &format!("\"{schema}\""));
        let mut conn = pool.acquire().await.unwrap();
        let fill = "INSERT INTO {s}.jobs (kind, queue, args, state, max_attempts) SELECT 'noop', 'default', '{}', 'available', 3 FROM generate_series(1, 100000)";
        let setup = [
            fill,
            "DELETE FROM {s}.jobs WHERE id > 10",
            "VACUUM ANALYZE {s}.jobs",
            fill,
            "UPDATE {s}.jobs SET state = 'running', attempt = 1, lease_expires_at = now() - interval '1 minute' WHERE id % 50 = 0",
            "UPDATE {s}.jobs SET state = 'retryable', run_at = now() WHERE id % 50 = 1",
        ];
        for step in setup {
            sqlx::raw_sql(AssertSqlSafe(q(step))).execute(&mut *conn).await.unwrap();
        }
        worker_session(&mut conn).await;
        let sql = &db.inner.job;
        let mut cases = vec![
            (
                "claim",
                &sql.get_available,
                "bigint, text, bigint, bigint, text",
                "0, 'default', 500, 1000, 'w'".to_owned(),
            ),
            (
                "claim_after",
                &sql.get_available_after,
                "bigint, text, bigint, bigint, text, smallint, timestamptz, bigint",
                "0, 'default', 500, 1000, 'w', 0, now() - interval '1 hour', 0".to_owned(),
            ),
            ("schedule", &sql.schedule_due, "bigint, bigint", "0, 1000".to_owned()),
            ("rescue", &sql.rescue_many, "bigint, bigint, timestamptz", "0, 1000, NULL".to_owned()),
            (
                "clean",
                &sql.delete_finalized_before,
                "bigint, text, float8, bigint",
                "0, 'completed', 60, 1000".to_owned(),
            ),
        ];
        cases.extend(fenced_cases(sql, |i| i * 50));
        for (name, stmt, types, args) in cases {
            for (mode, plan) in plans(&mut conn, name, stmt, types, &args).await {
                for shape in ["Seq Scan", "Bitmap", "Nested Loop"] {
                    assert!(!plan.contains(shape), "{name} ({mode}) plans a {shape}:\n{plan}");
                }
                if name.starts_with("claim") {
                    assert!(
                        plan.contains("jobs_fetch") && !plan.contains("Sort"),
                        "{name} ({mode}) must walk the fetch index in order:\n{plan}"
                    );
                }
            }
        }
        drop(conn);
        sqlx::raw_sql(AssertSqlSafe(q("DROP SCHEMA {s} CASCADE"))).execute(&pool).await.unwrap();
    }
}
