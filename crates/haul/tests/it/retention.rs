//! Retention: completed jobs go at completion, dead letters and cancelled jobs stay 7 days by
//! default, and the leader's cleaner then removes them in bounded batches.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Noop, noop};
use haul::{EventOutcome, Job, JobContext, JobError, Worker};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct Doomed {
    n: u32,
}

impl Job for Doomed {
    const KIND: &'static str = "doomed";
}

async fn doomed(_ctx: JobContext<()>, _job: Doomed) -> Result<(), JobError> {
    Err(JobError::discard("the address is malformed"))
}

const HOUR: Duration = Duration::from_secs(3600);
const FINAL: &str = "SELECT count(*) FROM {s}.jobs WHERE state IN ('discarded', 'cancelled')";

#[tokio::test]
async fn dead_letters_and_cancelled_jobs_stay_seven_days_then_go_in_batches() {
    let db = TestDb::new().await;
    let config = fast_config()
        .with_cleaner_interval(Duration::from_millis(50))
        .with_maintenance_batch(10)
        .with_completed_retention(Duration::from_secs(60));
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).handler(doomed).config(config);
    let mut w = start(worker.build().unwrap());
    let dead = db.client.insert_many((0..25).map(|n| Doomed { n })).await.unwrap();
    w.collect(dead.len(), |e| e.outcome == EventOutcome::Discarded).await;
    let later = (0..25).map(|n| haul::NewJob::new(&Noop { n }).with_delay(HOUR));
    for id in db.client.insert_many(later).await.unwrap() {
        db.client.cancel(id).await.unwrap();
    }
    assert_eq!(db.scalar(FINAL).await, 50);

    // a minute short of 7 days: two cleaner rounds pass (each deletes a completed job past its
    // minute) and every dead letter and cancelled job is still there
    db.client.clock().advance(7 * 24 * HOUR - 5 * Duration::from_secs(60));
    for n in 0..2 {
        let id = db.client.insert(Noop { n }).await.unwrap();
        w.next_where(|e| e.id == id).await;
        db.client.clock().advance(Duration::from_secs(61));
        db.until_scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE id = {id}"), 0).await;
    }
    assert_eq!(db.scalar(FINAL).await, 50, "kept for 7 days");

    db.client.clock().advance(Duration::from_secs(180));
    db.until_scalar(FINAL, 0).await;
    w.stop().await;
}
