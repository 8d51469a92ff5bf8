//! A job's whole path: insert → notify → fetch → execute → complete, with each outcome.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Noop, Order, Ranked, noop, ranked};
use haul::{EventOutcome, Job, JobContext, JobError, JobState, NewJob, Worker};
use std::time::Duration;

#[tokio::test]
async fn job_runs_once_and_is_deleted_by_default() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Noop { n: 1 }).await.unwrap();
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!(e.outcome, EventOutcome::Completed);
    assert_eq!((e.attempt, &*e.kind, &*e.queue), (1, "noop", "default"));
    assert!(db.client.get(id).await.unwrap().is_none(), "completed jobs are deleted by default");
    let report = w.stop().await;
    assert_eq!(report.released, 0);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0);
}

#[tokio::test]
async fn an_event_reports_the_wait_from_due_to_claim() {
    let db = TestDb::new().await;
    let late = chrono::Utc::now() - chrono::Duration::seconds(30);
    let late = db.client.insert(NewJob::new(&Noop { n: 1 }).with_run_at(late)).await.unwrap();
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let e = w.next_where(|e| e.id == late).await;
    assert!(e.queue_wait >= Duration::from_secs(29), "due 30 s ago: {:?}", e.queue_wait);
    let fresh = db.client.insert(Noop { n: 2 }).await.unwrap();
    let e = w.next_where(|e| e.id == fresh).await;
    assert!(e.queue_wait < Duration::from_secs(10), "claimed on its notification: {:?}", e.queue_wait);
    w.stop().await;
}

#[tokio::test]
async fn completed_job_is_kept_with_retention() {
    let db = TestDb::new().await;
    let config = fast_config().with_completed_retention(Duration::from_secs(3600));
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(config).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(Noop { n: 1 }).await.unwrap();
    w.next_where(|e| e.id == id).await;
    let row = db.client.get(id).await.unwrap().expect("kept");
    assert_eq!(row.state, JobState::Completed);
    assert_eq!(row.attempt, 1);
    assert!(row.finalized_at.is_some() && row.lease_expires_at.is_none());
    assert!(row.attempted_by.as_deref().is_some_and(|w| !w.is_empty()));
    w.stop().await;
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Outcome {
    what: String,
}

impl Job for Outcome {
    const KIND: &'static str = "outcome";
}

async fn outcome(_ctx: JobContext<()>, job: Outcome) -> Result<(), JobError> {
    match job.what.as_str() {
        "cancel" => Err(JobError::cancel("the order was withdrawn")),
        "discard" => Err(JobError::discard("the address is malformed")),
        "snooze" => Err(JobError::snooze(Duration::from_secs(3600))),
        _ => Ok(()),
    }
}

#[tokio::test]
async fn cancel_discard_and_snooze_outcomes_reach_their_states() {
    let db = TestDb::new().await;
    let worker =
        Worker::builder(db.client.clone(), ()).handler(outcome).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let what = |w: &str| Outcome { what: w.into() };
    let ids = db.client.insert_many([what("cancel"), what("discard"), what("snooze")]).await.unwrap();
    let events = w.collect(3, |_| true).await;
    let of = |id| events.iter().find(|e| e.id == id).unwrap().outcome;
    assert_eq!(of(ids[0]), EventOutcome::Cancelled);
    assert_eq!(of(ids[1]), EventOutcome::Discarded);
    assert_eq!(of(ids[2]), EventOutcome::Snoozed(Duration::from_secs(3600)));

    let cancelled = db.client.get(ids[0]).await.unwrap().unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.errors[0].error, "the order was withdrawn");
    let discarded = db.client.get(ids[1]).await.unwrap().unwrap();
    assert_eq!((discarded.state, discarded.errors.len()), (JobState::Discarded, 1));
    let snoozed = db.client.get(ids[2]).await.unwrap().unwrap();
    assert_eq!(snoozed.state, JobState::Scheduled);
    assert_eq!(snoozed.attempt, 0, "a snooze gives its attempt back");
    assert!(snoozed.errors.is_empty());
    w.stop().await;
}

#[tokio::test]
async fn scheduled_job_waits_for_its_time_on_the_database_clock() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let later = NewJob::new(&Noop { n: 1 }).with_delay(Duration::from_secs(3600));
    let later = db.client.insert(later).await.unwrap();
    let now = db.client.insert(Noop { n: 2 }).await.unwrap();
    w.next_where(|e| e.id == now).await;
    assert_eq!(db.client.get(later).await.unwrap().unwrap().state, JobState::Scheduled);
    db.clock.advance(Duration::from_secs(3601));
    let e = w.next_where(|e| e.id == later).await;
    assert_eq!(e.outcome, EventOutcome::Completed);
    w.stop().await;
}

#[derive(Clone)]
struct Greeting(&'static str);

#[derive(serde::Serialize, serde::Deserialize)]
struct Greet {
    to: String,
}

impl Job for Greet {
    const KIND: &'static str = "greet";
    const QUEUE: &'static str = "greetings";
}

async fn greet(ctx: JobContext<Greeting>, job: Greet) -> Result<(), JobError> {
    let tenant: serde_json::Value = ctx.metadata()?;
    let line = format!("{}, {} of {}", ctx.state().0, job.to, tenant["tenant"]);
    // a follow-up job enqueued from a handler
    ctx.client().insert(NewJob::raw("greeted", serde_json::json!({ "line": line }))).await?;
    Ok(())
}

#[tokio::test]
async fn handler_gets_state_metadata_and_a_client_for_follow_ups() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), Greeting("hello"))
        .queue("greetings", 2)
        .handler(greet)
        .config(fast_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    let job = NewJob::new(&Greet { to: "ada".into() }).with_metadata(serde_json::json!({"tenant": "acme"}));
    let id = db.client.insert(job).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == id).await.outcome, EventOutcome::Completed);
    let follow = db.client.list(Some(JobState::Available), Some("default"), 10).await.unwrap();
    assert_eq!(follow.len(), 1);
    assert_eq!(follow[0].kind, "greeted");
    assert_eq!(follow[0].args["line"], "hello, ada of \"acme\"");
    w.stop().await;
}

#[tokio::test]
async fn priorities_run_lower_numbers_first() {
    let db = TestDb::new().await;
    for p in [5, -5, 0, 10, -10] {
        db.client.insert(NewJob::new(&Ranked { rank: p.into() }).with_priority(p)).await.unwrap();
    }
    let order = Order::default();
    let worker = Worker::builder(db.client.clone(), order.clone())
        .queue("default", 1)
        .handler(ranked)
        .config(fast_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    w.collect(5, |_| true).await;
    assert_eq!(*order.lock().unwrap(), vec![-10, -5, 0, 5, 10]);
    w.stop().await;
}
