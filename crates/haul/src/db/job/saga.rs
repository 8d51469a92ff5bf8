//! Sagas: inserting a saga (its row and its steps as a chain) and settling sagas: the one
//! whose step ended for good gets the compensations of its earlier steps, as a chain in
//! reverse order; the one whose last step completed is marked completed. The `sagas` table is
//! only ever written with `jobs`, so its statements live here.
//!
//! Settling locks the saga rows first and reads the steps in a statement whose snapshot
//! follows the lock (as batches do), so a saga is ended, and compensated, exactly once.

use super::columns::{notify_each_queue, statement};
use crate::db::{Db, InsertBatch};
use crate::error::Result;
use crate::job::JobState;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use std::sync::Arc;

/// A saga row and its steps (`$2`..`$11` as `INSERT_MANY`) in one statement: each step after
/// the first waits on the one before, and names its saga and position in its metadata (read
/// back by the completer). `$12` holds one compensation row (or null) per step.
const SAGA_INSERT: &str = r#"
WITH s AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('{schema}.sagas', 'id')) AS id
),
ids AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('{schema}.jobs', 'id')) AS id, ord
    FROM generate_series(1, cardinality($2::text[])) AS ord
),
ins AS (
    INSERT INTO {schema}.jobs (id, kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    OVERRIDING SYSTEM VALUE
    SELECT ids.id, t.kind, t.queue, t.args::jsonb,
           CASE WHEN t.ord > 1 THEN {pending} WHEN t.due > {now} THEN {scheduled} ELSE {available} END,
           t.priority, t.max_attempts, t.due, {now}, t.timeout_ms,
           coalesce(t.metadata::jsonb, '{}')
               || jsonb_build_object('haul:saga', jsonb_build_object('id', s.id, 'step', t.ord - 1)),
           coalesce(string_to_array(t.tags, ','), '{}')
    FROM (SELECT u.*, coalesce(u.run_at, {now} + coalesce(u.delay_us, 0) * interval '1 microsecond') AS due
          FROM unnest($2::text[], $3::text[], $4::text[], $5::smallint[], $6::smallint[],
                      $7::timestamptz[], $8::bigint[], $9::int[], $10::text[], $11::text[])
            WITH ORDINALITY
            AS u(kind, queue, args, priority, max_attempts, run_at, delay_us, timeout_ms, metadata, tags, ord)
         ) t JOIN ids ON ids.ord = t.ord CROSS JOIN s
    RETURNING id, queue, state
),
edges AS (
    INSERT INTO {schema}.dependencies (job_id, depends_on)
    SELECT c.id, p.id FROM ids c JOIN ids p ON p.ord = c.ord - 1
),
saga AS (
    INSERT INTO {schema}.sagas (id, step_ids, compensations, created_at)
    OVERRIDING SYSTEM VALUE
    SELECT s.id, (SELECT array_agg(id ORDER BY ord) FROM ids), $12::jsonb, {now} FROM s
)
SELECT (SELECT id FROM s) AS saga, coalesce((SELECT array_agg(id ORDER BY ord) FROM ids), '{}') AS ids,
       {notify_queues} AS notified
"#;

/// Locks the running sagas among `$2`, in id order.
const SAGA_LOCK: &str = r#"
SELECT id FROM {schema}.sagas WHERE id = ANY($2) AND state = 'running' ORDER BY id FOR UPDATE
"#;

/// Locks up to `$3` running sagas after id `$2` that no other sweep holds, in id order.
const SAGA_LOCK_OPEN: &str = r#"
SELECT id FROM {schema}.sagas WHERE state = 'running' AND id > $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
"#;

/// Ends the locked running sagas of `$2` whose outcome is known: a step discarded or
/// cancelled (the first such) makes the saga `compensating` and inserts the compensations of
/// the steps before it, last step first, each waiting on the one before; every step completed
/// (or no longer stored) makes it `completed`.
const SAGA_SETTLE: &str = r#"
WITH s AS (
    SELECT id, step_ids, compensations FROM {schema}.sagas WHERE id = ANY($2) AND state = 'running'
),
stored AS (
    SELECT id, state FROM {schema}.jobs WHERE id = ANY(ARRAY(SELECT unnest(step_ids) FROM s))
),
steps AS (
    SELECT s.id AS saga, st.ord, p.state
    FROM s CROSS JOIN LATERAL unnest(s.step_ids) WITH ORDINALITY AS st(job_id, ord)
    LEFT JOIN stored p ON p.id = st.job_id
),
failed AS (
    SELECT saga, min(ord) AS ord FROM steps WHERE state IN ({discarded}, {cancelled}) GROUP BY saga
),
done AS (
    SELECT saga FROM steps GROUP BY saga HAVING bool_and(state IS NULL OR state = {completed})
),
comp AS MATERIALIZED (
    SELECT c.saga, c.step, c.row, nextval(pg_get_serial_sequence('{schema}.jobs', 'id')) AS id,
           row_number() OVER (PARTITION BY c.saga ORDER BY c.step DESC) AS seq,
           count(*) OVER (PARTITION BY c.saga) AS n
    FROM (SELECT f.saga, g.step, s.compensations->g.step::int AS row
          FROM failed f JOIN s ON s.id = f.saga
          CROSS JOIN LATERAL generate_series(0, f.ord - 2) AS g(step)
          WHERE jsonb_typeof(s.compensations->g.step::int) = 'object') c
),
cins AS (
    INSERT INTO {schema}.jobs (id, kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    OVERRIDING SYSTEM VALUE
    SELECT c.id, c.row->>'kind', c.row->>'queue', c.row->'args',
           CASE WHEN c.seq > 1 THEN {pending} ELSE {available} END,
           (c.row->>'priority')::smallint, (c.row->>'max_attempts')::smallint, {now}, {now},
           (c.row->>'timeout_ms')::int,
           CASE WHEN jsonb_typeof(c.row->'metadata') = 'object' THEN c.row->'metadata' ELSE '{}' END
               || jsonb_build_object('haul:compensates', jsonb_build_object('saga', c.saga, 'step', c.step))
               || CASE WHEN c.seq < c.n THEN '{"haul:dependents": true}'::jsonb ELSE '{}' END,
           ARRAY(SELECT jsonb_array_elements_text(coalesce(c.row->'tags', '[]')))
    FROM comp c
    RETURNING id, queue, state
),
cedges AS (
    INSERT INTO {schema}.dependencies (job_id, depends_on)
    SELECT b.id, a.id FROM comp a JOIN comp b ON b.saga = a.saga AND b.seq = a.seq + 1
),
ends AS (
    SELECT saga, (ord - 1)::int AS failed FROM failed
    UNION ALL SELECT saga, NULL FROM done
),
upd AS (
    UPDATE {schema}.sagas g
    SET state = CASE WHEN e.failed IS NULL THEN 'completed' ELSE 'compensating' END,
        failed_step = e.failed, finished_at = {now},
        compensation_ids = (SELECT array_agg(c.id ORDER BY c.seq) FROM comp c WHERE c.saga = g.id)
    FROM ends e WHERE g.id = e.saga
    RETURNING g.id
)
SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM upd), '{}') AS ids, {notify_queues} AS notified
"#;

/// One saga with its steps' and compensations' states.
const SAGA_GET: &str = r#"
SELECT g.id, g.state, g.failed_step, g.created_at, g.finished_at, g.step_ids,
       ARRAY(SELECT (SELECT j.state::text FROM {schema}.jobs j WHERE j.id = x.id)
             FROM unnest(g.step_ids) WITH ORDINALITY AS x(id, ord) ORDER BY x.ord) AS step_states,
       coalesce(g.compensation_ids, '{}') AS compensation_ids,
       ARRAY(SELECT (SELECT j.state::text FROM {schema}.jobs j WHERE j.id = x.id)
             FROM unnest(coalesce(g.compensation_ids, '{}')) WITH ORDINALITY AS x(id, ord) ORDER BY x.ord)
         AS compensation_states
FROM {schema}.sagas g WHERE g.id = $2
"#;

/// The rendered saga statements for one schema.
pub(super) struct SagaSql {
    pub(super) insert: Arc<str>,
    pub(super) lock: Arc<str>,
    pub(super) lock_open: Arc<str>,
    pub(super) settle: Arc<str>,
    pub(super) get: Arc<str>,
}

impl SagaSql {
    pub(super) fn new(schema: &str) -> Self {
        SagaSql {
            insert: statement(
                &SAGA_INSERT.replace("{notify_queues}", &notify_each_queue("ins WHERE state = {available}")),
                schema,
            ),
            lock: statement(SAGA_LOCK, schema),
            lock_open: statement(SAGA_LOCK_OPEN, schema),
            settle: statement(
                &SAGA_SETTLE.replace("{notify_queues}", &notify_each_queue("cins WHERE state = {available}")),
                schema,
            ),
            get: statement(SAGA_GET, schema),
        }
    }
}

/// A saga just inserted: its id and its steps' ids, in order.
#[derive(sqlx::FromRow)]
pub(crate) struct SagaIds {
    pub saga: i64,
    pub ids: Vec<i64>,
}

/// A saga row with its steps' and compensations' states (`None`: no longer stored).
#[derive(sqlx::FromRow)]
pub(crate) struct SagaRow {
    pub id: i64,
    pub state: String,
    pub failed_step: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub step_ids: Vec<i64>,
    pub step_states: Vec<Option<JobState>>,
    pub compensation_ids: Vec<i64>,
    pub compensation_states: Vec<Option<JobState>>,
}

#[derive(sqlx::FromRow)]
struct Id {
    id: i64,
}

#[derive(sqlx::FromRow)]
struct Ids {
    ids: Vec<i64>,
}

impl Db {
    /// Inserts a saga row and its steps (`b`, each but the last marked as waited on) in one
    /// statement; `compensations` is a JSON array, one row or null per step.
    pub(crate) async fn saga_insert<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
        compensations: &str,
    ) -> Result<SagaIds> {
        let q = super::insert::bind_jobs(self.query_as::<SagaIds>(&self.inner.job.saga.insert), b);
        q.bind(compensations).fetch_one(ex).await.map_err(|e| self.err(e))
    }

    /// Settles the sagas `ids` in the caller's transaction (see `SAGA_SETTLE`); returns the
    /// ids of those it ended.
    pub(crate) async fn saga_settle_in(&self, tx: &mut PgConnection, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
        self.query_as::<Id>(&self.inner.job.saga.lock).bind(ids).fetch_all(&mut *tx).await?;
        Ok(self.query_as::<Ids>(&self.inner.job.saga.settle).bind(ids).fetch_one(&mut *tx).await?.ids)
    }

    /// The leader's sweep over running sagas: settles up to `limit` after id `after`. Returns
    /// the last id looked at, `None` past the end.
    pub(crate) async fn saga_settle_open(&self, after: i64, limit: i64) -> Result<Option<i64>> {
        let sql = &self.inner.job.saga;
        self.retrying(move || async move {
            self.with_conn(async |c| {
                let mut tx = sqlx::Connection::begin(c).await?;
                let q = self.query_as::<Id>(&sql.lock_open).bind(after).bind(limit);
                let ids: Vec<i64> = q.fetch_all(&mut *tx).await?.into_iter().map(|r| r.id).collect();
                // already locked by this transaction: the lock statement returns at once
                self.saga_settle_in(&mut tx, &ids).await?;
                tx.commit().await?;
                Ok(ids.last().copied().filter(|_| ids.len() as i64 == limit))
            })
            .await
        })
        .await
    }

    /// One saga with its steps and compensations.
    pub(crate) async fn saga_get(&self, id: i64) -> Result<Option<SagaRow>> {
        let q = self.query_as::<SagaRow>(&self.inner.job.saga.get).bind(id);
        self.with_conn(async |c| q.fetch_optional(c).await).await
    }
}
