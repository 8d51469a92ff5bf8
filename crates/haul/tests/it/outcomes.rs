//! One bad outcome never harms its batch-mates: text the database cannot store, endless
//! delays, and an outcome the database refuses are each confined to their own job, which
//! ends saying why; every other outcome of the flush is written as planned.

use crate::common::{TestDb, fast_config, start};
use haul::{DELAY_MAX, ErrorClass, EventOutcome, Job, JobContext, JobError, JobState};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Ends as its `how` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ends {
    pub how: String,
}

impl Job for Ends {
    const KIND: &'static str = "ends";
    const MAX_ATTEMPTS: i16 = 5;
}

async fn ends(_ctx: JobContext<()>, job: Ends) -> Result<(), JobError> {
    match job.how.as_str() {
        "nul" => Err(JobError::retry("bad\0byte")),
        "huge" => Err(JobError::retry("x".repeat(3 << 20))),
        "snooze_max" => Err(JobError::snooze(Duration::MAX)),
        "retry_max" => Err(JobError::retry_after("later", Duration::MAX)),
        "cancel_nul" => Err(JobError::cancel("stop\0here")),
        "discard_nul" => Err(JobError::discard("\0")),
        "forbidden" => Err(JobError::retry("a forbidden word")),
        _ => Ok(()),
    }
}

fn config() -> haul::WorkerConfig {
    fast_config().with_fetch_cooldown(Duration::from_millis(50))
}

#[tokio::test]
async fn nul_bytes_and_endless_delays_do_not_harm_their_batch_mates() {
    let db = TestDb::new().await;
    let worker = haul::Worker::builder(db.client.clone(), ()).queue("default", 100).handler(ends);
    let mut w = start(worker.config(config()).build().unwrap());
    let bad = ["nul", "huge", "snooze_max", "retry_max", "cancel_nul", "discard_nul"];
    let jobs = bad.iter().map(|h| h.to_string()).chain((0..20).map(|_| "ok".to_string()));
    let ids = db.client.insert_many(jobs.map(|how| Ends { how })).await.unwrap();
    let events = w.collect(ids.len(), |e| ids.contains(&e.id) && e.attempt == 1).await;
    let outcome = |i: usize| events.iter().find(|e| e.id == ids[i]).unwrap();
    assert!(matches!(outcome(0).outcome, EventOutcome::Retrying { .. }));
    assert_eq!(outcome(0).error.as_deref(), Some("bad\\0byte"), "the NUL is stored as \\0");
    let huge = outcome(1).error.clone().unwrap();
    assert!(huge.len() <= 8 * 1024 && huge.ends_with("[truncated]"), "capped at 8 KiB: {}", huge.len());
    assert_eq!(outcome(2).outcome, EventOutcome::Snoozed(DELAY_MAX), "clamped to 100 years");
    assert_eq!(outcome(3).outcome, EventOutcome::Retrying { after: DELAY_MAX });
    assert_eq!(outcome(4).outcome, EventOutcome::Cancelled);
    assert_eq!(outcome(5).outcome, EventOutcome::Discarded);
    assert!(
        ids[6..].iter().all(|id| events.iter().any(|e| e.id == *id && e.outcome == EventOutcome::Completed))
    );
    let row = db.client.get(ids[4]).await.unwrap().unwrap();
    assert_eq!((row.state, row.errors[0].error.as_str()), (JobState::Cancelled, "stop\\0here"));
    let far = db
        .scalar(&format!(
            "SELECT (run_at > now() + interval '99 years')::int::int8 FROM {{s}}.jobs WHERE id = {}",
            ids[2]
        ))
        .await;
    assert_eq!(far, 1, "the snoozed job waits 100 years");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'").await, 0);
    w.stop().await;
}

#[tokio::test]
async fn an_outcome_postgres_refuses_is_recorded_as_a_failure_and_spares_its_batch_mates() {
    let db = TestDb::new().await;
    // the application's own rule on the table refuses one error text
    db.exec("ALTER TABLE {s}.jobs ADD CONSTRAINT app_rule CHECK (NOT (errors::text LIKE '%forbidden%'))")
        .await;
    let worker = haul::Worker::builder(db.client.clone(), ()).queue("default", 100).handler(ends);
    let mut w =
        start(worker.config(config().with_completed_retention(Duration::from_secs(60))).build().unwrap());
    let hows = ["forbidden", "nul"].into_iter().chain(["ok"; 10]);
    let ids = db.client.insert_many(hows.map(|h| Ends { how: h.into() })).await.unwrap();
    let events = w.collect(ids.len(), |e| ids.contains(&e.id) && e.attempt == 1).await;
    let refused = events.iter().find(|e| e.id == ids[0]).unwrap();
    assert!(matches!(refused.outcome, EventOutcome::Retrying { .. }), "{refused:?}");
    let error = refused.error.as_deref().unwrap();
    assert!(error.starts_with("Haul could not record this attempt's outcome (retryable): "), "{error}");
    assert!(error.contains("app_rule"), "the database's reason: {error}");
    let row = db.client.get(ids[0]).await.unwrap().unwrap();
    assert_eq!((row.state, row.errors[0].class), (JobState::Retryable, ErrorClass::Unrecorded));
    let mates = db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'completed'").await;
    assert_eq!(mates, 10, "every batch-mate is written as planned");
    let nul = db.client.get(ids[1]).await.unwrap().unwrap();
    assert_eq!((nul.state, nul.errors[0].error.as_str()), (JobState::Retryable, "bad\\0byte"));
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'").await, 0);
    w.stop().await;
}
