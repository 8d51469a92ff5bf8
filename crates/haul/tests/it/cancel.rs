//! Operator actions by id: cancel (waiting or running, with or without LISTEN), retry, delete,
//! also on a job the rotator moves meanwhile; and attempt timeouts.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Block, Noop, block, gate};
use haul::{CancelOutcome, Error, ErrorClass, EventOutcome, JobState, NewJob, Worker};
use std::time::Duration;

#[tokio::test]
async fn cancel_a_waiting_job_at_once() {
    let db = TestDb::new().await;
    let id = db.client.insert(Noop { n: 1 }).await.unwrap();
    assert_eq!(db.client.cancel(id).await.unwrap(), CancelOutcome::Cancelled);
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Cancelled);
    assert_eq!(row.errors[0].class, ErrorClass::Cancel);
    assert!(matches!(db.client.cancel(id).await, Err(Error::JobNotFound { .. })), "already final");
}

async fn cancel_running(poll_only: bool, honors_cancel: bool) {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let config = fast_config().with_poll_only(poll_only);
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(config).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Block { honors_cancel }).await.unwrap();
    ctl.wait_started().await;
    assert_eq!(db.client.cancel(id).await.unwrap(), CancelOutcome::Requested);
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!(e.outcome, EventOutcome::Cancelled);
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt), (JobState::Cancelled, 1));
    assert!(row.finalized_at.is_some());
    w.stop().await;
}

#[tokio::test]
async fn cancel_a_running_job_through_its_workers_listener() {
    cancel_running(false, true).await;
}

#[tokio::test]
async fn cancel_reaches_a_poll_only_worker_through_its_heartbeat() {
    cancel_running(true, true).await;
}

#[tokio::test]
async fn a_handler_that_ignores_cancellation_is_dropped() {
    cancel_running(false, false).await;
}

#[tokio::test]
async fn retry_and_delete_by_id() {
    let db = TestDb::new().await;
    let later =
        db.client.insert(NewJob::new(&Noop { n: 1 }).with_delay(Duration::from_secs(3600))).await.unwrap();
    db.client.retry(later).await.unwrap();
    assert_eq!(db.client.get(later).await.unwrap().unwrap().state, JobState::Available);
    db.client.delete(later).await.unwrap();
    assert!(db.client.get(later).await.unwrap().is_none());
    assert!(matches!(db.client.delete(later).await, Err(Error::JobNotFound { .. })));
    assert!(matches!(db.client.retry(424242).await, Err(Error::JobNotFound { .. })));
}

/// Runs `act` while another transaction moves job `id` to slot 0 as the rotator does
/// (migration 0015): `act` waits on the job's lock, the move commits after `act`'s snapshot,
/// which fails `act`'s statement with a serialization error, and `act` runs it again.
async fn while_moved<T: Send + 'static>(
    db: &TestDb,
    id: i64,
    act: impl Future<Output = haul::Result<T>> + Send + 'static,
) -> haul::Result<T> {
    let mut mover = db.pool.begin().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *mover).await.unwrap();
    db.exec_in(&mut mover, &format!("UPDATE {{s}}.jobs SET slot = 0 WHERE id = {id} AND slot > 0")).await;
    let act = tokio::spawn(act);
    let waits = format!("SELECT count(*) FROM pg_stat_activity WHERE {pid} = ANY(pg_blocking_pids(pid))");
    db.until_scalar(&waits, 1).await;
    mover.commit().await.unwrap();
    act.await.unwrap()
}

#[tokio::test]
async fn cancel_retry_and_delete_apply_to_a_job_moved_to_slot_0_meanwhile() {
    let db = TestDb::new().await;
    let in_slot_0 = |id: i64, state: &str| {
        format!("SELECT count(*) FROM {{s}}.jobs_0 WHERE id = {id} AND state = '{state}'")
    };
    let id = db.client.insert(Noop { n: 1 }).await.unwrap();
    let c = db.client.clone();
    assert_eq!(
        while_moved(&db, id, async move { c.cancel(id).await }).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(db.scalar(&in_slot_0(id, "cancelled")).await, 1);

    let id = db.client.insert(Noop { n: 2 }).await.unwrap();
    db.client.cancel(id).await.unwrap();
    let c = db.client.clone();
    while_moved(&db, id, async move { c.retry(id).await }).await.unwrap();
    assert_eq!(db.scalar(&in_slot_0(id, "available")).await, 1);

    let id = db.client.insert(Noop { n: 3 }).await.unwrap();
    let c = db.client.clone();
    while_moved(&db, id, async move { c.delete(id).await }).await.unwrap();
    assert_eq!(db.scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE id = {id}")).await, 0);
}

#[tokio::test]
async fn an_attempt_past_its_timeout_is_dropped_and_retried() {
    let db = TestDb::new().await;
    let (g, _gate_open_until_the_end) = gate();
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let stubborn = NewJob::new(&Block { honors_cancel: false }).with_timeout(Duration::from_millis(200));
    let polite = NewJob::new(&Block { honors_cancel: true }).with_timeout(Duration::from_millis(200));
    let ids = db.client.insert_many([stubborn, polite]).await.unwrap();
    for id in &ids {
        let e = w.next_where(|e| e.id == *id).await;
        assert!(matches!(e.outcome, EventOutcome::Retrying { .. }), "{e:?}");
        assert_eq!(e.error.as_deref(), Some("timed out after 200ms"));
        let row = db.client.get(*id).await.unwrap().unwrap();
        assert_eq!((row.state, row.errors[0].class), (JobState::Retryable, ErrorClass::Timeout));
    }
    w.stop().await;
}
