//! The claim of a limited queue, in one transaction: lock the queue's limit row (limited
//! claims of a queue take turns), count the running jobs per partition, read the clock and
//! the starts in the rate's window, claim no more of each partition than both allow, and
//! record the claim's starts. The limit is exact: every claim counts everything claimed
//! before it, and its time (`attempted_at`) follows the end of every job it counted as ended.
//!
//! The rate is a sliding window: at most `starts` starts in *any* window of the period, not
//! only in windows aligned on a clock (a fixed window lets twice the rate through across a
//! boundary). A claim held back by the limit leaves its jobs untouched (still `available`,
//! attempt unchanged) and says when to try again: when the oldest start of a partition at
//! its rate leaves the window, or when a running job of a partition at its concurrency
//! completes (the worker's completer says so after each flush).
//!
//! A start counts from when the claim's handlers began, not from the claim: its starts are
//! recorded pending, and once every one of its jobs has entered its handler ([`ClaimStarts`]
//! dropped after each handler's first poll) the worker marks them begun at that moment. Two
//! claims' handlers thus never start more than the rate in any window of the period, whatever
//! the lag between each claim and its handlers.

use crate::db::{Allowance, ClaimedJob, Db, LimitedClaim, PartitionBy, RunningParts, Window};
use crate::execute::StartMark;
use crate::limit::Limit;
use chrono::{DateTime, Utc};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Candidates a claim scans per job wanted: room for partitions that are allowed only a few.
const SCAN_PER_WANTED: i64 = 4;

/// What a limited claim took, and what held it back.
#[derive(Debug, Default)]
pub(crate) struct Limited {
    pub jobs: Vec<ClaimedJob>,
    /// Some partition reached its concurrency: retry after a completion.
    pub at_concurrency: bool,
    /// Some partition reached its rate: retry after this long (its oldest start leaves the window).
    pub rate_frees_in: Option<Duration>,
    /// Held by each job until its handler's first poll; the last drop marks the claim's
    /// starts begun. `None` without a rate.
    pub begun: Option<StartMark>,
}

/// The recorded starts of one limited claim, with a connection taken as the claim committed;
/// dropped once every job of the claim has entered its handler, it marks them begun on that
/// connection, at that moment on the database's clock: the claim's time plus what this
/// process's clock saw from just before it asked for that time until now (an upper bound, as
/// the database read its clock after the question was sent). The mark's own lag therefore
/// costs the window nothing: while it is on its way the starts stay pending, counted. The
/// connection is taken before the handlers start so the mark does not queue behind their own
/// statements for one.
struct ClaimStarts {
    db: Db,
    ids: Vec<i64>,
    conn: Option<PoolConnection<Postgres>>,
    /// The claim's time, and this process's clock just before the claim asked for it.
    read: (DateTime<Utc>, Instant),
}

impl Drop for ClaimStarts {
    fn drop(&mut self) {
        let (db, ids, conn) = (self.db.clone(), std::mem::take(&mut self.ids), self.conn.take());
        let since = chrono::TimeDelta::from_std(self.read.1.elapsed()).unwrap_or(chrono::TimeDelta::MAX);
        let at = self.read.0.checked_add_signed(since).unwrap_or(DateTime::<Utc>::MAX_UTC);
        // outside a runtime (it is shutting down) the starts count until a lease past their window
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { mark_begun(&db, &ids, at, conn).await });
        }
    }
}

/// Marks `ids` begun at `at`: on `conn`, else (or after a failure there) on the pool, a few
/// tries. Given up, the starts keep counting until a lease past their window, never less.
async fn mark_begun(db: &Db, ids: &[i64], at: DateTime<Utc>, conn: Option<PoolConnection<Postgres>>) {
    if let Some(conn) = conn
        && db.limit_starts_begun_on(conn, ids, at).await.is_ok()
    {
        return;
    }
    let mut backoff = crate::service::Backoff::default();
    for _ in 0..5 {
        match db.limit_starts_begun(ids, at).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "could not mark a limited claim's starts begun; retrying"),
        }
        backoff.wait().await;
    }
}

/// Claims up to `want` jobs of limited queue `queue`; `None` if it has no limit (any more).
pub(crate) async fn claim(
    db: &Db,
    queue: &str,
    want: usize,
    lease_ms: i64,
    worker: &str,
) -> crate::Result<Option<Limited>> {
    // run again at once on a conflict: a job the rotator moved to slot 0 meanwhile
    let claimed = db
        .retrying(move || async move {
            db.with_conn(async |c| {
                let mut tx = sqlx::Connection::begin(c).await?;
                let Some(limit) = db.limit_lock(&mut tx, queue).await? else { return Ok(None) };
                let by = PartitionBy {
                    by_kind: limit.partition.by_kind,
                    by_arg: limit.partition.by_arg.as_deref(),
                };
                let running = match limit.concurrency {
                    Some(_) => db.job_running_by_partition(&mut tx, queue, by).await?,
                    None => RunningParts { partitions: Vec::new(), running: Vec::new() },
                };
                // the claim's time, read after the count: every job counted as ended ended before it
                let period = limit.rate.map_or(Duration::ZERO, |r| r.per);
                let grace = Duration::from_millis(lease_ms.max(0) as u64);
                let asked = Instant::now();
                let window = db.limit_window(&mut tx, queue, period, grace).await?;
                let usage = Usage::new(&limit, &running, &window);
                let allow = usage.allowance(want as i64);
                let claim = LimitedClaim { queue, by, allow: &allow, lease_ms, worker, at: window.at };
                let jobs = db.job_claim_limited(&mut tx, claim).await?;
                let started = count_by_partition(&jobs);
                let mut ids = Vec::new();
                if limit.rate.is_some() && !started.is_empty() {
                    ids = db.limit_record_starts(&mut tx, queue, &started, window.at).await?;
                }
                tx.commit().await?;
                let mut out = usage.held_back(&started, window.at);
                out.jobs = jobs.into_iter().map(|(j, _)| j).collect();
                Ok(Some((out, ids, (window.at, asked))))
            })
            .await
        })
        .await?;
    let Some((mut out, ids, read)) = claimed else { return Ok(None) };
    if !ids.is_empty() {
        let conn = db.pool().try_acquire();
        out.begun = Some(Arc::new(ClaimStarts { db: db.clone(), ids, conn, read }));
    }
    Ok(Some(out))
}

fn count_by_partition(jobs: &[(ClaimedJob, String)]) -> Vec<(String, i32)> {
    let mut counts: BTreeMap<&str, i32> = BTreeMap::new();
    for (_, p) in jobs {
        *counts.entry(p).or_default() += 1;
    }
    counts.into_iter().map(|(p, n)| (p.to_owned(), n)).collect()
}

/// One partition's use of its limit before the claim.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Used {
    running: i64,
    started: i64,
    oldest: Option<DateTime<Utc>>,
}

/// A limit and what each partition with running jobs or recent starts uses of it.
#[derive(Debug)]
struct Usage {
    concurrency: Option<i64>,
    rate: Option<(i64, Duration)>,
    parts: BTreeMap<String, Used>,
}

impl Usage {
    fn new(limit: &Limit, running: &RunningParts, window: &Window) -> Self {
        let mut parts: BTreeMap<String, Used> = BTreeMap::new();
        for (p, n) in running.partitions.iter().zip(&running.running) {
            parts.entry(p.clone()).or_default().running = *n;
        }
        let starts = window.partitions.iter().zip(&window.starts).zip(&window.oldest);
        for ((p, n), oldest) in starts {
            let used = parts.entry(p.clone()).or_default();
            (used.started, used.oldest) = (*n, Some(*oldest));
        }
        Usage {
            concurrency: limit.concurrency.map(i64::from),
            rate: limit.rate.map(|r| (i64::from(r.starts), r.per)),
            parts,
        }
    }

    /// How many more of a partition may start.
    fn left(&self, used: Used) -> i64 {
        let by_conc = self.concurrency.map_or(i64::MAX, |n| n - used.running);
        let by_rate = self.rate.map_or(i64::MAX, |(n, _)| n - used.started);
        by_conc.min(by_rate).max(0)
    }

    fn allowance(&self, want: i64) -> Allowance {
        let cap = |n: i64| n.min(want).min(i32::MAX as i64) as i32;
        let mut allow = Allowance { want, others: cap(self.left(Used::default())), ..Allowance::default() };
        for (p, used) in &self.parts {
            match self.left(*used) {
                0 => allow.blocked.push(p.clone()),
                n => {
                    allow.partitions.push(p.clone());
                    allow.allowed.push(cap(n));
                }
            }
        }
        allow.scan = want.saturating_mul(SCAN_PER_WANTED);
        allow
    }

    /// What held the claim back, once it started `started` per partition at `at`: the
    /// partitions it left at their concurrency or rate.
    fn held_back(&self, started: &[(String, i32)], at: DateTime<Utc>) -> Limited {
        let mut out = Limited::default();
        let mut after = self.parts.clone();
        for (p, n) in started {
            let used = after.entry(p.clone()).or_default();
            used.running += i64::from(*n);
            used.started += i64::from(*n);
            used.oldest.get_or_insert(at);
        }
        for used in after.values() {
            if self.concurrency.is_some_and(|n| used.running >= n) {
                out.at_concurrency = true;
            }
            if let (Some((n, per)), Some(oldest)) = (self.rate, used.oldest)
                && used.started >= n
            {
                let per = chrono::TimeDelta::from_std(per).unwrap_or(chrono::TimeDelta::MAX);
                let frees = (oldest + per - at).to_std().unwrap_or_default();
                out.rate_frees_in = Some(out.rate_frees_in.map_or(frees, |f| f.min(frees)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap()
    }

    fn usage(limit: Limit, running: &[(&str, i64)], starts: &[(&str, i64, i64)]) -> Usage {
        let running = RunningParts {
            partitions: running.iter().map(|r| r.0.into()).collect(),
            running: running.iter().map(|r| r.1).collect(),
        };
        let window = Window {
            at: at(10_000),
            partitions: starts.iter().map(|s| s.0.into()).collect(),
            starts: starts.iter().map(|s| s.1).collect(),
            oldest: starts.iter().map(|s| at(s.2)).collect(),
        };
        Usage::new(&limit, &running, &window)
    }

    #[test]
    fn each_partition_gets_what_both_limits_leave_and_others_the_whole_limit() {
        let limit = Limit::concurrency(5).with_rate(8, Duration::from_secs(1));
        let u = usage(limit, &[("a", 2), ("b", 5)], &[("a", 4, 9_500), ("c", 8, 9_200)]);
        let allow = u.allowance(100);
        assert_eq!((allow.partitions, allow.allowed), (vec!["a".to_owned()], vec![3]));
        assert_eq!(allow.blocked, ["b", "c"]);
        assert_eq!((allow.others, allow.want, allow.scan), (5, 100, 400));
        assert_eq!(u.allowance(2).others, 2, "never more than wanted");
    }

    #[test]
    fn a_claim_says_what_held_it_back_and_when_the_rate_frees() {
        let u = usage(Limit::rate(8, Duration::from_secs(1)), &[], &[("c", 8, 9_200), ("d", 6, 9_700)]);
        let held = u.held_back(&[("d".into(), 2)], at(10_000));
        assert!(!held.at_concurrency);
        assert_eq!(held.rate_frees_in, Some(Duration::from_millis(200)), "c's oldest leaves first");
        let u = usage(Limit::rate(2, Duration::from_secs(1)), &[], &[]);
        let held = u.held_back(&[("".into(), 2)], at(10_000));
        assert_eq!(held.rate_frees_in, Some(Duration::from_secs(1)), "this claim's starts leave last");
        let u = usage(Limit::concurrency(3), &[("", 1)], &[]);
        let held = u.held_back(&[("".into(), 1)], at(0));
        assert!(!held.at_concurrency && held.rate_frees_in.is_none());
        assert!(u.held_back(&[("".into(), 2)], at(0)).at_concurrency);
    }
}
