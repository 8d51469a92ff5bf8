//! Every statement on the limits tables: `limits` (a row per limited queue) and
//! `limit_starts` (the starts of each partition's rate window). Setting and clearing a limit
//! notify the control channel (`limit:<queue>`) in the same statement, so workers re-read
//! which of their queues are limited as the change commits.

use super::{Db, render};
use crate::error::Result;
use crate::limit::{Limit, Partition, QueueLimit, Rate};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::sync::Arc;
use std::time::Duration;

const SET: &str = r#"
WITH l AS (
    INSERT INTO {schema}.limits AS l
        (queue, concurrency, rate, period_ms, partition_kind, partition_arg, created_at, updated_at)
    VALUES ($2, $3, $4, $5, $6, $7, {now}, {now})
    ON CONFLICT (queue) DO UPDATE
    SET concurrency = EXCLUDED.concurrency, rate = EXCLUDED.rate, period_ms = EXCLUDED.period_ms,
        partition_kind = EXCLUDED.partition_kind, partition_arg = EXCLUDED.partition_arg,
        updated_at = EXCLUDED.updated_at
    RETURNING queue
)
SELECT pg_notify('{control}', 'limit:' || queue)::text FROM l
"#;

const CLEAR: &str = r#"
WITH l AS (DELETE FROM {schema}.limits WHERE queue = $2 RETURNING queue)
SELECT pg_notify('{control}', 'limit:' || queue)::text FROM l
"#;

const COLUMNS: &str = "queue, concurrency, rate, period_ms, partition_kind, partition_arg, updated_at";

/// Which of the queues `$2` have a limit (a primary-key probe per name).
const AMONG: &str = "SELECT queue FROM {schema}.limits WHERE queue = ANY($2::text[])";

/// Queue `$2`'s limit, its row locked until the claim's transaction ends: limited claims of
/// one queue take turns, so each counts what the one before it started.
const LOCK: &str = "SELECT {columns} FROM {schema}.limits WHERE queue = $2 FOR UPDATE";

/// The claim's time (read after the lock, so claims record increasing times), with the
/// starts of queue `$2` inside the window of `$3` ms before it, per partition: their sum and
/// the oldest. Entries that left the window are deleted. The time is a scalar subquery, not a
/// join: a join with one row would be a nested loop, off in worker sessions, whose disabled
/// cost sets off JIT compilation (hundreds of ms) under the lock.
const WINDOW: &str = r#"
WITH t AS MATERIALIZED (SELECT clock_timestamp() + $1 * interval '1 microsecond' AS at),
gone AS (
    DELETE FROM {schema}.limit_starts
    WHERE queue = $2 AND at <= (SELECT at FROM t) - $3 * interval '1 millisecond'
),
w AS (
    SELECT partition, sum(n)::bigint AS n, min(at) AS oldest
    FROM {schema}.limit_starts
    WHERE queue = $2 AND at > (SELECT at FROM t) - $3 * interval '1 millisecond'
    GROUP BY partition
)
SELECT (SELECT at FROM t) AS at, coalesce(array_agg(partition), '{}') AS partitions,
       coalesce(array_agg(n), '{}') AS starts, coalesce(array_agg(oldest), '{}') AS oldest
FROM w
"#;

/// Records `$4[i]` starts of partition `$3[i]` at `$5` for queue `$2`.
const RECORD: &str = r#"
INSERT INTO {schema}.limit_starts (queue, partition, at, n)
SELECT $2, p, $5, n FROM unnest($3::text[], $4::int[]) AS u(p, n)
"#;

/// The rendered statements on the limits tables for one schema.
pub(super) struct LimitSql {
    set: Arc<str>,
    clear: Arc<str>,
    list: Arc<str>,
    among: Arc<str>,
    lock: Arc<str>,
    window: Arc<str>,
    record: Arc<str>,
}

impl LimitSql {
    pub(super) fn new(schema: &str) -> Self {
        let list = format!("SELECT {COLUMNS} FROM {{schema}}.limits ORDER BY queue");
        LimitSql {
            set: render(SET, schema),
            clear: render(CLEAR, schema),
            list: render(&list, schema),
            among: render(AMONG, schema),
            lock: render(&LOCK.replace("{columns}", COLUMNS), schema),
            window: render(WINDOW, schema),
            record: render(RECORD, schema),
        }
    }
}

/// A row of `limits`.
#[derive(sqlx::FromRow)]
struct Row {
    queue: String,
    concurrency: Option<i32>,
    rate: Option<i32>,
    period_ms: Option<i32>,
    partition_kind: bool,
    partition_arg: Option<String>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_limit(self) -> QueueLimit {
        let rate = self
            .rate
            .zip(self.period_ms)
            .map(|(starts, ms)| Rate { starts: starts as u32, per: Duration::from_millis(ms as u64) });
        let partition = Partition { by_kind: self.partition_kind, by_arg: self.partition_arg };
        let limit = Limit { concurrency: self.concurrency.map(|n| n as u32), rate, partition };
        QueueLimit { queue: self.queue, limit, updated_at: self.updated_at }
    }
}

/// The starts inside a rate window, per partition, as of `at`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Window {
    /// The claim's time: after the lock, on the database's (shifted) clock.
    pub at: DateTime<Utc>,
    pub partitions: Vec<String>,
    pub starts: Vec<i64>,
    /// Each partition's oldest start in the window.
    pub oldest: Vec<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Queue {
    queue: String,
}

impl Db {
    /// Stores `limit` for `queue` (validated) and tells the workers.
    pub(crate) async fn limit_set(&self, queue: &str, limit: &Limit) -> Result<()> {
        let rate = limit.rate.map(|r| (r.starts as i32, r.per.as_millis() as i32));
        let q = self
            .query(&self.inner.limit.set)
            .bind(queue)
            .bind(limit.concurrency.map(|n| n as i32))
            .bind(rate.map(|r| r.0))
            .bind(rate.map(|r| r.1))
            .bind(limit.partition.by_kind)
            .bind(limit.partition.by_arg.as_deref());
        self.with_conn(async |c| q.execute(c).await).await?;
        Ok(())
    }

    /// Removes `queue`'s limit (and its window); false if it had none.
    pub(crate) async fn limit_clear(&self, queue: &str) -> Result<bool> {
        let q = self.query(&self.inner.limit.clear).bind(queue);
        let done = self.with_conn(async |c| q.execute(c).await).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every stored limit, by queue.
    pub(crate) async fn limit_list(&self) -> Result<Vec<QueueLimit>> {
        let q = self.query_as::<Row>(&self.inner.limit.list);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(Row::into_limit).collect())
    }

    /// The limited queues among `names`.
    pub(crate) async fn limit_queues_among(&self, names: &[String]) -> Result<Vec<String>> {
        let q = self.query_as::<Queue>(&self.inner.limit.among).bind(names);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(|r| r.queue).collect())
    }

    /// Locks `queue`'s limit row inside the caller's transaction; `None` if it has no limit.
    pub(crate) async fn limit_lock(&self, c: &mut PgConnection, queue: &str) -> sqlx::Result<Option<Limit>> {
        let row = self.query_as::<Row>(&self.inner.limit.lock).bind(queue).fetch_optional(c).await?;
        Ok(row.map(|r| r.into_limit().limit))
    }

    /// The claim's time and the starts of `queue`'s window of `period` before it.
    pub(crate) async fn limit_window(
        &self,
        c: &mut PgConnection,
        queue: &str,
        period: Duration,
    ) -> sqlx::Result<Window> {
        let q = self.query_as::<Window>(&self.inner.limit.window).bind(queue).bind(period.as_millis() as i64);
        q.fetch_one(c).await
    }

    /// Records the starts of one claim: `counts` per partition, at `at`.
    pub(crate) async fn limit_record_starts(
        &self,
        c: &mut PgConnection,
        queue: &str,
        counts: &[(String, i32)],
        at: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        let (parts, ns): (Vec<&str>, Vec<i32>) = counts.iter().map(|(p, n)| (p.as_str(), *n)).unzip();
        let q = self.query(&self.inner.limit.record).bind(queue).bind(parts).bind(ns).bind(at);
        q.execute(c).await?;
        Ok(())
    }
}
