//! A polling worker through PgBouncer runs jobs to completion, retries a failed attempt on
//! the leader's schedule, and leaves nothing behind.

use crate::common::start;
use crate::jobs::{Flaky, Noop, flaky, noop};
use crate::{Pooled, pooled_config};
use haul::{EventOutcome, Worker};
use std::time::Duration;

#[tokio::test]
async fn a_polling_worker_runs_jobs_and_retries() {
    let Some(p) = Pooled::start().await else { return };
    let worker = Worker::builder(p.client.clone(), ())
        .handler(noop)
        .handler(flaky)
        .config(pooled_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    let ids = p.client.insert_many((0..300).map(|n| Noop { n })).await.unwrap();
    let retried = p.client.insert(Flaky { fail_times: 1 }).await.unwrap();

    let done = w.collect(300, |e| ids.contains(&e.id)).await;
    assert!(done.iter().all(|e| e.outcome == EventOutcome::Completed), "{done:?}");
    let first = w.next_where(|e| e.id == retried).await;
    assert_eq!(
        (first.attempt, first.outcome),
        (1, EventOutcome::Retrying { after: Duration::from_secs(3600) })
    );
    // an hour later on the database clock, the leader's scheduler makes it available again
    p.db.clock.advance(Duration::from_secs(3600));
    let second = w.next_where(|e| e.id == retried).await;
    assert_eq!((second.attempt, second.outcome), (2, EventOutcome::Completed));
    w.stop().await;
    assert_eq!(p.db.scalar("SELECT count(*) FROM {s}.jobs").await, 0, "completed jobs are deleted");
}
