//! Job control by filter: listing in pages, retry/cancel/delete/redrive/purge in bounded
//! batches with dry-run counts that match, running jobs left to their fenced path, and bad
//! filters refused before any SQL.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Block, Noop, block, gate};
use haul::{
    BulkAction, BulkReport, Error, EventOutcome, JobFilter, JobState, NewJob, Page, RetryAttempts, Worker,
};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// `n` parked jobs (a queue no worker serves) of `kind`, tagged `tag`.
async fn park(db: &TestDb, n: u64, kind: &str, tag: &str) -> Vec<i64> {
    let job = |i| NewJob::raw(kind, serde_json::json!({ "i": i })).with_queue("parked").with_tags([tag]);
    db.client.insert_many((0..n).map(job)).await.unwrap()
}

/// The factory for dead letters: `ids` discarded with their attempts used up and one error.
async fn discard(db: &TestDb, ids: &[i64]) {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    db.exec(&format!(
        "UPDATE {{s}}.jobs SET state = 'discarded', finalized_at = now(), attempt = max_attempts,
            errors = ARRAY[jsonb_build_object('at', now(), 'attempt', max_attempts, 'class', 'error',
                                              'error', 'gave up')]
         WHERE id IN ({list})"
    ))
    .await;
}

async fn state_of(db: &TestDb, id: i64) -> Option<JobState> {
    db.client.get(id).await.unwrap().map(|j| j.state)
}

/// A report's rows changed and statements run.
fn shape(r: BulkReport) -> (u64, u64) {
    (r.changed, r.batches)
}

#[tokio::test]
async fn bulk_retry_loops_over_small_batches_and_matches_its_dry_run() {
    let db = TestDb::new().await;
    let dead = park(&db, 7, "mail", "t").await;
    discard(&db, &dead).await;
    let waiting = park(&db, 3, "mail", "t").await;
    let control = db.client.control().with_batch_size(2).unwrap();
    let filter = JobFilter::new().with_kind("mail");
    let retry = BulkAction::Retry(RetryAttempts::Keep);
    let would = control.count(retry, &filter).await.unwrap();
    assert_eq!((would.changed, would.requested, would.batches), (7, 0, 0), "available jobs are not retried");
    let done = control.run(retry, &filter).await.unwrap();
    assert_eq!(shape(done), (7, 4), "7 rows in batches of 2");
    for id in dead {
        let j = db.client.get(id).await.unwrap().unwrap();
        assert_eq!((j.state, j.attempt, j.max_attempts), (JobState::Available, 20, 21), "one more attempt");
        assert_eq!(j.errors.len(), 1, "the history is kept");
        assert!(j.finalized_at.is_none());
    }
    assert_eq!(state_of(&db, waiting[0]).await, Some(JobState::Available));
    assert_eq!(control.count(retry, &filter).await.unwrap().changed, 0);
}

#[tokio::test]
async fn reset_attempts_renews_the_budget_without_moving_the_counter() {
    let db = TestDb::new().await;
    let ids = park(&db, 2, "mail", "t").await;
    discard(&db, &ids).await;
    db.client.control().retry_job(ids[0], RetryAttempts::Reset).await.unwrap();
    let report = db.client.control().redrive(&JobFilter::new(), RetryAttempts::Reset).await.unwrap();
    assert_eq!(report.changed, 1);
    for id in ids {
        let j = db.client.get(id).await.unwrap().unwrap();
        assert_eq!((j.state, j.attempt, j.max_attempts), (JobState::Available, 20, 40));
    }
}

#[tokio::test]
async fn a_running_job_is_not_retried_or_deleted_and_a_bulk_cancel_asks_its_worker() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let running = db.client.insert(Block { honors_cancel: true }).await.unwrap();
    assert_eq!(ctl.wait_started().await, running);
    let parked = park(&db, 2, "noop", "t").await;
    discard(&db, &parked[1..]).await;
    let control = db.client.control().with_batch_size(1).unwrap();
    let all = JobFilter::new();

    let retried = control.retry(&all, RetryAttempts::Reset).await.unwrap();
    assert_eq!(retried.changed, 1, "only the dead letter");
    let by_kind = JobFilter::new().with_kind("block");
    assert_eq!(control.count(BulkAction::Delete, &by_kind).await.unwrap().changed, 0);
    assert_eq!(control.delete(&by_kind).await.unwrap().changed, 0);
    let j = db.client.get(running).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempt, j.max_attempts), (JobState::Running, 1, 5), "untouched");

    let would = control.count(BulkAction::Cancel, &all).await.unwrap();
    assert_eq!((would.changed, would.requested), (2, 1));
    let done = control.cancel(&all).await.unwrap();
    assert_eq!((done.changed, done.requested, done.batches), (2, 1, 3));
    let e = w.next_where(|e| e.id == running).await;
    assert_eq!(e.outcome, EventOutcome::Cancelled, "the worker stopped it through the request");
    for id in parked {
        assert_eq!(state_of(&db, id).await, Some(JobState::Cancelled));
    }
    w.stop().await;
}

#[tokio::test]
async fn redrive_takes_only_the_filtered_dead_letters() {
    let db = TestDb::new().await;
    let red = park(&db, 3, "mail", "red").await;
    let blue = park(&db, 2, "mail", "blue").await;
    let cancelled = park(&db, 1, "mail", "red").await;
    discard(&db, &red).await;
    discard(&db, &blue).await;
    db.client.cancel(cancelled[0]).await.unwrap();
    let control = db.client.control().with_batch_size(2).unwrap();
    let tagged = JobFilter::new().with_tag("red").with_queue("parked");
    let redrive = BulkAction::Redrive(RetryAttempts::Keep);
    assert_eq!(control.count(redrive, &tagged).await.unwrap().changed, 3, "not the cancelled one");
    assert_eq!(shape(control.run(redrive, &tagged).await.unwrap()), (3, 2));
    for id in red {
        assert_eq!(state_of(&db, id).await, Some(JobState::Available));
    }
    for id in blue.iter().chain(&cancelled) {
        assert_ne!(state_of(&db, *id).await, Some(JobState::Available));
    }
    let dead =
        control.list(&JobFilter::new().with_state(JobState::Discarded), Page::first(10)).await.unwrap();
    assert_eq!(dead.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![blue[1], blue[0]]);
}

#[tokio::test]
async fn a_dead_letter_whose_unique_key_was_taken_again_stays_dead() {
    let db = TestDb::new().await;
    let key = || NewJob::raw("charge", serde_json::json!({})).with_queue("parked").with_unique_key("k");
    let old = db.client.insert(key()).await.unwrap();
    discard(&db, &[old]).await;
    let new = db.client.insert_many_checked(db.client.pool(), [key()]).await.unwrap();
    assert!(!new[0].duplicate, "a discarded job holds no key by default");
    let control = db.client.control();
    let redrive = BulkAction::Redrive(RetryAttempts::Keep);
    assert_eq!(control.count(redrive, &JobFilter::new()).await.unwrap().changed, 0);
    assert_eq!(control.run(redrive, &JobFilter::new()).await.unwrap().changed, 0);
    assert_eq!(state_of(&db, old).await, Some(JobState::Discarded));
}

#[tokio::test]
async fn purge_deletes_only_jobs_finished_longer_ago_than_asked() {
    let db = TestDb::new().await;
    let old = park(&db, 3, "mail", "t").await;
    let waiting = park(&db, 1, "mail", "t").await;
    for id in &old {
        db.client.cancel(*id).await.unwrap();
    }
    db.clock.advance(3 * DAY);
    let recent = park(&db, 2, "mail", "t").await;
    discard(&db, &recent).await; // finalized at the database's now(): 3 days before the clock
    for id in &recent {
        db.client.retry(*id).await.unwrap();
        db.client.cancel(*id).await.unwrap(); // finalized at the clock's now
    }
    let control = db.client.control().with_batch_size(2).unwrap();
    let dead_only = JobFilter::new().with_state(JobState::Discarded);
    assert_eq!(control.purge(&dead_only, DAY).await.unwrap().changed, 0);
    let filter = JobFilter::new().with_older_than(DAY);
    assert_eq!(control.count(BulkAction::Purge, &filter).await.unwrap().changed, 3);
    assert_eq!(shape(control.purge(&JobFilter::new(), DAY).await.unwrap()), (3, 2));
    for id in old {
        assert_eq!(state_of(&db, id).await, None);
    }
    assert_eq!(state_of(&db, waiting[0]).await, Some(JobState::Available), "old but not finished");
    for id in recent {
        assert_eq!(state_of(&db, id).await, Some(JobState::Cancelled));
    }
}

#[tokio::test]
async fn listing_pages_newest_first_through_every_filter() {
    let db = TestDb::new().await;
    let a = park(&db, 5, "mail", "a").await;
    let b = park(&db, 1, "sms", "b").await;
    let control = db.client.control();
    let mut page = Some(Page::first(2));
    let mut seen = Vec::new();
    while let Some(p) = page {
        let got = control.list(&JobFilter::new().with_tag("a"), p).await.unwrap();
        seen.extend(got.jobs.iter().map(|j| j.id));
        page = got.next;
    }
    assert_eq!(seen, a.iter().rev().copied().collect::<Vec<_>>());
    let c = &control;
    let one = |f: JobFilter| async move { c.list(&f, Page::first(10)).await.unwrap().jobs.len() };
    assert_eq!(one(JobFilter::new().with_kind("sms")).await, 1);
    assert_eq!(one(JobFilter::new().with_queue("parked").with_state(JobState::Available)).await, 6);
    assert_eq!(one(JobFilter::new().with_states([JobState::Discarded, JobState::Running])).await, 0);
    assert_eq!(one(JobFilter::new().with_newer_than(Duration::from_secs(3600))).await, 6);
    assert_eq!(one(JobFilter::new().with_older_than(Duration::from_secs(3600))).await, 0);
    db.clock.advance(2 * Duration::from_secs(3600));
    assert_eq!(one(JobFilter::new().with_older_than(Duration::from_secs(3600)).with_tag("b")).await, 1);
    let _ = b;
}

#[tokio::test]
async fn bad_filters_and_pages_are_refused_before_any_sql() {
    let db = TestDb::new().await;
    let control = db.client.control();
    let unknown = "finished".parse::<JobState>().unwrap_err();
    assert!(unknown.contains("unknown job state `finished` (one of: pending,"), "{unknown}");
    let window = JobFilter::new().with_older_than(DAY).with_newer_than(DAY);
    assert!(matches!(control.list(&window, Page::first(1)).await, Err(Error::InvalidFilter(_))));
    let too_old = JobFilter::new().with_older_than(Duration::from_secs(u64::MAX));
    assert!(matches!(control.delete(&too_old).await, Err(Error::InvalidFilter(_))));
    let bad_kind = JobFilter::new().with_kind("two words");
    assert!(matches!(control.count(BulkAction::Delete, &bad_kind).await, Err(Error::InvalidName { .. })));
    assert!(matches!(control.list(&JobFilter::new(), Page::first(0)).await, Err(Error::InvalidFilter(_))));
    let running = JobFilter::new().with_state(JobState::Running);
    let e = control.redrive(&running, RetryAttempts::Keep).await.unwrap_err();
    assert_eq!(e.to_string(), "invalid job filter: redrive applies to discarded jobs only, not running");
    assert!(matches!(control.clone().with_batch_size(0), Err(Error::InvalidConfig { .. })));
}

#[tokio::test]
async fn retry_by_id_of_a_missing_job_says_so() {
    let db = TestDb::new().await;
    let e = db.client.control().retry_job(424242, RetryAttempts::Reset).await.unwrap_err();
    assert!(matches!(e, Error::JobNotFound { id: 424242, .. }), "{e}");
    let id = db.client.insert(Noop { n: 1 }).await.unwrap();
    assert!(matches!(db.client.retry(id).await, Err(Error::JobNotFound { .. })), "available already");
}
