//! Heartbeats and graceful shutdown through PgBouncer: a long job's lease is carried forward
//! and never rescued, a job that finishes within the soft timeout completes, and a stubborn
//! one is released without using an attempt.

use crate::common::start;
use crate::jobs::{Block, block, gate};
use crate::{Pooled, pooled_config};
use haul::{EventOutcome, JobState, Worker};
use std::time::Duration;

#[tokio::test]
async fn heartbeats_carry_a_long_jobs_lease() {
    let Some(p) = Pooled::start().await else { return };
    let (g, mut ctl) = gate();
    let config = pooled_config()
        .with_lease(Duration::from_millis(600))
        .with_heartbeat_interval(Duration::from_millis(100));
    let worker = Worker::builder(p.client.clone(), g).handler(block).config(config).build().unwrap();
    let mut w = start(worker);
    let id = p.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    let first = p.client.get(id).await.unwrap().unwrap().lease_expires_at.unwrap();
    let carried = format!(
        "SELECT (lease_expires_at > '{}'::timestamptz + interval '1800 ms')::int::int8 FROM {{s}}.jobs WHERE id = {id}",
        first.to_rfc3339()
    );
    p.db.until_scalar(&carried, 1).await;
    let row = p.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt, row.errors.len()), (JobState::Running, 1, 0), "never rescued");
    ctl.open();
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!((e.attempt, e.outcome), (1, EventOutcome::Completed));
    w.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_what_it_can_and_releases_the_rest() {
    let Some(p) = Pooled::start().await else { return };
    let (g, mut ctl) = gate();
    let config = pooled_config()
        .with_shutdown_soft_timeout(Duration::from_millis(300))
        .with_shutdown_hard_timeout(Duration::from_millis(300));
    let worker = Worker::builder(p.client.clone(), g).handler(block).config(config).build().unwrap();
    let w = start(worker);
    let polite = p.client.insert(Block { honors_cancel: true }).await.unwrap();
    let stubborn = p.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    ctl.wait_started().await;
    let report = w.stop().await;
    assert_eq!((report.running_at_start, report.finished, report.released), (2, 1, 1));
    let s = p.client.get(stubborn).await.unwrap().unwrap();
    assert_eq!(
        (s.state, s.attempt, s.errors.len()),
        (JobState::Available, 0, 0),
        "released, attempt given back"
    );
    let polite = p.client.get(polite).await.unwrap().unwrap();
    assert_eq!((polite.state, polite.attempt), (JobState::Retryable, 1), "stopped with an error");
    assert_eq!(p.db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'").await, 0);
}

#[tokio::test]
async fn a_job_finishing_within_the_soft_timeout_completes() {
    let Some(p) = Pooled::start().await else { return };
    let (g, mut ctl) = gate();
    let worker = Worker::builder(p.client.clone(), g).handler(block).config(pooled_config()).build().unwrap();
    let mut w = start(worker);
    let id = p.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    w.token.cancel();
    ctl.open();
    assert_eq!(w.next_where(|e| e.id == id).await.outcome, EventOutcome::Completed);
    let report = w.stop().await;
    assert_eq!((report.running_at_start, report.finished, report.released), (1, 1, 0));
    assert_eq!(p.db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'").await, 0);
}
