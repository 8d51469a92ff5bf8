//! Leases, heartbeats, rescue and fencing: a live worker's job is never stolen, a dead
//! worker's job runs again within seconds, and a stale attempt cannot write.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Block, Noop, block, gate, noop};
use haul::{ErrorClass, EventOutcome, JobState, Worker};
use std::time::{Duration, Instant};

#[tokio::test]
async fn heartbeat_keeps_a_job_running_past_its_lease() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let config = fast_config()
        .with_lease(Duration::from_millis(600))
        .with_heartbeat_interval(Duration::from_millis(100));
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(config).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    let first = db.client.get(id).await.unwrap().unwrap().lease_expires_at.unwrap();
    // wait, on the row itself, until heartbeats have carried the lease three leases further
    let q = format!(
        "SELECT (lease_expires_at > '{}'::timestamptz + interval '1800 ms')::int::int8 FROM {{s}}.jobs WHERE id = {id}",
        first.to_rfc3339()
    );
    db.until_scalar(&q, 1).await;
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt, row.errors.len()), (JobState::Running, 1, 0), "never rescued");
    ctl.open();
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!((e.attempt, e.outcome), (1, EventOutcome::Completed));
    w.stop().await;
}

/// Inserts a job as a worker that died mid-attempt would leave it: running, lease lapsed.
pub async fn orphan(db: &TestDb, attempt: i16, max_attempts: i16) -> i64 {
    let id = db.client.insert(Noop { n: 1 }).await.unwrap();
    db.exec(&format!(
        "UPDATE {{s}}.jobs SET state = 'running', attempt = {attempt}, max_attempts = {max_attempts},
         attempted_at = now() - interval '20 s', attempted_by = 'dead-worker',
         lease_expires_at = now() - interval '1 ms' WHERE id = {id}"
    ))
    .await;
    id
}

#[tokio::test]
async fn a_dead_workers_job_runs_again_within_seconds() {
    let db = TestDb::new().await;
    let id = orphan(&db, 1, 5).await;
    let config = fast_config().with_completed_retention(Duration::from_secs(60));
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(config).build().unwrap();
    let started = Instant::now();
    let mut w = start(worker);
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!((e.attempt, e.outcome), (2, EventOutcome::Completed));
    assert!(started.elapsed() < Duration::from_secs(5), "rescued in {:?}", started.elapsed());
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!(row.errors.len(), 1);
    assert_eq!(row.errors[0].class, ErrorClass::Rescued);
    assert!(row.errors[0].error.contains("dead-worker stopped heartbeating"), "{}", row.errors[0].error);
    w.stop().await;
}

/// Rescue rounds look only at leases expired since the previous round; a job whose row another
/// transaction held through that round (and then let go, unchanged) is found by a full round.
#[tokio::test]
async fn a_job_held_by_another_transaction_through_a_rescue_round_is_rescued_later() {
    let db = TestDb::new().await;
    let (held, free) = (orphan(&db, 1, 5).await, orphan(&db, 1, 5).await);
    let mut holder = db.pool.begin().await.unwrap();
    let lock = format!("SELECT 1 FROM \"{}\".jobs WHERE id = {held} FOR UPDATE", db.schema);
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock)).execute(&mut *holder).await.unwrap();
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    // a round has run past the held row: the free one was rescued and ran
    assert_eq!(w.next_where(|e| e.id == free).await.outcome, EventOutcome::Completed);
    holder.rollback().await.unwrap();
    let e = w.next_where(|e| e.id == held).await;
    assert_eq!((e.attempt, e.outcome), (2, EventOutcome::Completed));
    w.stop().await;
}

#[tokio::test]
async fn a_rescued_job_out_of_attempts_is_discarded() {
    let db = TestDb::new().await;
    let id = orphan(&db, 3, 3).await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let w = start(worker);
    db.until_scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE id = {id} AND state = 'discarded'"), 1)
        .await;
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!(row.errors[0].class, ErrorClass::Rescued);
    w.stop().await;
}

#[tokio::test]
async fn a_stale_attempts_outcome_is_fenced_away() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    // heartbeats slower than the test, so only the fence stands between the stale write and the row
    let config =
        fast_config().with_lease(Duration::from_secs(30)).with_heartbeat_interval(Duration::from_secs(14));
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(config).build().unwrap();
    let stats = worker.stats();
    let w = start(worker);
    let id = db.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    // meanwhile the job was rescued and claimed again elsewhere: attempt 2 now holds it
    db.exec(&format!("UPDATE {{s}}.jobs SET attempt = 2, attempted_by = 'other' WHERE id = {id}")).await;
    ctl.open(); // attempt 1 finishes and tries to complete
    let deadline = Instant::now() + crate::common::WAIT;
    while stats.snapshot().rejected == 0 {
        assert!(Instant::now() < deadline, "the stale outcome was never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt, row.attempted_by.as_deref()), (JobState::Running, 2, Some("other")));
    assert_eq!(stats.snapshot().completed, 0);
    w.stop().await;
}

#[tokio::test]
async fn a_lost_lease_stops_the_handler() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(fast_config()).build().unwrap();
    let stats = worker.stats();
    let w = start(worker);
    let id = db.client.insert(Block { honors_cancel: true }).await.unwrap();
    ctl.wait_started().await;
    db.exec(&format!("UPDATE {{s}}.jobs SET attempt = 2, attempted_by = 'other' WHERE id = {id}")).await;
    // the next heartbeat finds the lease gone and stops the handler; its outcome is refused
    let deadline = Instant::now() + crate::common::WAIT;
    while stats.snapshot().rejected == 0 {
        assert!(Instant::now() < deadline, "the handler was never stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(db.client.get(id).await.unwrap().unwrap().attempt, 2);
    w.stop().await;
}

#[tokio::test]
async fn one_leader_at_a_time_and_it_fails_over() {
    let db = TestDb::new().await;
    let a = Worker::builder(db.client.clone(), ())
        .handler(noop)
        .id("worker-a")
        .config(fast_config())
        .build()
        .unwrap();
    let wa = start(a);
    let deadline = Instant::now() + crate::common::WAIT;
    while db.client.maintenance_leader().await.unwrap().as_deref() != Some("worker-a") {
        assert!(Instant::now() < deadline, "worker-a never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b_client = db.other_client(3).await;
    let b = Worker::builder(b_client, ()).handler(noop).id("worker-b").config(fast_config()).build().unwrap();
    let wb = start(b);
    // b cannot take a live lease
    db.until_scalar("SELECT count(*) FROM {s}.leader WHERE leader_id = 'worker-a' AND expires_at > now()", 1)
        .await;
    wa.stop().await; // resigns
    let started = Instant::now();
    while db.client.maintenance_leader().await.unwrap().as_deref() != Some("worker-b") {
        assert!(started.elapsed() < Duration::from_secs(5), "worker-b did not take over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wb.stop().await;
}
