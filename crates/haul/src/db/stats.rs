//! Every statement on the stats rollups table: the workers' upsert of their pending
//! rollups (one statement for all of them, adding to what other workers wrote in the same
//! minute), the read of a window summed per queue and kind, and the cleaner's bounded delete
//! of rows past the retention.

use super::{Db, render};
use crate::error::Result;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use std::sync::Arc;

/// Adds rollups `$2`.. to the rows of the current minute. Histograms come flat, `$11` buckets
/// per rollup in order; rows are written in key order, so concurrent workers lock them in one
/// order.
const UPSERT_MANY: &str = r#"
INSERT INTO {schema}.stats_rollups AS r
    (bucket, queue, kind, completed, retried, snoozed, cancelled, discarded, run_time, queue_wait)
SELECT date_trunc('minute', {now}), u.queue, u.kind, u.completed, u.retried, u.snoozed,
       u.cancelled, u.discarded,
       ($9::bigint[])[(u.n - 1) * $11 + 1 : u.n * $11],
       ($10::bigint[])[(u.n - 1) * $11 + 1 : u.n * $11]
FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
     WITH ORDINALITY AS u(queue, kind, completed, retried, snoozed, cancelled, discarded, n)
ORDER BY u.queue, u.kind
ON CONFLICT (bucket, queue, kind) DO UPDATE SET
    completed = r.completed + EXCLUDED.completed,
    retried = r.retried + EXCLUDED.retried,
    snoozed = r.snoozed + EXCLUDED.snoozed,
    cancelled = r.cancelled + EXCLUDED.cancelled,
    discarded = r.discarded + EXCLUDED.discarded,
    run_time = {add_run_time},
    queue_wait = {add_queue_wait}
"#;

/// `{add_…}`: the element-wise sum of the row's histogram and the excluded one.
const ADD_ARRAYS: &str = "(SELECT array_agg(coalesce(a, 0) + coalesce(b, 0) ORDER BY i)
        FROM unnest(r.{col}, EXCLUDED.{col}) WITH ORDINALITY AS h(a, b, i))";

/// The database's time and the start of a window of `$2` minutes: the current minute and the
/// `$2 - 1` before it.
const WINDOW: &str =
    "SELECT {now} AS now, date_trunc('minute', {now}) - ($2 - 1) * interval '1 minute' AS since";

/// Rollups from `$2` on, optionally of queue `$3` and kind `$4`, by queue and kind (summed
/// as they stream in: a window of a few minutes is a few rows per queue and kind).
const SINCE: &str = r#"
SELECT queue, kind, completed, retried, snoozed, cancelled, discarded, run_time, queue_wait
FROM {schema}.stats_rollups
WHERE bucket >= $2 AND ($3::text IS NULL OR queue = $3) AND ($4::text IS NULL OR kind = $4)
ORDER BY queue, kind
"#;

/// Rollups from `$2` on, optionally of queue `$3` and kind `$4`, summed per minute (the
/// primary key's leading `bucket` bounds the read to the window's rows).
const BY_MINUTE: &str = r#"
SELECT bucket, sum(completed)::bigint AS completed, sum(retried)::bigint AS retried,
       sum(snoozed)::bigint AS snoozed, sum(cancelled)::bigint AS cancelled,
       sum(discarded)::bigint AS discarded
FROM {schema}.stats_rollups
WHERE bucket >= $2 AND ($3::text IS NULL OR queue = $3) AND ($4::text IS NULL OR kind = $4)
GROUP BY bucket
ORDER BY bucket
"#;

/// Deletes at most `$3` rows of minutes older than `$2` seconds.
const DELETE_BEFORE: &str = r#"
DELETE FROM {schema}.stats_rollups
WHERE (bucket, queue, kind) IN (
    SELECT bucket, queue, kind FROM {schema}.stats_rollups
    WHERE bucket < {now} - $2 * interval '1 second'
    ORDER BY bucket
    LIMIT $3
)
"#;

/// The rendered statements on `stats_rollups` for one schema.
pub(super) struct StatsSql {
    upsert_many: Arc<str>,
    window: Arc<str>,
    since: Arc<str>,
    by_minute: Arc<str>,
    delete_before: Arc<str>,
}

impl StatsSql {
    pub(super) fn new(schema: &str) -> Self {
        let upsert = UPSERT_MANY
            .replace("{add_run_time}", &ADD_ARRAYS.replace("{col}", "run_time"))
            .replace("{add_queue_wait}", &ADD_ARRAYS.replace("{col}", "queue_wait"));
        StatsSql {
            upsert_many: render(&upsert, schema),
            window: render(WINDOW, schema),
            since: render(SINCE, schema),
            by_minute: render(BY_MINUTE, schema),
            delete_before: render(DELETE_BEFORE, schema),
        }
    }
}

/// Pending rollups as the columns of one upsert: one entry per queue and kind, histograms
/// flat (`buckets` per entry, in entry order).
#[derive(Debug, Default)]
pub(crate) struct RollupBatch {
    pub buckets: i32,
    pub queues: Vec<String>,
    pub kinds: Vec<String>,
    pub completed: Vec<i64>,
    pub retried: Vec<i64>,
    pub snoozed: Vec<i64>,
    pub cancelled: Vec<i64>,
    pub discarded: Vec<i64>,
    pub run_time: Vec<i64>,
    pub queue_wait: Vec<i64>,
}

/// The database's time and the start of a window.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct StatsWindow {
    pub now: DateTime<Utc>,
    pub since: DateTime<Utc>,
}

/// One queue and kind's rollups over a window (histograms added element by element).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RollupSum {
    pub queue: String,
    pub kind: String,
    pub completed: i64,
    pub retried: i64,
    pub snoozed: i64,
    pub cancelled: i64,
    pub discarded: i64,
    pub run_time: Vec<i64>,
    pub queue_wait: Vec<i64>,
}

/// One minute's outcomes, every queue and kind asked for added up.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MinuteSum {
    pub bucket: DateTime<Utc>,
    pub completed: i64,
    pub retried: i64,
    pub snoozed: i64,
    pub cancelled: i64,
    pub discarded: i64,
}

impl RollupSum {
    fn add(&mut self, r: &RollupSum) {
        self.completed += r.completed;
        self.retried += r.retried;
        self.snoozed += r.snoozed;
        self.cancelled += r.cancelled;
        self.discarded += r.discarded;
        add_into(&mut self.run_time, &r.run_time);
        add_into(&mut self.queue_wait, &r.queue_wait);
    }
}

fn add_into(to: &mut Vec<i64>, from: &[i64]) {
    if to.len() < from.len() {
        to.resize(from.len(), 0);
    }
    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
}

impl Db {
    /// Adds `batch` to the current minute's rows, in one statement.
    pub(crate) async fn stats_upsert_many(&self, b: &RollupBatch) -> Result<()> {
        let q = self
            .query(&self.inner.stats.upsert_many)
            .bind(&b.queues)
            .bind(&b.kinds)
            .bind(&b.completed)
            .bind(&b.retried)
            .bind(&b.snoozed)
            .bind(&b.cancelled)
            .bind(&b.discarded)
            .bind(&b.run_time)
            .bind(&b.queue_wait)
            .bind(b.buckets);
        self.with_conn(async |c| q.execute(c).await).await?;
        Ok(())
    }

    /// The database's time and the start of a window of `minutes` minute buckets.
    pub(crate) async fn stats_window(&self, minutes: i32) -> Result<StatsWindow> {
        let q = self.query_as(&self.inner.stats.window).bind(minutes);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    /// The rollups from `since` on, per queue and kind, optionally of one queue or kind.
    pub(crate) async fn stats_sum_since(
        &self,
        since: DateTime<Utc>,
        queue: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Vec<RollupSum>> {
        let q = self.query_as::<RollupSum>(&self.inner.stats.since).bind(since).bind(queue).bind(kind);
        self.with_conn(async |c| {
            let mut rows = q.fetch(c);
            let mut sums: Vec<RollupSum> = Vec::new();
            while let Some(r) = rows.try_next().await? {
                match sums.last_mut() {
                    Some(s) if s.queue == r.queue && s.kind == r.kind => s.add(&r),
                    _ => sums.push(r),
                }
            }
            Ok(sums)
        })
        .await
    }

    /// The rollups from `since` on, summed per minute (minutes without any left out).
    pub(crate) async fn stats_by_minute(
        &self,
        since: DateTime<Utc>,
        queue: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Vec<MinuteSum>> {
        let q = self.query_as(&self.inner.stats.by_minute).bind(since).bind(queue).bind(kind);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }

    /// Deletes at most `batch` rows of minutes older than `keep_s` seconds; how many it did.
    pub(crate) async fn stats_delete_before(&self, keep_s: f64, batch: i64) -> Result<u64> {
        let q = self.query(&self.inner.stats.delete_before).bind(keep_s).bind(batch);
        Ok(self.with_conn(async |c| q.execute(c).await).await?.rows_affected())
    }
}
