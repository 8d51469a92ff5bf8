//! Where a queue's claims resume. A claim walks the fetch index in order; every job claimed
//! since the last vacuum leaves an index entry there that the walk must step over, and while
//! a transaction holds the xmin horizon back none of them can be removed, so a claim from the
//! queue's start gets slower by the second, in proportion to the entries it steps over.
//!
//! Claims therefore resume after the last key claimed, less [`RESUME_LAG`] of `run_at` for
//! inserts that commit out of order (a keyset condition the index starts at). Jobs placed
//! before the cursor (a higher priority, an older `run_at`: a scheduled or retried job made
//! available, a released one, one skipped while locked) are found by rescans, each
//! run by one claim at a time while the queue's other claims go on after the cursor:
//! - a **recent** rescan from [`RECENT_SPAN`] before the cursor, at most every ten times its
//!   last duration and at least every [`RESCAN_MAX`]: scheduled and retried jobs, whose
//!   `run_at` is the moment they fell due, and late commits;
//! - a **full** scan from the queue's start, at most every hundred times its last duration
//!   and at least every [`FULL_SCAN_MAX`]: anything further back or of a higher priority, and
//!   a job the other claims passed over because another transaction had touched its row.
//!
//! A full scan's cost follows the dead entries it must step over, so its spacing does too: it
//! runs often while they are removed, and while the horizon is held, when it grows with the
//! hold, it takes at most a hundredth of the claims' time instead of a share that grows until
//! claims stall.

use crate::db::ClaimKey;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The longest between recent rescans.
pub(crate) const RESCAN_MAX: Duration = Duration::from_secs(1);

/// The longest between full scans.
pub(crate) const FULL_SCAN_MAX: Duration = Duration::from_secs(30);

/// How far before the last claimed `run_at` a keyset claim resumes. A job's `run_at` defaults
/// to its inserting transaction's start, and concurrent inserts commit out of that order: a
/// job committed up to this long after a later-stamped one was claimed is still found by the
/// next claim. It costs each claim a walk over the entries of this stretch, which while the
/// horizon is held are the dead entries of its jobs.
pub(crate) const RESUME_LAG: Duration = Duration::from_millis(100);

/// How far before the last claimed `run_at` a recent rescan starts: past the scheduler's
/// interval (1 s by default), so a scheduled or retried job made available is in reach.
pub(crate) const RECENT_SPAN: Duration = Duration::from_secs(5);

/// How a claim scans the fetch index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// From the queue's first available job.
    Full,
    /// From [`RECENT_SPAN`] before this key.
    Recent(ClaimKey),
    /// From [`RESUME_LAG`] before this key.
    After(ClaimKey),
}

impl Scan {
    /// The key a claim resumes after (`None`: from the queue's start).
    pub(crate) fn resume_key(self) -> Option<ClaimKey> {
        let (k, back) = match self {
            Scan::Full => return None,
            Scan::Recent(k) => (k, RECENT_SPAN),
            Scan::After(k) => (k, RESUME_LAG),
        };
        let back = chrono::Duration::from_std(back).unwrap_or_default();
        let run_at = k.run_at.checked_sub_signed(back).unwrap_or(k.run_at);
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
    /// When a recent rescan may run next; `None` until a scan set it.
    recent_due: Option<Instant>,
}

impl Cursor {
    /// How the next claim should scan. A due rescan goes to one claim: until it records its end
    /// (which sets the next due time; if it never does, having failed, the longest interval
    /// stands) the queue's other claims go on after the cursor, so a slow scan holds up none
    /// of the jobs arriving meanwhile.
    pub(crate) fn plan(&self, now: Instant) -> Scan {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(k) = s.key else { return Scan::Full };
        if s.full_due.is_none_or(|due| now >= due) {
            s.full_due = Some(now + FULL_SCAN_MAX);
            Scan::Full
        } else if s.recent_due.is_none_or(|due| now >= due) {
            s.recent_due = Some(now + RESCAN_MAX);
            Scan::Recent(k)
        } else {
            Scan::After(k)
        }
    }

    /// When the next rescan is due, if none is due now: a producer whose claim after the
    /// cursor came back short rechecks then, so nothing behind the cursor waits for a poll
    /// tick.
    pub(crate) fn rescan_due_after(&self, now: Instant) -> Option<Instant> {
        let s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let due = [s.full_due, s.recent_due].into_iter().flatten().min()?;
        (due > now).then_some(due)
    }

    /// When the next full scan is due, if it is not due now: a producer whose recent rescan
    /// came back short rechecks then, so a job further back waits for no wake or poll tick.
    pub(crate) fn full_due_after(&self, now: Instant) -> Option<Instant> {
        let s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        s.full_due.filter(|due| *due > now)
    }

    /// Records a claim that started at `started` and ended at `ended`, having claimed jobs up to
    /// `last` in fetch order. After a rescan the cursor moves to its last key (perhaps back, to
    /// jobs placed before it); after a keyset claim it only moves forward. A full scan counts
    /// as a recent rescan too.
    pub(crate) fn record(&self, scan: Scan, started: Instant, ended: Instant, last: Option<ClaimKey>) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let took = ended.saturating_duration_since(started);
        let recent_due = Some(ended + (took * 10).min(RESCAN_MAX));
        match scan {
            Scan::Full => {
                s.full_due = Some(ended + (took * 100).min(FULL_SCAN_MAX));
                s.recent_due = recent_due;
                s.key = last.or(s.key);
            }
            Scan::Recent(_) => {
                s.recent_due = recent_due;
                s.key = last.or(s.key);
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn scans_fully_until_a_key_is_known_then_resumes_after_it() {
        let (c, t0) = (Cursor::default(), Instant::now());
        assert_eq!(c.plan(t0), Scan::Full);
        c.record(Scan::Full, t0, t0 + ms(2), None);
        assert_eq!(c.plan(t0 + ms(3)), Scan::Full, "nothing claimed: no key");
        c.record(Scan::Full, t0, t0 + ms(2), Some(key(0, 5, 5)));
        assert_eq!(c.plan(t0 + ms(3)), Scan::After(key(0, 5, 5)));
        assert_eq!(c.plan(t0 + ms(22)), Scan::Recent(key(0, 5, 5)), "due at 10 × 2 ms after");
        assert_eq!(c.plan(t0 + ms(202)), Scan::Full, "due at 100 × 2 ms after");
    }

    #[test]
    fn a_keyset_claim_only_moves_forward_and_a_rescan_may_move_back() {
        let (c, t0) = (Cursor::default(), Instant::now());
        c.record(Scan::Full, t0, t0 + ms(5), Some(key(0, 5, 5)));
        let after = Scan::After(key(0, 5, 5));
        c.record(after, t0, t0, Some(key(0, 9, 9)));
        c.record(after, t0, t0, Some(key(0, 7, 7)));
        assert_eq!(c.plan(t0 + ms(6)), Scan::After(key(0, 9, 9)));
        c.record(after, t0, t0, None);
        assert_eq!(c.plan(t0 + ms(6)), Scan::After(key(0, 9, 9)));
        c.record(Scan::Recent(key(0, 9, 9)), t0, t0 + ms(5), Some(key(0, 8, 1)));
        assert_eq!(c.plan(t0 + ms(6)), Scan::After(key(0, 8, 1)));
        c.record(Scan::Full, t0, t0 + ms(5), Some(key(-1, 1, 1)));
        assert_eq!(c.plan(t0 + ms(6)), Scan::After(key(-1, 1, 1)));
    }

    #[test]
    fn claims_resume_a_lag_and_recent_rescans_a_span_before_the_key_at_its_priority() {
        assert_eq!(Scan::Full.resume_key(), None);
        let k = key(2, 100, 7);
        let before = |d: Duration| k.run_at - chrono::Duration::from_std(d).unwrap();
        let from = Scan::After(k).resume_key().unwrap();
        assert_eq!(from, ClaimKey { priority: 2, run_at: before(RESUME_LAG), id: i64::MIN });
        assert!(from < key(2, 100, 0), "a job stamped just before the key, committed late");
        assert!(from > key(1, 200, 0), "not a higher priority: that is the full scan's");
        let recent = Scan::Recent(k).resume_key().unwrap();
        assert_eq!(recent, ClaimKey { priority: 2, run_at: before(RECENT_SPAN), id: i64::MIN });
    }

    #[test]
    fn a_due_rescan_goes_to_one_claim_while_the_others_resume_after_the_key() {
        let (c, t0) = (Cursor::default(), Instant::now());
        c.record(Scan::Full, t0, t0 + ms(1), Some(key(0, 5, 5)));
        let due = t0 + ms(101);
        assert_eq!(c.plan(due), Scan::Full);
        assert_eq!(c.plan(due), Scan::Recent(key(0, 5, 5)), "the recent rescan was due too");
        assert_eq!(c.plan(due), Scan::After(key(0, 5, 5)), "one of each at a time");
        let ended = due + ms(300);
        assert_eq!(c.plan(ended), Scan::After(key(0, 5, 5)), "still scanning");
        c.record(Scan::Full, due, ended, Some(key(0, 6, 6)));
        assert_eq!(c.rescan_due_after(ended), Some(ended + RESCAN_MAX), "its end sets the next");
        assert_eq!(c.plan(ended + RESCAN_MAX), Scan::Recent(key(0, 6, 6)));
        assert_eq!(c.plan(ended + RESCAN_MAX), Scan::After(key(0, 6, 6)), "one recent at a time");
    }

    #[test]
    fn a_rescan_that_never_ends_is_retried_after_its_longest_interval() {
        let (c, t0) = (Cursor::default(), Instant::now());
        c.record(Scan::Full, t0, t0, Some(key(0, 5, 5)));
        assert_eq!(c.plan(t0), Scan::Full);
        assert_eq!(c.plan(t0), Scan::Recent(key(0, 5, 5)), "the recent rescan is due as well");
        assert!(matches!(c.plan(t0 + RESCAN_MAX - ms(1)), Scan::After(_)));
        assert_eq!(c.plan(t0 + RESCAN_MAX), Scan::Recent(key(0, 5, 5)));
        assert_eq!(c.plan(t0 + FULL_SCAN_MAX), Scan::Full);
    }

    #[test]
    fn slow_full_scans_are_spaced_by_a_hundred_times_their_duration_up_to_the_longest() {
        let (c, t0) = (Cursor::default(), Instant::now());
        let ended = t0 + ms(100);
        c.record(Scan::Full, t0, ended, Some(key(0, 1, 1)));
        assert_eq!(c.rescan_due_after(ended), Some(ended + RESCAN_MAX), "recent: 10 × capped");
        assert_eq!(c.plan(ended + RESCAN_MAX), Scan::Recent(key(0, 1, 1)));
        let rescanned = ended + RESCAN_MAX + ms(10);
        c.record(Scan::Recent(key(0, 1, 1)), ended + RESCAN_MAX, rescanned, None);
        assert_eq!(c.rescan_due_after(rescanned), Some(rescanned + ms(100)), "10 × 10 ms");
        let full_due = ended + ms(10_000);
        assert!(matches!(c.plan(full_due - ms(1)), Scan::After(_) | Scan::Recent(_)));
        assert_eq!(c.plan(full_due), Scan::Full);
        let slower = full_due + ms(1_000);
        c.record(Scan::Full, full_due, slower, Some(key(0, 1, 1)));
        assert!(matches!(c.plan(slower + FULL_SCAN_MAX - ms(1)), Scan::After(_) | Scan::Recent(_)));
        assert_eq!(c.plan(slower + FULL_SCAN_MAX), Scan::Full, "capped at FULL_SCAN_MAX");
    }
}

#[cfg(test)]
mod db_tests {
    //! The keyset claim against a real table: it resumes after the key and leaves jobs placed
    //! before it, and jobs another transaction touched, to the full scan.

    use super::Scan;
    use crate::db::{ClaimKey, ClaimedJob, Db};
    use sqlx::AssertSqlSafe;

    async fn claim(db: &Db, limit: i64, after: Option<ClaimKey>) -> Vec<ClaimedJob> {
        db.job_get_available("default", limit, 60_000, "w", after, None).await.unwrap()
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
        crate::db::drop_test_schema(&pool, &schema).await;
    }

    #[tokio::test]
    async fn a_claim_in_one_slot_takes_only_that_slots_jobs_and_a_claim_in_every_slot_the_rest() {
        let (pool, db, schema) = crate::db::test_db("ht_cursor_slot").await;
        for slot in [0, 1, 2, 1] {
            let sql = format!(
                "INSERT INTO \"{schema}\".jobs (kind, queue, args, state, max_attempts, slot) \
                 VALUES ('noop', 'default', '{{}}', 'available', 3, {slot})"
            );
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&pool).await.unwrap();
        }
        let key = Some(ClaimKey { priority: i16::MIN, run_at: chrono::DateTime::UNIX_EPOCH, id: 0 });
        let in_slot = |slot| db.job_get_available("default", 10, 60_000, "w", key, Some(slot));
        let one = in_slot(1).await.unwrap();
        assert_eq!((ids(&one), one.iter().all(|j| j.slot == 1)), (vec![2, 4], true), "slot 1's only");
        assert_eq!(ids(&claim(&db, 10, key).await), [1, 3], "every slot: the others");
        assert!(in_slot(2).await.unwrap().is_empty(), "taken");
        crate::db::drop_test_schema(&pool, &schema).await;
    }

    #[tokio::test]
    async fn jobs_placed_before_the_cursor_are_found_by_the_claim_its_distance_calls_for() {
        let (pool, db, schema) = crate::db::test_db("ht_cursor_lag").await;
        // `run_at` as milliseconds before a fixed moment in the past
        let insert = |ms_before: u64| {
            format!(
                "INSERT INTO \"{schema}\".jobs (kind, queue, args, state, max_attempts, run_at) \
                 VALUES ('noop', 'default', '{{}}', 'available', 3, \
                         timestamptz '2020-01-01 00:00:00+00' - interval '{ms_before} ms')"
            )
        };
        let lag = super::RESUME_LAG.as_millis() as u64;
        sqlx::raw_sql(AssertSqlSafe(insert(0))).execute(&pool).await.unwrap();
        let first = claim(&db, 1, None).await;
        assert_eq!(ids(&first), [1]);
        let span = super::RECENT_SPAN.as_millis() as u64;
        // placed before job 1's key after its claim: within the lag, the span, and beyond
        for ms_before in [lag / 2, lag * 2, span * 2] {
            sqlx::raw_sql(AssertSqlSafe(insert(ms_before))).execute(&pool).await.unwrap();
        }
        let key = first[0].key();
        let (after, recent) = (Scan::After(key).resume_key(), Scan::Recent(key).resume_key());
        assert_eq!(ids(&claim(&db, 10, after).await), [2], "within the lag: the next claim");
        assert_eq!(ids(&claim(&db, 10, after).await), [] as [i64; 0], "the rest is further back");
        assert_eq!(ids(&claim(&db, 10, recent).await), [3], "within the span: a recent rescan");
        assert_eq!(ids(&claim(&db, 10, None).await), [4], "further back: the full scan");
        crate::db::drop_test_schema(&pool, &schema).await;
    }

    #[tokio::test]
    async fn a_keyset_claim_passes_over_a_job_another_transaction_touched_and_a_full_scan_takes_it() {
        let (pool, db, schema) = crate::db::test_db("ht_untouched").await;
        let insert = format!(
            "INSERT INTO \"{schema}\".jobs (kind, queue, args, state, max_attempts) \
             SELECT 'noop', 'default', '{{}}', 'available', 3 FROM generate_series(1, 4)"
        );
        sqlx::raw_sql(AssertSqlSafe(insert)).execute(&pool).await.unwrap();
        // a transaction that locked job 3 and rolled back leaves its mark on the row
        let mut tx = pool.begin().await.unwrap();
        let lock = format!("SELECT id FROM \"{schema}\".jobs WHERE id = 3 FOR UPDATE");
        sqlx::raw_sql(AssertSqlSafe(lock)).execute(&mut *tx).await.unwrap();
        tx.rollback().await.unwrap();
        let first = claim(&db, 1, None).await;
        assert_eq!(ids(&first), [1]);
        let key = first.iter().map(ClaimedJob::key).max();
        assert_eq!(ids(&claim(&db, 10, key).await), [2, 4], "the keyset claim passes over job 3");
        assert_eq!(ids(&claim(&db, 10, None).await), [3], "the full scan takes it");
        crate::db::drop_test_schema(&pool, &schema).await;
    }
}
