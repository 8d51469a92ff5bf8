//! Operators' statements on many jobs chosen by a filter: a page of them (newest first, keyset
//! paging), and retry, cancel, delete and purge in bounded batches, each with the count a dry
//! run reports.
//!
//! A batch picks up to `limit` matching ids above the previous batch's last (ascending, so
//! batches lock rows in the order every batch statement does) and acts on them in the same
//! statement; the action's state condition is checked again on each row as it is locked, so a
//! job that started running meanwhile is left alone. One statement per batch, each its own
//! transaction; the caller loops until a batch finds nothing.

use super::admin::{CANCELLABLE, cancel_template, retry_template};
use super::columns::{notify_cancelled, notify_each_queue, statement};
use super::insert::UNIQUE_HELD;
use crate::db::Db;
use crate::error::Result;
use crate::job::{JobRow, JobState};
use std::sync::Arc;

/// `{filter}` on row `j`: `$2` queue, `$3` kind, `$4` states, `$5`/`$6` older/newer than (in
/// seconds of age), `$7` tag; a NULL matches every job. A job's age runs from when it was
/// finalized, or created while it is not final.
const FILTER: &str = "($2::text IS NULL OR j.queue = $2)
      AND ($3::text IS NULL OR j.kind = $3)
      AND ($4::text[] IS NULL OR j.state = ANY($4))
      AND ($5::float8 IS NULL OR coalesce(j.finalized_at, j.created_at) < {now} - $5 * interval '1 second')
      AND ($6::float8 IS NULL OR coalesce(j.finalized_at, j.created_at) >= {now} - $6 * interval '1 second')
      AND ($7::text IS NULL OR j.tags @> ARRAY[$7::text])";

/// Newest first, below id `$8` and from id `$10` on (NULL: no bound), at most `$9`. The
/// bounds are index conditions on the primary key in any plan, generic ones included.
const LIST: &str = r#"
SELECT * FROM {schema}.jobs j
WHERE {filter}
  AND j.id < coalesce($8::bigint, 9223372036854775807)
  AND j.id >= coalesce($10::bigint, -9223372036854775808)
ORDER BY j.id DESC
LIMIT $9
"#;

/// The lowest id and the number of the `$3` newest jobs below id `$2` (NULL: from the
/// newest): the floor a scan-limited page reads down to, from the primary key alone.
const SCAN_FLOOR: &str = r#"
SELECT min(id) AS floor, count(*) AS n FROM (
    SELECT id FROM {schema}.jobs
    WHERE id < coalesce($2::bigint, 9223372036854775807)
    ORDER BY id DESC
    LIMIT $3
) w
"#;

/// What one batch would touch now: rows changed at once, and running rows it would only ask.
const COUNT: &str = r#"
SELECT count(*) FILTER (WHERE j.state <> {running}) AS changed,
       count(*) FILTER (WHERE j.state = {running}) AS requested
FROM {schema}.jobs j
WHERE {filter} AND {acting}
"#;

/// One batch: the window of ids after `$8`, at most `$9`; `{action}` acts on them (a CTE
/// `done` returning `id, queue, state`, its argument `$10`); `{wake}` notifies the queues of
/// jobs it made available; `{told}` tells the maintenance leader's hooks of the jobs it
/// cancelled; running jobs' workers are asked to stop.
const BATCH: &str = r#"
WITH w AS MATERIALIZED (
    SELECT j.id FROM {schema}.jobs j
    WHERE {filter} AND {acting} AND j.id > $8
    ORDER BY j.id
    LIMIT $9
), done AS (
    {action}
)
SELECT (SELECT max(id) FROM w) AS last,
       (SELECT count(*) FROM done WHERE state <> {running}) AS changed,
       (SELECT count(*) FROM done WHERE state = {running}) AS requested,
       {wake} AS woken,
       {told} AS told,
       (SELECT count(pg_notify('{control}', 'cancel:' || id)) FROM done WHERE state = {running}) AS asked
"#;

/// The rows of the window that still qualify, as locked.
const WINDOW: &str = "j.id = ANY(ARRAY(SELECT id FROM w)) AND {acting}";

/// A retried job whose unique key another job holds (while available) stays where it is:
/// making it available would break `jobs_unique`. `4` is available's bit (migration 0005); the
/// key compares in the index's collation (migration 0013), so the lookup can use it.
const KEY_FREE: &str = "NOT ((j.unique_states & 4) <> 0 AND EXISTS (
        SELECT 1 FROM {schema}.jobs WHERE {unique_held}
          AND unique_key COLLATE \"C\" = j.unique_key AND id <> j.id))";

const RETRY: &str = "UPDATE {schema}.jobs j SET {retry_set} WHERE {window} RETURNING j.id, j.queue, j.state";
const CANCEL: &str = "UPDATE {schema}.jobs j SET {cancel_set} WHERE {window} RETURNING {cancel_returning}";
const DELETE: &str = "DELETE FROM {schema}.jobs j WHERE {window} RETURNING j.id, j.queue, j.state";

/// What a batch does to the jobs a filter picks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bulk {
    /// Available now; `reset`: with the full attempt budget again.
    Retry { reset: bool },
    /// Waiting jobs cancelled, running ones asked to stop, with `reason` recorded.
    Cancel { reason: String },
    /// Every job but running ones deleted.
    Delete,
    /// Final jobs deleted.
    Purge,
}

impl Bulk {
    const ALL: [Bulk; 4] =
        [Bulk::Retry { reset: false }, Bulk::Cancel { reason: String::new() }, Bulk::Delete, Bulk::Purge];

    fn index(&self) -> usize {
        match self {
            Bulk::Retry { .. } => 0,
            Bulk::Cancel { .. } => 1,
            Bulk::Delete => 2,
            Bulk::Purge => 3,
        }
    }

    /// The rows this action applies to (on `j`).
    fn acting(&self) -> String {
        match self {
            Bulk::Retry { .. } => {
                format!("j.state IN ({{scheduled}}, {{retryable}}, {{final}}) AND {KEY_FREE}")
            }
            Bulk::Cancel { .. } => format!("j.{CANCELLABLE}"),
            Bulk::Delete => "j.state <> {running}".into(),
            Bulk::Purge => "j.state IN ({final})".into(),
        }
    }

    /// The NOTIFY of the queues it made jobs available on (a retry's), or nothing.
    fn wake(&self) -> String {
        match self {
            Bulk::Retry { .. } => notify_each_queue("done WHERE state = {available}"),
            _ => "0".into(),
        }
    }

    /// The NOTIFY of the jobs it cancelled (a cancel's), for the leader's hooks, or nothing.
    fn told(&self) -> String {
        match self {
            Bulk::Cancel { .. } => notify_cancelled("done"),
            _ => "0".into(),
        }
    }

    /// The `done` CTE of its batch statement.
    fn action(&self) -> String {
        match self {
            Bulk::Retry { .. } => retry_template(RETRY, "$10::bool"),
            Bulk::Cancel { .. } => cancel_template(CANCEL, "$10::text"),
            Bulk::Delete | Bulk::Purge => DELETE.into(),
        }
    }
}

/// The bind values of a filter ([`FILTER`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct JobSelection {
    pub queue: Option<String>,
    pub kind: Option<String>,
    pub states: Option<Vec<JobState>>,
    pub older_than_s: Option<f64>,
    pub newer_than_s: Option<f64>,
    pub tag: Option<String>,
}

/// One batch's result: the last id it looked at (`None`: nothing left), rows changed, running
/// rows asked to stop.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BatchDone {
    pub last: Option<i64>,
    pub changed: i64,
    pub requested: i64,
}

/// The floor of a scan window: its lowest id (`None` when empty) and its jobs.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ScanFloor {
    pub floor: Option<i64>,
    pub n: i64,
}

/// What a batch would touch now.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Counted {
    pub changed: i64,
    pub requested: i64,
}

/// The rendered filter statements for one schema: the page, and per action its count and batch.
pub(super) struct ControlSql {
    pub(super) list: Arc<str>,
    pub(super) scan_floor: Arc<str>,
    pub(super) count: Vec<Arc<str>>,
    pub(super) batch: Vec<Arc<str>>,
}

impl ControlSql {
    pub(super) fn new(schema: &str) -> Self {
        let with_filter = |t: &str| t.replace("{filter}", FILTER);
        let acting = |b: &Bulk, t: &str| {
            let acting = b.acting().replace("{unique_held}", UNIQUE_HELD);
            let t =
                t.replace("{action}", &b.action()).replace("{window}", WINDOW).replace("{wake}", &b.wake());
            let t = t.replace("{told}", &b.told());
            with_filter(&t).replace("{acting}", &acting)
        };
        let count = Bulk::ALL.iter().map(|b| statement(&acting(b, COUNT), schema)).collect();
        let batch = Bulk::ALL.iter().map(|b| statement(&acting(b, BATCH), schema)).collect();
        let (list, scan_floor) = (statement(&with_filter(LIST), schema), statement(SCAN_FLOOR, schema));
        ControlSql { list, scan_floor, count, batch }
    }
}

/// Binds a selection as `$2`..`$7`.
fn bind_selection<'q, T>(q: super::Query<'q, T>, s: &'q JobSelection) -> super::Query<'q, T> {
    q.bind(s.queue.as_deref())
        .bind(s.kind.as_deref())
        .bind(s.states.as_deref())
        .bind(s.older_than_s)
        .bind(s.newer_than_s)
        .bind(s.tag.as_deref())
}

impl Db {
    /// Up to `limit` jobs of `sel` below id `before` and from id `floor` on, newest first.
    pub(crate) async fn job_list_where(
        &self,
        sel: &JobSelection,
        before: Option<i64>,
        limit: i64,
        floor: Option<i64>,
    ) -> Result<Vec<JobRow>> {
        let q = bind_selection(self.query_as(&self.inner.job.control.list), sel);
        let q = q.bind(before).bind(limit).bind(floor);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }

    /// The lowest id of the `rows` newest jobs below `before`, and how many there are.
    pub(crate) async fn job_scan_floor(&self, before: Option<i64>, rows: i64) -> Result<ScanFloor> {
        let q = self.query_as(&self.inner.job.control.scan_floor).bind(before).bind(rows);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    /// How many jobs of `sel` one pass of `bulk` would touch now.
    pub(crate) async fn job_count_where(&self, bulk: &Bulk, sel: &JobSelection) -> Result<Counted> {
        let q = bind_selection(self.query_as(&self.inner.job.control.count[bulk.index()]), sel);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    /// One batch of `bulk` over the jobs of `sel` with ids above `after`, at most `limit`.
    pub(crate) async fn job_batch_where(
        &self,
        bulk: &Bulk,
        sel: &JobSelection,
        after: i64,
        limit: i64,
    ) -> Result<BatchDone> {
        let sql = &self.inner.job.control.batch[bulk.index()];
        let batch = move || async move {
            let q = bind_selection(self.query_as::<BatchDone>(sql), sel).bind(after).bind(limit);
            let q = match bulk {
                Bulk::Retry { reset } => q.bind(*reset),
                Bulk::Cancel { reason } => q.bind(reason.as_str()),
                Bulk::Delete | Bulk::Purge => q,
            };
            self.with_conn(async |c| q.fetch_one(c).await).await
        };
        self.retrying(batch).await
    }
}
