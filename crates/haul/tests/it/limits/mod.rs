//! Global limits against the real database: a held-back job stays `available` at attempt 0,
//! bad limits are refused before any SQL, and with three worker *processes* (this test binary
//! re-run as [`process::worker_process`]) the handlers' own records never show more running
//! jobs or more starts in any window than the limit, while throughput reaches at least 90 %
//! of it. The multi-process tests print the figures (`--nocapture`).

mod process;

use crate::common::{TestDb, WAIT, fast_config, start};
use haul::{EventOutcome, Job, JobContext, JobError, JobState, Limit, Worker};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Serialize, Deserialize)]
struct Gated {
    tenant: String,
}

impl Job for Gated {
    const KIND: &'static str = "gated";
    const QUEUE: &'static str = "partner";
}

/// Runs once the test adds a permit.
async fn gated(ctx: JobContext<Arc<Semaphore>>, _job: Gated) -> Result<(), JobError> {
    ctx.state().acquire().await?.forget();
    Ok(())
}

#[tokio::test]
async fn a_held_back_job_stays_available_at_attempt_zero_until_a_slot_frees() {
    let db = TestDb::new().await;
    db.client.set_limit("partner", &Limit::concurrency(1).partitioned_by_arg("tenant")).await.unwrap();
    let jobs = ["a", "a", "b"].map(|t| Gated { tenant: t.into() });
    let ids = db.client.insert_many(jobs).await.unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let worker = Worker::builder(db.client.clone(), gate.clone()).queue("partner", 10).handler(gated);
    let mut w = start(worker.config(fast_config()).build().unwrap());
    // one of each tenant runs; the second of `a` is held back by a's limit of one
    let running = "SELECT count(*) FROM {s}.jobs WHERE state = 'running'";
    db.until_scalar(running, 2).await;
    let held = db.client.get(ids[1]).await.unwrap().unwrap();
    assert_eq!((held.state, held.attempt), (JobState::Available, 0), "held back, not attempted");
    gate.add_permits(1);
    let first = w.next_where(|e| e.outcome == EventOutcome::Completed).await;
    gate.add_permits(2);
    let rest = w.collect(2, |e| e.outcome == EventOutcome::Completed).await;
    let mut done: Vec<i64> = rest.iter().chain([&first]).map(|e| e.id).collect();
    done.sort_unstable();
    assert_eq!(done, ids);
    let attempts = "SELECT count(*) FROM {s}.jobs WHERE attempt <> 1";
    assert_eq!(db.scalar(attempts).await, 0, "kept rows show one attempt each");
    w.stop().await;
}

#[derive(Serialize, Deserialize)]
struct Other {}

impl Job for Other {
    const KIND: &'static str = "other";
    const QUEUE: &'static str = "partner";
}

async fn other(ctx: JobContext<Arc<Semaphore>>, _job: Other) -> Result<(), JobError> {
    ctx.state().acquire().await?.forget();
    Ok(())
}

#[tokio::test]
async fn a_limit_per_kind_gives_each_kind_the_whole_limit() {
    let db = TestDb::new().await;
    db.client.set_limit("partner", &Limit::concurrency(2).partitioned_by_kind()).await.unwrap();
    db.client.insert_many((0..4).map(|_| Gated { tenant: "a".into() })).await.unwrap();
    db.client.insert_many((0..4).map(|_| Other {})).await.unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let worker = Worker::builder(db.client.clone(), gate.clone()).queue("partner", 10);
    let mut w = start(worker.handler(gated).handler(other).config(fast_config()).build().unwrap());
    let running = "SELECT count(*) FROM {s}.jobs WHERE state = 'running'";
    db.until_scalar(running, 4).await;
    let per_kind = "SELECT count(DISTINCT kind) FILTER (WHERE state = 'running') * 10 \
                    + count(*) FILTER (WHERE state = 'available' AND attempt = 0) FROM {s}.jobs";
    assert_eq!(db.scalar(per_kind).await, 24, "two of each kind run; the other four wait unattempted");
    gate.add_permits(8);
    w.collect(8, |e| e.outcome == EventOutcome::Completed).await;
    w.stop().await;
}

#[tokio::test]
async fn bad_limits_are_refused_before_any_sql_and_clearing_restores_plain_claims() {
    let db = TestDb::new().await;
    for bad in
        [Limit::concurrency(0), Limit::rate(5, Duration::ZERO), Limit::rate(1, Duration::from_secs(86_401))]
    {
        let err = db.client.set_limit("partner", &bad).await.unwrap_err();
        assert!(matches!(err, haul::Error::InvalidLimit { .. }), "{err}");
    }
    let err = db.client.set_limit("a b", &Limit::concurrency(1)).await.unwrap_err();
    assert!(matches!(err, haul::Error::InvalidName { .. }), "{err}");
    assert!(db.client.limits().await.unwrap().is_empty(), "nothing stored");

    let limit = Limit::rate(3, Duration::from_secs(60)).partitioned_by_kind();
    db.client.set_limit("partner", &limit).await.unwrap();
    let listed = db.client.limits().await.unwrap();
    assert_eq!((listed[0].queue.as_str(), &listed[0].limit), ("partner", &limit));
    let queues = db.client.queues().await.unwrap();
    assert_eq!(queues[0].limit.as_ref(), Some(&limit), "visible in the queue listing");
    assert!(db.client.clear_limit("partner").await.unwrap());
    assert!(!db.client.clear_limit("partner").await.unwrap(), "nothing left to clear");
}

#[tokio::test]
async fn a_limit_set_while_a_worker_runs_holds_back_its_next_claims() {
    let db = TestDb::new().await;
    let gate = Arc::new(Semaphore::new(0));
    let worker = Worker::builder(db.client.clone(), gate.clone()).queue("partner", 10).handler(gated);
    let worker = worker.config(fast_config()).build().unwrap();
    let mut paused = worker.paused_queues();
    let mut w = start(worker);
    db.client.set_limit("partner", &Limit::rate(2, Duration::from_secs(3600))).await.unwrap();
    // a pause after the limit: once the worker shows it, it has read the limit too
    db.client.pause_queue("partner").await.unwrap();
    tokio::time::timeout(WAIT, paused.wait_for(|p| p.contains("partner"))).await.unwrap().unwrap();
    db.client.resume_queue("partner").await.unwrap();
    tokio::time::timeout(WAIT, paused.wait_for(|p| p.is_empty())).await.unwrap().unwrap();
    db.client.insert_many((0..4).map(|_| Gated { tenant: "a".into() })).await.unwrap();
    db.until_scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'", 2).await;
    gate.add_permits(4);
    w.collect(2, |e| e.outcome == EventOutcome::Completed).await;
    let waiting = "SELECT count(*) FROM {s}.jobs WHERE state = 'available' AND attempt = 0";
    assert_eq!(db.scalar(waiting).await, 2, "two starts an hour: the other two wait, unattempted");
    db.client.clear_limit("partner").await.unwrap();
    w.collect(2, |e| e.outcome == EventOutcome::Completed).await;
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0, "all completed");
    w.stop().await;
}
