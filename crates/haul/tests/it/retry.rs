//! Retries with backoff (on a moved clock, no sleeping) and the dead letter with every
//! attempt's error.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Flaky, flaky};
use haul::{ErrorClass, EventOutcome, JobState, Worker};
use std::time::Duration;

#[tokio::test]
async fn failed_attempt_retries_after_its_backoff_and_then_succeeds() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(flaky).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Flaky { fail_times: 1 }).await.unwrap();

    let first = w.next_where(|e| e.id == id).await;
    assert_eq!(first.attempt, 1);
    assert_eq!(first.outcome, EventOutcome::Retrying { after: Duration::from_secs(3600) });
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt, row.errors.len()), (JobState::Retryable, 1, 1));
    assert_eq!(row.errors[0].class, ErrorClass::Error);
    assert_eq!(row.errors[0].error, "transient failure on attempt 1");
    let wait = row.run_at - row.errors[0].at;
    assert!((wait.num_milliseconds() - 3_600_000).abs() < 1000, "backoff applied on db time: {wait}");

    // an hour later on the database clock, the scheduler makes it available again
    db.clock.advance(Duration::from_secs(3600));
    let second = w.next_where(|e| e.id == id).await;
    assert_eq!((second.attempt, second.outcome), (2, EventOutcome::Completed));
    w.stop().await;
}

#[tokio::test]
async fn exhausted_attempts_land_in_the_dead_letter_with_every_error() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(flaky).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Flaky { fail_times: 99 }).await.unwrap();
    for attempt in 1..=3 {
        let e = w.next_where(|e| e.id == id).await;
        assert_eq!(e.attempt, attempt);
        if attempt < 3 {
            assert!(matches!(e.outcome, EventOutcome::Retrying { .. }));
            db.clock.advance(Duration::from_secs(3600));
        } else {
            assert_eq!(e.outcome, EventOutcome::Discarded);
        }
    }
    let dead = db.client.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let row = &dead[0];
    assert_eq!((row.id, row.state, row.attempt), (id, JobState::Discarded, 3));
    assert!(row.finalized_at.is_some());
    let attempts: Vec<i16> = row.errors.iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(row.errors[2].error.contains("no attempts left"), "{}", row.errors[2].error);
    assert!(row.errors.windows(2).all(|w| w[0].at < w[1].at));

    // an operator retries the dead letter: it runs once more and fails again into the dead letter
    db.client.retry(id).await.unwrap();
    let again = w.next_where(|e| e.id == id).await;
    assert_eq!((again.attempt, again.outcome), (4, EventOutcome::Discarded));
    assert_eq!(db.client.get(id).await.unwrap().unwrap().errors.len(), 4);
    w.stop().await;
}
