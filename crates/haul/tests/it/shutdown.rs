//! Graceful shutdown: stop fetching → soft timeout → cancel → hard timeout → release, with
//! nothing left running; and the forced path.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Block, block, gate};
use haul::{EventOutcome, JobState, Worker};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn running_jobs_finish_within_the_soft_timeout() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    w.token.cancel();
    ctl.open();
    assert_eq!(w.next_where(|e| e.id == id).await.outcome, EventOutcome::Completed);
    let report = w.stop().await;
    assert_eq!((report.running_at_start, report.finished, report.released), (1, 1, 0));
    assert!(!report.cancelled_handlers);
    // stopped: a job inserted now waits for the next worker
    let later = db.client.insert(Block { honors_cancel: false }).await.unwrap();
    assert_eq!(db.client.get(later).await.unwrap().unwrap().state, JobState::Available);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'").await, 0);
}

#[tokio::test]
async fn stubborn_handlers_are_cancelled_then_released_without_using_an_attempt() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let config = fast_config()
        .with_shutdown_soft_timeout(Duration::from_millis(200))
        .with_shutdown_hard_timeout(Duration::from_millis(300));
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(config).build().unwrap();
    let w = start(worker);
    let polite = db.client.insert(Block { honors_cancel: true }).await.unwrap();
    let stubborn = db.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    ctl.wait_started().await;
    let report = w.stop().await;
    assert_eq!((report.running_at_start, report.finished, report.released), (2, 1, 1));
    assert!(report.cancelled_handlers);
    let p = db.client.get(polite).await.unwrap().unwrap();
    assert_eq!((p.state, p.attempt), (JobState::Retryable, 1), "the polite one stopped with an error");
    let s = db.client.get(stubborn).await.unwrap().unwrap();
    assert_eq!(
        (s.state, s.attempt, s.errors.len()),
        (JobState::Available, 0, 0),
        "released, attempt given back"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'").await, 0);
}

#[tokio::test]
async fn force_takes_the_hard_path_at_once() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let config = fast_config()
        .with_shutdown_soft_timeout(Duration::from_secs(60))
        .with_shutdown_hard_timeout(Duration::from_secs(60));
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(config).build().unwrap();
    let (shutdown, force) = (CancellationToken::new(), CancellationToken::new());
    let run = tokio::spawn(worker.run_until(shutdown.clone(), force.clone()));
    let id = db.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    shutdown.cancel();
    let started = Instant::now();
    force.cancel(); // the second signal
    let report = tokio::time::timeout(crate::common::WAIT, run).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(report.released, 1);
    assert_eq!(db.client.get(id).await.unwrap().unwrap().state, JobState::Available);
}
