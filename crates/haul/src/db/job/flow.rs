//! Fan-out batches: inserting a batch with its children, settling batches whose children have
//! all finished (final counts and the callback job, exactly once), and reading a batch's
//! progress. The `batches` table is only ever written together with `jobs`, so its statements
//! live here, beside the jobs statements they join.
//!
//! Settling is two statements in one transaction: [`BATCH_LOCK`] takes the batch rows, then
//! [`BATCH_SETTLE`], whose snapshot is taken after the lock, counts the children. Of two
//! transactions finishing a batch's last children at once, the one that locks second counts
//! the other's committed children, so exactly one of them sees no child waiting.

use super::columns::{notify_each_queue, statement};
use crate::db::{Db, InsertBatch};
use crate::error::Result;
use crate::job::JobState;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use std::sync::Arc;

/// A batch row and its children in one statement (`$2`..`$11` as `INSERT_MANY`), each child
/// naming the batch in `batch_id` and in its metadata (read back by the completer).
const BATCH_INSERT: &str = r#"
WITH b AS (
    INSERT INTO {schema}.batches (parent_id, total, callback, created_at)
    VALUES ($12, cardinality($2::text[]), $13::jsonb, {now})
    RETURNING id
),
ins AS (
    INSERT INTO {schema}.jobs (kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags, batch_id)
    SELECT t.kind, t.queue, t.args::jsonb,
           CASE WHEN t.due > {now} THEN {scheduled} ELSE {available} END,
           t.priority, t.max_attempts, t.due, {now}, t.timeout_ms,
           coalesce(t.metadata::jsonb, '{}') || jsonb_build_object('haul:batch', b.id),
           coalesce(string_to_array(t.tags, ','), '{}'), b.id
    FROM (SELECT u.*, coalesce(u.run_at, {now} + coalesce(u.delay_us, 0) * interval '1 microsecond') AS due
          FROM unnest($2::text[], $3::text[], $4::text[], $5::smallint[], $6::smallint[],
                      $7::timestamptz[], $8::bigint[], $9::int[], $10::text[], $11::text[])
            AS u(kind, queue, args, priority, max_attempts, run_at, delay_us, timeout_ms, metadata, tags)
         ) t CROSS JOIN b
    RETURNING id, queue, state
)
SELECT (SELECT id FROM b) AS batch, coalesce((SELECT array_agg(id ORDER BY id) FROM ins), '{}') AS ids,
       {notify_queues} AS notified
"#;

/// Locks the unfinished batches among `$2`, in id order.
const BATCH_LOCK: &str = r#"
SELECT id FROM {schema}.batches WHERE id = ANY($2) AND finished_at IS NULL ORDER BY id FOR UPDATE
"#;

/// Locks up to `$3` unfinished batches after id `$2` that no other sweep holds (the sweep's
/// keyset walk), in id order.
const BATCH_LOCK_OPEN: &str = r#"
SELECT id FROM {schema}.batches WHERE finished_at IS NULL AND id > $2
ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
"#;

/// Finishes the locked batches of `$2` that have no child left waiting: records the counts
/// and inserts the callback with them in its metadata. Children are counted through
/// `jobs_batch` for the ids at once (no join on `jobs`); a child no longer stored completed.
const BATCH_SETTLE: &str = r#"
WITH counts AS (
    SELECT batch_id,
           count(*) FILTER (WHERE state NOT IN ({final})) AS waiting,
           count(*) FILTER (WHERE state = {discarded}) AS discarded,
           count(*) FILTER (WHERE state = {cancelled}) AS cancelled
    FROM {schema}.jobs WHERE batch_id = ANY($2) GROUP BY batch_id
),
done AS (
    SELECT b.id, b.callback, coalesce(c.discarded, 0)::int AS discarded,
           coalesce(c.cancelled, 0)::int AS cancelled,
           (b.total - coalesce(c.discarded, 0) - coalesce(c.cancelled, 0))::int AS completed
    FROM {schema}.batches b LEFT JOIN counts c ON c.batch_id = b.id
    WHERE b.id = ANY($2) AND b.finished_at IS NULL AND coalesce(c.waiting, 0) = 0
),
cb AS (
    INSERT INTO {schema}.jobs (kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    SELECT d.callback->>'kind', d.callback->>'queue', d.callback->'args',
           CASE WHEN coalesce((d.callback->>'delay_us')::bigint, 0) > 0 THEN {scheduled} ELSE {available} END,
           (d.callback->>'priority')::smallint, (d.callback->>'max_attempts')::smallint,
           {now} + coalesce((d.callback->>'delay_us')::bigint, 0) * interval '1 microsecond', {now},
           (d.callback->>'timeout_ms')::int,
           CASE WHEN jsonb_typeof(d.callback->'metadata') = 'object' THEN d.callback->'metadata'
                ELSE '{}' END || jsonb_build_object('haul:batch_result',
               jsonb_build_object('batch', d.id, 'completed', d.completed, 'discarded', d.discarded,
                                  'cancelled', d.cancelled)),
           ARRAY(SELECT jsonb_array_elements_text(coalesce(d.callback->'tags', '[]')))
    FROM done d WHERE d.callback IS NOT NULL
    RETURNING id, queue, state, (metadata->'haul:batch_result'->>'batch')::bigint AS batch
),
fin AS (
    UPDATE {schema}.batches b
    SET finished_at = {now}, completed = d.completed, discarded = d.discarded, cancelled = d.cancelled,
        callback_id = (SELECT cb.id FROM cb WHERE cb.batch = d.id)
    FROM done d WHERE b.id = d.id
    RETURNING b.id
)
SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM fin), '{}') AS ids, {notify_queues} AS notified
"#;

/// Whether any workflow is unfinished (an open batch, a pending job, a running saga): the
/// settler opens no transaction while none is.
const WORKFLOW_OPEN: &str = r#"
SELECT EXISTS (SELECT 1 FROM {schema}.batches WHERE finished_at IS NULL)
    OR EXISTS (SELECT 1 FROM {schema}.jobs WHERE state = {pending})
    OR EXISTS (SELECT 1 FROM {schema}.sagas WHERE state = 'running') AS open
"#;

/// One batch with its children counted by state.
const BATCH_GET: &str = r#"
SELECT b.id, b.parent_id, b.total, b.callback_id, b.completed, b.discarded, b.cancelled,
       b.created_at, b.finished_at,
       ARRAY(SELECT state::text FROM {schema}.jobs WHERE batch_id = b.id GROUP BY state ORDER BY state)
           AS states,
       ARRAY(SELECT count(*) FROM {schema}.jobs WHERE batch_id = b.id GROUP BY state ORDER BY state) AS counts
FROM {schema}.batches b WHERE b.id = $2
"#;

/// The rendered batch statements for one schema.
pub(super) struct FlowSql {
    pub(super) insert: Arc<str>,
    pub(super) lock: Arc<str>,
    pub(super) lock_open: Arc<str>,
    pub(super) settle: Arc<str>,
    pub(super) get: Arc<str>,
    pub(super) open: Arc<str>,
}

impl FlowSql {
    pub(super) fn new(schema: &str) -> Self {
        let inserted = notify_each_queue("ins WHERE state = {available}");
        let called = notify_each_queue("cb WHERE state = {available}");
        FlowSql {
            insert: statement(&BATCH_INSERT.replace("{notify_queues}", &inserted), schema),
            lock: statement(BATCH_LOCK, schema),
            lock_open: statement(BATCH_LOCK_OPEN, schema),
            settle: statement(&BATCH_SETTLE.replace("{notify_queues}", &called), schema),
            get: statement(BATCH_GET, schema),
            open: statement(WORKFLOW_OPEN, schema),
        }
    }
}

/// A batch just inserted: its id and its children's, in input order.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchIds {
    pub batch: i64,
    pub ids: Vec<i64>,
}

/// A batch row with its stored children counted by state.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchRow {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub total: i32,
    pub callback_id: Option<i64>,
    pub completed: Option<i32>,
    pub discarded: Option<i32>,
    pub cancelled: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub states: Vec<JobState>,
    pub counts: Vec<i64>,
}

#[derive(sqlx::FromRow)]
struct Id {
    id: i64,
}

#[derive(sqlx::FromRow)]
struct Open {
    open: bool,
}

#[derive(sqlx::FromRow)]
struct Settled {
    ids: Vec<i64>,
}

impl Db {
    /// Inserts a batch row and its children (`b`) in one statement. `callback` is the
    /// callback job's row as JSON (see `insert::fan_out`).
    pub(crate) async fn batch_insert<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
        parent: Option<i64>,
        callback: Option<&str>,
    ) -> Result<BatchIds> {
        let q = super::insert::bind_jobs(self.query_as::<BatchIds>(&self.inner.job.flow.insert), b);
        q.bind(parent).bind(callback).fetch_one(ex).await.map_err(|e| self.err(e))
    }

    /// Settles the batches `ids` in the caller's transaction: locks them, then finishes those
    /// with no child waiting. Returns the ids finished.
    pub(crate) async fn batch_settle_in(&self, tx: &mut PgConnection, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
        self.query_as::<Id>(&self.inner.job.flow.lock).bind(ids).fetch_all(&mut *tx).await?;
        let q = self.query_as::<Settled>(&self.inner.job.flow.settle).bind(ids);
        Ok(q.fetch_one(&mut *tx).await?.ids)
    }

    /// The leader's sweep over unfinished batches: settles up to `limit` after id `after`
    /// (finishing those whose last child ended outside a completer: rescued into the dead
    /// letter, cancelled by an operator, or completed by a worker that died before settling).
    /// Returns the last id looked at (`None` past the end) and how many finished.
    pub(crate) async fn batch_settle_open(&self, after: i64, limit: i64) -> Result<(Option<i64>, usize)> {
        let flow = &self.inner.job.flow;
        self.retrying(move || async move {
            self.with_conn(async |c| {
                let mut tx = sqlx::Connection::begin(c).await?;
                let q = self.query_as::<Id>(&flow.lock_open).bind(after).bind(limit);
                let ids: Vec<i64> = q.fetch_all(&mut *tx).await?.into_iter().map(|r| r.id).collect();
                let q = self.query_as::<Settled>(&flow.settle).bind(&ids);
                let finished = q.fetch_one(&mut *tx).await?.ids.len();
                tx.commit().await?;
                Ok((ids.last().copied().filter(|_| ids.len() as i64 == limit), finished))
            })
            .await
        })
        .await
    }

    /// Whether any batch, waiting job or saga is unfinished (one statement, no transaction).
    pub(crate) async fn workflow_open(&self) -> Result<bool> {
        let q = self.query_as::<Open>(&self.inner.job.flow.open);
        Ok(self.with_conn(async |c| q.fetch_one(c).await).await?.open)
    }

    /// One batch and its stored children by state.
    pub(crate) async fn batch_get(&self, id: i64) -> Result<Option<BatchRow>> {
        let q = self.query_as::<BatchRow>(&self.inner.job.flow.get).bind(id);
        self.with_conn(async |c| q.fetch_optional(c).await).await
    }
}
