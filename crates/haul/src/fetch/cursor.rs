//! Where a queue's claims resume. A claim walks the fetch index in order; every job claimed
//! since the last vacuum leaves an index entry there that the walk must step over, and while
//! a transaction holds the xmin horizon back none of them can be removed, so a claim from the
//! queue's start gets slower by the second, in proportion to the entries it steps over.
//! Claims therefore resume after the last key claimed, less [`RESUME_LAG`] of `run_at` for
//! inserts that commit out of order (a keyset condition the index starts at), and scan from
//! the start — to pick up jobs placed before the cursor: a higher priority, an older
//! `run_at`, a job released or skipped while locked — only when a full scan is due: at most
//! every ten times the last full scan's duration, capped at [`RESCAN_MAX`], and by one claim
//! at a time while the queue's other claims go on after the cursor. Cheap full scans (the normal case, a few ms) thus run every few tens of ms;
//! expensive ones take a bounded share of the claims and hold up none of the others.

use crate::db::ClaimKey;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The longest a job placed before the cursor waits for a full scan.
pub(crate) const RESCAN_MAX: Duration = Duration::from_secs(1);

/// How far before the last claimed `run_at` a keyset claim resumes. A job's `run_at` defaults
/// to its inserting transaction's start, and concurrent inserts commit out of that order: a
/// job committed up to this long after a later-stamped one was claimed is still found by the
/// next claim, not left for a full scan. It costs each claim a walk over the entries of this
/// stretch, which while the horizon is held are the dead entries of its jobs.
pub(crate) const RESUME_LAG: Duration = Duration::from_millis(100);

/// How a claim scans the fetch index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// From the queue's first available job.
    Full,
    /// From just after this key.
    After(ClaimKey),
}

impl Scan {
    /// The key a claim resumes after: [`RESUME_LAG`] before the cursor's (`None`: from the
    /// queue's start).
    pub(crate) fn resume_key(self) -> Option<ClaimKey> {
        let Scan::After(k) = self else { return None };
        let lag = chrono::Duration::from_std(RESUME_LAG).unwrap_or_default();
        let run_at = k.run_at.checked_sub_signed(lag).unwrap_or(k.run_at);
        Some(ClaimKey { priority: k.priority, run_at, id: i64::MIN })
    }
}

/// One queue's cursor, shared by its producers.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    key: Option<ClaimKey>,
    /// When a full scan may run next; `None` until the first has run.
    full_due: Option<Instant>,
}

impl Cursor {
    /// How the next claim should scan. A due full scan goes to one claim: the queue's other
    /// producers go on after the cursor while it runs (its end sets the next due time), so a
    /// slow full scan does not hold up the jobs arriving meanwhile.
    pub(crate) fn plan(&self, now: Instant) -> Scan {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match (s.key, s.full_due) {
            (Some(k), Some(due)) if now < due => Scan::After(k),
            (Some(_), _) => {
                // until this scan records its end; if it never does (it failed), this stands
                s.full_due = Some(now + RESCAN_MAX);
                Scan::Full
            }
            (None, _) => Scan::Full,
        }
    }

    /// When a full scan is due, if one is not due now: a producer whose claim after the cursor
    /// came back short rechecks then, so nothing behind the cursor waits for a poll tick.
    pub(crate) fn full_due_after(&self, now: Instant) -> Option<Instant> {
        let s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        s.full_due.filter(|due| *due > now)
    }

    /// Records a claim that started at `started` and ended at `ended`, having claimed jobs up to
    /// `last` in fetch order. After a full scan the cursor moves to its last key (perhaps back,
    /// to jobs placed before it); after a keyset scan it only moves forward.
    pub(crate) fn record(&self, scan: Scan, started: Instant, ended: Instant, last: Option<ClaimKey>) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match scan {
            Scan::Full => {
                let took = ended.saturating_duration_since(started);
                s.full_due = Some(ended + (took * 10).min(RESCAN_MAX));
                if last.is_some() {
                    s.key = last;
                }
            }
            Scan::After(_) => s.key = s.key.max(last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn key(priority: i16, secs: i64, id: i64) -> ClaimKey {
        ClaimKey { priority, run_at: Utc.timestamp_opt(secs, 0).unwrap(), id }
    }

    #[test]
    fn keys_order_as_the_fetch_index() {
        assert!(key(0, 9, 9) < key(1, 0, 0), "priority first");
        assert!(key(0, 1, 9) < key(0, 2, 0), "then run_at");
        assert!(key(0, 1, 1) < key(0, 1, 2), "then id");
    }

    #[test]
    fn scans_fully_until_a_key_is_known_then_resumes_after_it() {
        let (c, t0) = (Cursor::default(), Instant::now());
        assert_eq!(c.plan(t0), Scan::Full);
        c.record(Scan::Full, t0, t0 + Duration::from_millis(2), None);
        assert_eq!(c.plan(t0 + Duration::from_millis(3)), Scan::Full, "nothing claimed: no key");
        c.record(Scan::Full, t0, t0 + Duration::from_millis(2), Some(key(0, 5, 5)));
        assert_eq!(c.plan(t0 + Duration::from_millis(3)), Scan::After(key(0, 5, 5)));
        assert_eq!(c.plan(t0 + Duration::from_millis(22)), Scan::Full, "due at 10 × 2 ms after");
    }

    #[test]
    fn a_keyset_scan_only_moves_forward_and_a_full_scan_may_move_back() {
        let (c, t0) = (Cursor::default(), Instant::now());
        c.record(Scan::Full, t0, t0 + Duration::from_millis(5), Some(key(0, 5, 5)));
        let after = Scan::After(key(0, 5, 5));
        c.record(after, t0, t0, Some(key(0, 9, 9)));
        c.record(after, t0, t0, Some(key(0, 7, 7)));
        assert_eq!(c.plan(t0 + Duration::from_millis(6)), Scan::After(key(0, 9, 9)));
        c.record(after, t0, t0, None);
        assert_eq!(c.plan(t0 + Duration::from_millis(6)), Scan::After(key(0, 9, 9)));
        c.record(Scan::Full, t0, t0 + Duration::from_millis(5), Some(key(-1, 1, 1)));
        assert_eq!(c.plan(t0 + Duration::from_millis(6)), Scan::After(key(-1, 1, 1)));
    }

    #[test]
    fn a_keyset_claim_resumes_a_lag_before_the_key_at_its_priority() {
        assert_eq!(Scan::Full.resume_key(), None);
        let from = Scan::After(key(2, 100, 7)).resume_key().unwrap();
        let lag = chrono::Duration::from_std(RESUME_LAG).unwrap();
        assert_eq!(from, ClaimKey { priority: 2, run_at: key(2, 100, 7).run_at - lag, id: i64::MIN });
        assert!(from < key(2, 100, 0), "a job stamped just before the key, committed late");
        assert!(from > key(1, 200, 0), "not a higher priority: that is the full scan's");
    }

    #[test]
    fn a_due_full_scan_goes_to_one_claim_while_the_others_resume_after_the_key() {
        let (c, t0) = (Cursor::default(), Instant::now());
        c.record(Scan::Full, t0, t0 + Duration::from_millis(1), Some(key(0, 5, 5)));
        let due = t0 + Duration::from_millis(11);
        assert_eq!(c.plan(due), Scan::Full);
        assert_eq!(c.plan(due), Scan::After(key(0, 5, 5)), "one full scan at a time");
        let ended = due + Duration::from_millis(300);
        assert_eq!(c.plan(ended), Scan::After(key(0, 5, 5)), "still scanning");
        c.record(Scan::Full, due, ended, Some(key(0, 6, 6)));
        assert_eq!(c.full_due_after(ended), Some(ended + RESCAN_MAX), "its end sets the next");
        assert_eq!(c.plan(ended + RESCAN_MAX), Scan::Full);
    }

    #[test]
    fn a_full_scan_that_never_ends_is_retried_after_rescan_max() {
        let (c, t0) = (Cursor::default(), Instant::now());
        c.record(Scan::Full, t0, t0, Some(key(0, 5, 5)));
        assert_eq!(c.plan(t0), Scan::Full);
        assert!(matches!(c.plan(t0 + RESCAN_MAX - Duration::from_millis(1)), Scan::After(_)));
        assert_eq!(c.plan(t0 + RESCAN_MAX), Scan::Full);
    }

    #[test]
    fn slow_full_scans_are_spaced_by_at_most_rescan_max() {
        let (c, t0) = (Cursor::default(), Instant::now());
        let ended = t0 + Duration::from_millis(400);
        c.record(Scan::Full, t0, ended, Some(key(0, 1, 1)));
        assert_eq!(c.full_due_after(ended), Some(ended + RESCAN_MAX));
        assert!(matches!(c.plan(ended + RESCAN_MAX - Duration::from_millis(1)), Scan::After(_)));
        assert_eq!(c.full_due_after(ended + RESCAN_MAX), None);
        assert_eq!(c.plan(ended + RESCAN_MAX), Scan::Full);
    }
}

#[cfg(test)]
mod db_tests {
    //! The keyset claim against a real table: it resumes after the key and leaves jobs placed
    //! before it to the full scan.

    use crate::db::{ClaimKey, ClaimedJob, Db};
    use sqlx::AssertSqlSafe;

    async fn claim(db: &Db, limit: i64, after: Option<ClaimKey>) -> Vec<ClaimedJob> {
        db.job_get_available("default", limit, 60_000, "w", after).await.unwrap()
    }

    fn ids(jobs: &[ClaimedJob]) -> Vec<i64> {
        let mut ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        ids.sort_unstable();
        ids
    }

    #[tokio::test]
    async fn a_keyset_claim_resumes_after_the_key_and_a_full_scan_finds_jobs_before_it() {
        let (pool, db, schema) = crate::db::test_db("ht_cursor").await;
        let insert = |priority: i32, run_at: &str| {
            format!(
                "INSERT INTO \"{schema}\".jobs (kind, queue, args, state, max_attempts, priority, run_at) \
                 VALUES ('noop', 'default', '{{}}', 'available', 3, {priority}, {run_at})"
            )
        };
        for g in 1..=10 {
            let sql = insert(0, &format!("now() - interval '{}' second", 100 - g));
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&pool).await.unwrap();
        }
        let first = claim(&db, 3, None).await;
        assert_eq!(ids(&first), [1, 2, 3]);
        let key = first.iter().map(ClaimedJob::key).max();
        let next = claim(&db, 3, key).await;
        assert_eq!(ids(&next), [4, 5, 6], "resumes after the key");
        // placed before the cursor: a higher priority, and an older run_at
        for sql in [insert(-1, "now()"), insert(0, "now() - interval '1 hour'")] {
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&pool).await.unwrap();
        }
        let key = next.iter().map(ClaimedJob::key).max();
        assert_eq!(ids(&claim(&db, 10, key).await), [7, 8, 9, 10], "the keyset claim skips them");
        assert_eq!(ids(&claim(&db, 10, None).await), [11, 12], "the full scan finds them");
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(&pool)
            .await
            .unwrap();
    }
}
