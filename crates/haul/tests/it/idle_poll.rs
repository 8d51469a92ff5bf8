//! The poll of a worker's idle queues: one statement a tick probes them all, so an idle worker
//! on many queues runs no claim between jobs (and its queues' first claims share statements), and a job whose notification never came (a
//! poll-only worker hears none) is still claimed on the next tick.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Noop, noop};
use haul::{NewJob, Worker};
use std::time::Duration;

const QUEUES: usize = 50;
const POLL: Duration = Duration::from_millis(100);

#[tokio::test]
async fn an_idle_worker_on_many_queues_claims_nothing_and_still_finds_an_unannounced_job() {
    let db = TestDb::new().await;
    let config = fast_config().with_poll_only(true).with_fetch_poll_interval(POLL);
    let mut builder = Worker::builder(db.client.clone(), ()).handler(noop).config(config);
    for q in 0..QUEUES {
        builder = builder.queue(format!("q{q}"), 2);
    }
    let worker = builder.build().unwrap();
    let stats = worker.stats();
    let mut w = start(worker);
    // each producer claims once as it starts, in statements shared by all queues
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stats.snapshot().fetches == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the producers never made their first claims");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ten poll ticks with nothing to do: a claim per queue per tick would be 500 or more
    tokio::time::sleep(POLL * 10).await;
    let during = stats.snapshot().fetches;
    assert!(during < QUEUES as u64, "{during} claim statements for the first claims of {QUEUES} queues");
    tokio::time::sleep(POLL * 10).await;
    assert_eq!(stats.snapshot().fetches, during, "no claim at all once settled");
    let id = db.client.insert(NewJob::new(&Noop { n: 1 }).with_queue("q37")).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == id).await.id, id, "the poll found the job no notification announced");
    assert!(
        stats.snapshot().fetches - during <= 3,
        "claims for one job: the woken queue's, not every queue's"
    );
    w.stop().await;
}
