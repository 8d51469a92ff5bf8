//! Every statement on the limits tables: `limits` (a row per limited queue) and
//! `limit_starts` (the starts of each partition's rate window, pending until the claim's
//! handlers have begun). Setting and clearing a limit notify the control channel
//! (`limit:<queue>`) in the same statement, so workers re-read which of their queues are
//! limited as the change commits.

use super::{Db, render};
use crate::error::Result;
use crate::limit::{Limit, Partition, QueueLimit, Rate};
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};
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
/// the oldest. A reported start counts while its handlers' beginning is inside the window; a
/// pending one (its handlers not all begun, or not yet reported) counts until it is reported,
/// or until `$4` ms (a lease) past the window if its worker died first. Its `oldest` is a
/// guess, a few ms ahead, at which a retry finds it reported. Entries that left the window
/// are deleted. The time is a scalar subquery, not a join: a join with one row would be a
/// nested loop, off in worker sessions, whose disabled cost sets off JIT compilation
/// (hundreds of ms) under the lock.
const WINDOW: &str = r#"
WITH t AS MATERIALIZED (
    SELECT clock_timestamp() + $1 * interval '1 microsecond' AS at,
           $3 * interval '1 millisecond' AS per, $4 * interval '1 millisecond' AS grace
),
gone AS (
    DELETE FROM {schema}.limit_starts
    WHERE queue = $2 AND at <= (SELECT at - per FROM t)
      AND (NOT pending OR at <= (SELECT at - per - grace FROM t))
),
w AS (
    SELECT partition, sum(n)::bigint AS n,
           min(CASE WHEN pending THEN greatest(at, (SELECT at - per FROM t) + interval '5 ms')
                    ELSE at END) AS oldest
    FROM {schema}.limit_starts
    WHERE queue = $2 AND at > (SELECT at - per - grace FROM t)
      AND (pending OR at > (SELECT at - per FROM t))
    GROUP BY partition
)
SELECT (SELECT at FROM t) AS at, coalesce(array_agg(partition), '{}') AS partitions,
       coalesce(array_agg(n), '{}') AS starts, coalesce(array_agg(oldest), '{}') AS oldest
FROM w
"#;

/// Records `$4[i]` starts of partition `$3[i]` at `$5` for queue `$2`, pending until their
/// handlers have begun; returns the entries' ids.
const RECORD: &str = r#"
INSERT INTO {schema}.limit_starts (queue, partition, at, n, pending)
SELECT $2, p, $5, n, true FROM unnest($3::text[], $4::int[]) AS u(p, n)
RETURNING id
"#;

/// Marks entries `$2` begun at `$3`, when every handler of their claims had started (on the
/// shifted clock). Committed without waiting for the WAL flush: other processes' claims wait
/// for this mark, and a mark lost to a crash only leaves its starts pending, counted longer,
/// never less.
const BEGUN: &str = r#"
WITH quick AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))
UPDATE {schema}.limit_starts SET at = $3, pending = false
WHERE id = ANY($2::bigint[]) AND pending AND EXISTS (SELECT FROM quick)
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
    begun: Arc<str>,
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
            begun: render(BEGUN, schema),
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

    /// The claim's time and the starts of `queue`'s window of `period` before it; a pending
    /// start counts for up to `grace` past the window.
    pub(crate) async fn limit_window(
        &self,
        c: &mut PgConnection,
        queue: &str,
        period: Duration,
        grace: Duration,
    ) -> sqlx::Result<Window> {
        let q = self.query_as::<Window>(&self.inner.limit.window).bind(queue).bind(period.as_millis() as i64);
        q.bind(grace.as_millis() as i64).fetch_one(c).await
    }

    /// Records the starts of one claim, pending: `counts` per partition, at `at`. Returns
    /// the entries' ids, for [`Db::limit_starts_begun`].
    pub(crate) async fn limit_record_starts(
        &self,
        c: &mut PgConnection,
        queue: &str,
        counts: &[(String, i32)],
        at: DateTime<Utc>,
    ) -> sqlx::Result<Vec<i64>> {
        let (parts, ns): (Vec<&str>, Vec<i32>) = counts.iter().map(|(p, n)| (p.as_str(), *n)).unzip();
        let q = self.query_as::<(i64,)>(&self.inner.limit.record).bind(queue).bind(parts).bind(ns).bind(at);
        Ok(q.fetch_all(c).await?.into_iter().map(|(id,)| id).collect())
    }

    /// Marks recorded starts `ids` as begun at `at` (their handlers had all started by then):
    /// from then their window runs.
    pub(crate) async fn limit_starts_begun(&self, ids: &[i64], at: DateTime<Utc>) -> Result<()> {
        let q = self.query(&self.inner.limit.begun).bind(ids).bind(at);
        self.with_conn(async |c| q.execute(c).await).await?;
        Ok(())
    }

    /// [`Db::limit_starts_begun`] on a connection already taken from the pool.
    pub(crate) async fn limit_starts_begun_on(
        &self,
        conn: PoolConnection<Postgres>,
        ids: &[i64],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let q = self.query(&self.inner.limit.begun).bind(ids).bind(at);
        self.on_conn(conn, async |c| q.execute(c).await).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Clock;
    use crate::db::{Db, test_db};
    use crate::limit::Limit;
    use std::time::Duration;

    const PER: Duration = Duration::from_secs(1);
    const GRACE: Duration = Duration::from_secs(10);

    async fn starts(db: &Db) -> Vec<i64> {
        let mut c = db.pool().acquire().await.unwrap();
        db.limit_window(&mut c, "q", PER, GRACE).await.unwrap().starts
    }

    async fn record(db: &Db) -> Vec<i64> {
        let mut c = db.pool().acquire().await.unwrap();
        let at = db.limit_window(&mut c, "q", PER, GRACE).await.unwrap().at;
        db.limit_record_starts(&mut c, "q", &[("".into(), 2)], at).await.unwrap()
    }

    #[tokio::test]
    async fn a_pending_start_counts_until_marked_begun_or_a_grace_past_its_window() {
        let (pool, _, schema) = test_db("limit").await;
        let clock = Clock::database();
        let db = Db::new(pool, &schema, clock.clone());
        db.limit_set("q", &Limit::rate(2, PER)).await.unwrap();

        record(&db).await;
        clock.advance(5 * PER);
        assert_eq!(starts(&db).await, [2], "pending: counted past its window, its handlers not begun");
        clock.advance(GRACE);
        assert!(starts(&db).await.is_empty(), "a grace past its window, its worker presumed dead");

        let ids = record(&db).await;
        clock.advance(5 * PER);
        let mut c = db.pool().acquire().await.unwrap();
        let now = db.limit_window(&mut c, "q", PER, GRACE).await.unwrap().at;
        db.limit_starts_begun(&ids, now).await.unwrap();
        clock.advance(PER / 2);
        assert_eq!(starts(&db).await, [2], "begun half a window ago: counted from when it began");
        clock.advance(PER);
        assert!(starts(&db).await.is_empty(), "begun a window ago: left it");
    }
}
