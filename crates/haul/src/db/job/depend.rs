//! Dependencies: inserting a workflow's jobs with the edges between them, and settling the
//! jobs that wait on others (released when every job they wait on completed, cancelled when
//! one was discarded or cancelled). The `dependencies` table is only ever read and written
//! with `jobs`, so its statements live here.
//!
//! Settling is two statements in one transaction, like a batch's: the waiting rows are locked
//! first, then counted in a statement whose snapshot follows the lock. Of two transactions
//! finishing a job's last two dependencies at once, the one that locks second sees the other's
//! committed outcome, so the waiting job is released exactly once and never left behind.

use super::columns::{append_error, notify_each_queue, statement};
use crate::db::{Db, InsertBatch};
use crate::error::Result;
use sqlx::{PgConnection, PgExecutor};
use std::sync::Arc;

/// A workflow's jobs and edges in one statement (`$2`..`$11` as `INSERT_MANY`; `$12` whether
/// each job waits; `$13`, `$14` the edges as 1-based positions, waiting job then the job it
/// waits on). Ids are drawn first so edges can name them; they come back in input order.
const WORKFLOW_INSERT: &str = r#"
WITH ids AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('{schema}.jobs', 'id')) AS id, ord
    FROM generate_series(1, cardinality($2::text[])) AS ord
),
ins AS (
    INSERT INTO {schema}.jobs (id, kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    OVERRIDING SYSTEM VALUE
    SELECT ids.id, t.kind, t.queue, t.args::jsonb,
           CASE WHEN t.waits THEN {pending} WHEN t.due > {now} THEN {scheduled} ELSE {available} END,
           t.priority, t.max_attempts, t.due, {now}, t.timeout_ms,
           coalesce(t.metadata::jsonb, '{}'), coalesce(string_to_array(t.tags, ','), '{}')
    FROM (SELECT u.*, coalesce(u.run_at, {now} + coalesce(u.delay_us, 0) * interval '1 microsecond') AS due
          FROM unnest($2::text[], $3::text[], $4::text[], $5::smallint[], $6::smallint[],
                      $7::timestamptz[], $8::bigint[], $9::int[], $10::text[], $11::text[], $12::bool[])
            WITH ORDINALITY
            AS u(kind, queue, args, priority, max_attempts, run_at, delay_us, timeout_ms, metadata, tags,
                 waits, ord)
         ) t JOIN ids ON ids.ord = t.ord
    RETURNING id, queue, state
),
edges AS (
    INSERT INTO {schema}.dependencies (job_id, depends_on)
    SELECT c.id, p.id FROM unnest($13::int[], $14::int[]) AS e(child, parent)
    JOIN ids c ON c.ord = e.child JOIN ids p ON p.ord = e.parent
)
SELECT coalesce((SELECT array_agg(id ORDER BY ord) FROM ids), '{}') AS ids,
       {notify_queues} AS notified
"#;

/// `{waiting}`: the jobs that wait on the jobs `$2`.
const DEPENDENTS_OF: &str = "SELECT job_id FROM {schema}.dependencies WHERE depends_on = ANY($2)";

/// Locks the pending jobs among `{waiting}`, in id order.
const PENDING_LOCK: &str = r#"
SELECT id FROM {schema}.jobs WHERE id = ANY(ARRAY({waiting})) AND state = {pending} ORDER BY id FOR UPDATE
"#;

/// Locks up to `$3` pending jobs after id `$2` that no other sweep holds, in id order.
const PENDING_LOCK_OPEN: &str = r#"
SELECT id FROM {schema}.jobs WHERE state = {pending} AND id > $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
"#;

/// Settles the pending jobs among `{waiting}`: cancelled, saying why, when a job they wait on
/// was discarded or cancelled; else released (available, or scheduled until `run_at`) when
/// every job they wait on completed (or is no longer stored: completed rows are deleted).
/// Returns the ids it cancelled, whose own dependents are settled next.
const PENDING_SETTLE: &str = r#"
WITH kids AS (
    SELECT id FROM {schema}.jobs WHERE id = ANY(ARRAY({waiting})) AND state = {pending}
),
edges AS (
    SELECT job_id, depends_on FROM {schema}.dependencies WHERE job_id = ANY(ARRAY(SELECT id FROM kids))
),
parents AS (
    SELECT id, state FROM {schema}.jobs WHERE id = ANY(ARRAY(SELECT depends_on FROM edges))
),
status AS (
    SELECT e.job_id AS id,
           min(e.depends_on) FILTER (WHERE p.state IN ({cancelled}, {discarded})) AS culprit,
           bool_and(p.state IS NULL OR p.state = {completed}) AS ready
    FROM edges e LEFT JOIN parents p ON p.id = e.depends_on
    GROUP BY e.job_id
),
upd AS (
    UPDATE {schema}.jobs j SET
        state = CASE WHEN s.culprit IS NOT NULL THEN {cancelled}
                     WHEN j.run_at > {now} THEN {scheduled} ELSE {available} END,
        finalized_at = CASE WHEN s.culprit IS NOT NULL THEN {now} END,
        errors = CASE WHEN s.culprit IS NULL THEN j.errors ELSE {append_error} END
    FROM status s
    WHERE j.id = ANY(ARRAY(SELECT id FROM status)) AND j.id = s.id AND j.state = {pending}
      AND (s.culprit IS NOT NULL OR s.ready)
    RETURNING j.id, j.queue, j.state
)
SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM upd WHERE state = {cancelled}), '{}') AS ids,
       {notify_queues} AS notified
"#;

/// The jobs `$2` waits on, with the state of each still stored.
const WAITS_ON: &str = r#"
SELECT d.depends_on AS id, (SELECT state FROM {schema}.jobs WHERE id = d.depends_on) AS state
FROM {schema}.dependencies d WHERE d.job_id = $2 ORDER BY d.depends_on
"#;

/// The rendered dependency statements for one schema.
pub(super) struct DependSql {
    pub(super) insert: Arc<str>,
    pub(super) lock_dependents: Arc<str>,
    pub(super) lock_open: Arc<str>,
    /// Settles the dependents of `$2`.
    pub(super) settle_dependents: Arc<str>,
    /// Settles the jobs `$2` themselves.
    pub(super) settle_jobs: Arc<str>,
    pub(super) waits_on: Arc<str>,
}

impl DependSql {
    pub(super) fn new(schema: &str) -> Self {
        let inserted = notify_each_queue("ins WHERE state = {available}");
        let released = notify_each_queue("upd WHERE state = {available}");
        let why = "'cancelled: job ' || s.culprit || ', which it waits on, was '
            || (SELECT state FROM parents WHERE id = s.culprit)";
        let settle = PENDING_SETTLE
            .replace("{append_error}", &append_error("'cancel'", why, false))
            .replace("{notify_queues}", &released);
        let on = |waiting: &str, sql: &str| statement(&sql.replace("{waiting}", waiting), schema);
        DependSql {
            insert: statement(&WORKFLOW_INSERT.replace("{notify_queues}", &inserted), schema),
            lock_dependents: on(DEPENDENTS_OF, PENDING_LOCK),
            lock_open: statement(PENDING_LOCK_OPEN, schema),
            settle_dependents: on(DEPENDENTS_OF, &settle),
            settle_jobs: on("SELECT unnest($2::bigint[])", &settle),
            waits_on: statement(WAITS_ON, schema),
        }
    }
}

/// A workflow's edges as 1-based positions in its insert batch: `waiting[i]` waits on
/// `on[i]`.
#[derive(Debug, Default)]
pub(crate) struct Edges {
    pub waiting: Vec<i32>,
    pub on: Vec<i32>,
}

#[derive(sqlx::FromRow)]
struct Ids {
    ids: Vec<i64>,
}

#[derive(sqlx::FromRow)]
struct Id {
    id: i64,
}

/// A job waited on, and its state if still stored.
#[derive(sqlx::FromRow)]
pub(crate) struct WaitsOn {
    pub id: i64,
    pub state: Option<crate::job::JobState>,
}

impl Db {
    /// Inserts a workflow's jobs (`b`, `waits[i]` true for a job that waits) and its edges in
    /// one statement; returns the ids in input order.
    pub(crate) async fn workflow_insert<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
        waits: &[bool],
        edges: &Edges,
    ) -> Result<Vec<i64>> {
        let q = super::insert::bind_jobs(self.query_as::<Ids>(&self.inner.job.depend.insert), b);
        let q = q.bind(waits).bind(&edges.waiting).bind(&edges.on);
        Ok(q.fetch_one(ex).await.map_err(|e| self.err(e))?.ids)
    }

    /// Settles, in the caller's transaction, the jobs waiting on `finished`, then on each job
    /// that settling cancelled, until no more are cancelled.
    pub(crate) async fn pending_settle_in(
        &self,
        tx: &mut PgConnection,
        finished: &[i64],
    ) -> sqlx::Result<()> {
        let sql = &self.inner.job.depend;
        let mut finished = finished.to_vec();
        while !finished.is_empty() {
            self.query_as::<Id>(&sql.lock_dependents).bind(&finished).fetch_all(&mut *tx).await?;
            let q = self.query_as::<Ids>(&sql.settle_dependents).bind(&finished);
            finished = q.fetch_one(&mut *tx).await?.ids;
        }
        Ok(())
    }

    /// The leader's sweep over pending jobs: settles up to `limit` after id `after` (those
    /// whose last dependency ended outside a completer). Returns the last id looked at, `None`
    /// past the end.
    pub(crate) async fn pending_settle_open(&self, after: i64, limit: i64) -> Result<Option<i64>> {
        let sql = &self.inner.job.depend;
        self.retrying(move || async move {
            self.with_conn(async |c| {
                let mut tx = sqlx::Connection::begin(c).await?;
                let q = self.query_as::<Id>(&sql.lock_open).bind(after).bind(limit);
                let ids: Vec<i64> = q.fetch_all(&mut *tx).await?.into_iter().map(|r| r.id).collect();
                let cancelled =
                    self.query_as::<Ids>(&sql.settle_jobs).bind(&ids).fetch_one(&mut *tx).await?.ids;
                self.pending_settle_in(&mut tx, &cancelled).await?;
                tx.commit().await?;
                Ok(ids.last().copied().filter(|_| ids.len() as i64 == limit))
            })
            .await
        })
        .await
    }

    /// The jobs `id` waits on, with the state of each still stored.
    pub(crate) async fn job_waits_on(&self, id: i64) -> Result<Vec<WaitsOn>> {
        let q = self.query_as::<WaitsOn>(&self.inner.job.depend.waits_on).bind(id);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }
}
