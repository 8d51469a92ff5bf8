//! Fetch order with the claim cursor: claims resume after the last claimed job, yet a job
//! placed before the cursor (a higher priority, an older `run_at`) is still found promptly.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Order, Ranked, ranked};
use haul::{EventOutcome, NewJob, Worker};
use std::time::Duration;

const URGENT: i64 = -1;
const OLD: i64 = -2;

#[tokio::test]
async fn jobs_placed_before_the_cursor_run_while_a_backlog_is_still_being_worked() {
    // long enough to outlast the rescans' spacing (a full scan at most every 100× its duration)
    const BACKLOG: i64 = 20_000;
    let db = TestDb::new().await;
    db.client.insert_many((0..BACKLOG).map(|rank| Ranked { rank })).await.unwrap();
    let order = Order::default();
    let config = fast_config().with_fetch_batch_max(5);
    let worker =
        Worker::builder(db.client.clone(), order.clone()).queue("default", 5).handler(ranked).config(config);
    let mut w = start(worker.build().unwrap());
    w.collect(100, |e| e.outcome == EventOutcome::Completed).await;
    let urgent = db.client.insert(NewJob::new(&Ranked { rank: URGENT }).with_priority(-10)).await.unwrap();
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let old = db.client.insert(NewJob::new(&Ranked { rank: OLD }).with_run_at(an_hour_ago)).await.unwrap();
    w.next_where(|e| e.id == urgent).await;
    w.next_where(|e| e.id == old).await;
    let ran = order.lock().unwrap().clone();
    let backlog_done = ran.iter().filter(|n| **n >= 0).count() as i64;
    assert!(backlog_done < BACKLOG, "both ran before the backlog was done ({backlog_done} of {BACKLOG})");
    w.stop().await;
}

#[tokio::test]
async fn an_idle_worker_finds_a_job_older_than_its_cursor_without_polling() {
    let db = TestDb::new().await;
    let order = Order::default();
    let config = fast_config().with_fetch_poll_interval(Duration::from_secs(3600));
    let worker =
        Worker::builder(db.client.clone(), order.clone()).queue("default", 5).handler(ranked).config(config);
    let mut w = start(worker.build().unwrap());
    for n in 0..3 {
        let id = db.client.insert(Ranked { rank: n }).await.unwrap();
        w.next_where(|e| e.id == id).await;
    }
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let old = db.client.insert(NewJob::new(&Ranked { rank: OLD }).with_run_at(an_hour_ago)).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == old).await.outcome, EventOutcome::Completed);
    w.stop().await;
}
