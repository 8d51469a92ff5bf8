//! Where a queue's claims resume. A claim walks the fetch index in order; every job claimed
//! since the last vacuum leaves an index entry there that the walk must step over, and while
//! a transaction holds the xmin horizon back none of them can be removed, so a claim from the
//! queue's start gets slower by the second, in proportion to the entries it steps over.
//! Claims therefore resume after the last key claimed (a keyset condition the index starts
//! at), and scan from the start — to pick up jobs placed before the cursor: a higher
//! priority, an older `run_at`, a job released or skipped while locked, a job the keyset
//! claim passed over because another transaction had touched its row — only when a full
//! scan is due: at most every ten times the last full scan's duration, capped at
//! [`RESCAN_MAX`]. Cheap full scans (the normal case, a few ms) thus run every few tens of
//! ms; expensive ones take a bounded share of the claims.

use crate::db::ClaimKey;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The longest a job placed before the cursor waits for a full scan.
pub(crate) const RESCAN_MAX: Duration = Duration::from_secs(1);

/// How a claim scans the fetch index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// From the queue's first available job.
    Full,
    /// From just after this key.
    After(ClaimKey),
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
    /// How the next claim should scan.
    pub(crate) fn plan(&self, now: Instant) -> Scan {
        let s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match (s.key, s.full_due) {
            (Some(k), Some(due)) if now < due => Scan::After(k),
            _ => Scan::Full,
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
    fn slow_full_scans_are_spaced_by_at_most_rescan_max() {
        let (c, t0) = (Cursor::default(), Instant::now());
        let ended = t0 + Duration::from_millis(400);
        c.record(Scan::Full, t0, ended, Some(key(0, 1, 1)));
        assert_eq!(c.full_due_after(ended), Some(ended + RESCAN_MAX));
        assert!(matches!(c.plan(ended + RESCAN_MAX - Duration::from_millis(1)), Scan::After(_)));
        assert_eq!(c.plan(ended + RESCAN_MAX), Scan::Full);
        assert_eq!(c.full_due_after(ended + RESCAN_MAX), None);
    }
}

#[cfg(test)]
mod db_tests {
    //! The keyset claim against a real table: it resumes after the key and leaves jobs placed
    //! before it, and jobs another transaction touched, to the full scan.

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
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(&pool)
            .await
            .unwrap();
    }
}
