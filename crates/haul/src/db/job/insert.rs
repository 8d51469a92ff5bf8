//! Inserting jobs: a batch in one statement, or one job alone (W2's path), each notifying the
//! queues that got a job available now.

use super::columns::{Ids, notify_each_queue, statement};
use crate::db::Db;
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use std::sync::Arc;

const INSERT_MANY: &str = r#"
WITH ins AS (
    INSERT INTO {schema}.jobs (kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    SELECT t.kind, t.queue, t.args::jsonb,
           CASE WHEN t.due > {now} THEN {scheduled} ELSE {available} END,
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
       {notify_queues} AS notified
"#;

/// One job: the same row as `INSERT_MANY` builds, without the arrays.
const INSERT_ONE: &str = r#"
WITH ins AS (
    INSERT INTO {schema}.jobs (kind, queue, args, state, priority, max_attempts, run_at,
                               created_at, timeout_ms, metadata, tags)
    SELECT $2, $3, $4::jsonb, CASE WHEN t.due > {now} THEN {scheduled} ELSE {available} END,
           $5, $6, t.due, {now}, $9, coalesce($10::jsonb, '{}'), coalesce(string_to_array($11, ','), '{}')
    FROM (SELECT coalesce($7::timestamptz, {now} + coalesce($8::bigint, 0) * interval '1 microsecond') AS due) t
    RETURNING id, queue, state
)
SELECT id, CASE WHEN state = {available} THEN pg_notify('{channel}', queue)::text END AS notified
FROM ins
"#;

/// The rendered insert statements for one schema.
pub(super) struct InsertSql {
    pub(super) one: Arc<str>,
    pub(super) many: Arc<str>,
}

impl InsertSql {
    pub(super) fn new(schema: &str) -> Self {
        let notify = notify_each_queue("ins WHERE state = {available}");
        InsertSql {
            one: statement(INSERT_ONE, schema),
            many: statement(&INSERT_MANY.replace("{notify_queues}", &notify), schema),
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

/// The inserted job's id.
#[derive(sqlx::FromRow)]
struct Inserted {
    id: i64,
}

impl Db {
    /// Inserts a batch in one statement, notifying each queue that got an available job once.
    pub(crate) async fn job_insert_many<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
    ) -> Result<Vec<i64>> {
        let q = self
            .query_as::<Ids>(&self.inner.job.insert.many)
            .bind(&b.kinds)
            .bind(&b.queues)
            .bind(&b.args)
            .bind(&b.priorities)
            .bind(&b.max_attempts)
            .bind(&b.run_at)
            .bind(&b.delays_us)
            .bind(&b.timeouts_ms)
            .bind(&b.metadata)
            .bind(&b.tags);
        Ok(q.fetch_one(ex).await.map_err(|e| self.err(e))?.ids)
    }

    /// Inserts the first job of `b` alone, notifying its queue if it is available now.
    pub(crate) async fn job_insert_one<'c>(&self, ex: impl PgExecutor<'c>, b: &InsertBatch) -> Result<i64> {
        let q = self
            .query_as::<Inserted>(&self.inner.job.insert.one)
            .bind(&b.kinds[0])
            .bind(&b.queues[0])
            .bind(&b.args[0])
            .bind(b.priorities[0])
            .bind(b.max_attempts[0])
            .bind(b.run_at[0])
            .bind(b.delays_us[0])
            .bind(b.timeouts_ms[0])
            .bind(&b.metadata[0])
            .bind(&b.tags[0]);
        Ok(q.fetch_one(ex).await.map_err(|e| self.err(e))?.id)
    }
}
