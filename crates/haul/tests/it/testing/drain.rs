//! Draining queues inline with a built worker: a mix of outcomes through the real claim,
//! execute and complete statements; retries and snoozes waiting for their time; follow-up jobs
//! run in the same drain; a transactional completion; queues picked; and the limit.

use crate::common::TestDb;
use haul::testing::{Drain, Expect, all_enqueued, assert_enqueued, drain, refute_enqueued};
use haul::{EventOutcome, Job, JobContext, JobError, JobState, NewJob, RetryPolicy, Worker};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Act {
    Succeed,
    /// Fails its first attempt, then succeeds.
    FailOnce,
    /// Snoozes for an hour the first time it runs, then succeeds.
    SnoozeOnce,
    Cancel,
    Discard,
    Panic,
    /// Enqueues a `Succeed` job now and one an hour later.
    FollowUp,
    /// Writes a ledger line and completes in the same transaction.
    Ledger,
    /// Snoozes for no time at all, for ever.
    SnoozeForEver,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Task {
    act: Act,
}

impl Job for Task {
    const KIND: &'static str = "task";
    const QUEUE: &'static str = "work";
    const MAX_ATTEMPTS: i16 = 2;
    const RETRY: RetryPolicy = RetryPolicy::constant(Duration::from_secs(600));
}

fn task(act: Act) -> Task {
    Task { act }
}

#[derive(Clone)]
struct App {
    schema: String,
    /// Runs per job id.
    runs: Arc<Mutex<HashMap<i64, usize>>>,
}

async fn work(ctx: JobContext<App>, job: Task) -> Result<(), JobError> {
    let runs = {
        let mut runs = ctx.state().runs.lock().unwrap();
        let n = runs.entry(ctx.id()).or_default();
        *n += 1;
        *n
    };
    match job.act {
        Act::Succeed => Ok(()),
        Act::FailOnce if ctx.attempt() == 1 => Err(JobError::retry("first attempt fails")),
        Act::FailOnce => Ok(()),
        Act::SnoozeOnce if runs == 1 => Err(JobError::snooze(Duration::from_secs(3600))),
        Act::SnoozeOnce => Ok(()),
        Act::Cancel => Err(JobError::cancel("not wanted")),
        Act::Discard => Err(JobError::discard("bad input")),
        Act::Panic => panic!("boom"),
        Act::FollowUp => {
            ctx.client().insert(task(Act::Succeed)).await?;
            let later = NewJob::new(&task(Act::Succeed)).with_delay(Duration::from_secs(3600));
            ctx.client().insert(later).await?;
            Ok(())
        }
        Act::Ledger => {
            let mut tx = ctx.pool().begin().await?;
            let sql = format!("INSERT INTO \"{}\".ledger (job_id) VALUES ($1)", ctx.state().schema);
            sqlx::query(AssertSqlSafe(sql)).bind(ctx.id()).execute(&mut *tx).await?;
            match ctx.complete_in(&mut *tx).await {
                Ok(()) => Ok(tx.commit().await?),
                Err(e) => {
                    tx.rollback().await?;
                    Err(JobError::retry(e))
                }
            }
        }
        Act::SnoozeForEver => Err(JobError::snooze(Duration::ZERO)),
    }
}

async fn setup() -> (TestDb, Worker<App>) {
    let db = TestDb::new().await;
    db.exec("CREATE TABLE {s}.ledger (job_id bigint NOT NULL)").await;
    let app = App { schema: db.schema.clone(), runs: Arc::default() };
    let worker = Worker::builder(db.client.clone(), app).queue("work", 4).handler(work).build().unwrap();
    (db, worker)
}

fn outcome_of(report: &haul::testing::DrainReport, id: i64) -> EventOutcome {
    report.events.iter().find(|e| e.id == id).map(|e| e.outcome).expect("an event for the job")
}

#[tokio::test]
async fn drain_runs_a_mix_of_outcomes_through_the_real_path() {
    let (db, worker) = setup().await;
    let acts =
        [Act::Succeed, Act::FailOnce, Act::SnoozeOnce, Act::Cancel, Act::Discard, Act::Panic, Act::Ledger];
    let ids = db.client.insert_many(acts.iter().cloned().map(task)).await.unwrap();
    let id = |act: Act| ids[acts.iter().position(|a| *a == act).unwrap()];

    let report = drain(&worker, Drain::queue("work")).await;
    let counts = (report.completed, report.retried, report.snoozed, report.cancelled, report.discarded);
    assert_eq!(counts, (2, 2, 1, 1, 1), "{report:?}");
    assert!(!report.limited);
    assert_eq!(report.attempts(), 7);
    assert_eq!(
        outcome_of(&report, id(Act::FailOnce)),
        EventOutcome::Retrying { after: Duration::from_secs(600) }
    );
    assert_eq!(outcome_of(&report, id(Act::SnoozeOnce)), EventOutcome::Snoozed(Duration::from_secs(3600)));

    // the rows are as a worker leaves them
    let get = async |act: Act| db.client.get(id(act)).await.unwrap();
    assert!(get(Act::Succeed).await.is_none(), "completed jobs are deleted");
    assert!(get(Act::Ledger).await.is_none(), "completed in the handler's transaction");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.ledger").await, 1);
    let retry = get(Act::FailOnce).await.unwrap();
    assert_eq!(
        (retry.state, retry.attempt, retry.errors[0].error.as_str()),
        (JobState::Retryable, 1, "first attempt fails")
    );
    let snoozed = get(Act::SnoozeOnce).await.unwrap();
    assert_eq!((snoozed.state, snoozed.attempt), (JobState::Scheduled, 0), "a snooze gives its attempt back");
    assert_eq!(get(Act::Cancel).await.unwrap().state, JobState::Cancelled);
    assert_eq!(get(Act::Discard).await.unwrap().state, JobState::Discarded);
    let panicked = get(Act::Panic).await.unwrap();
    assert_eq!(
        (panicked.state, panicked.errors[0].error.as_str()),
        (JobState::Retryable, "handler panicked: boom")
    );

    // retries and snoozes wait for their time: a second drain runs nothing
    assert_eq!(drain(&worker, Drain::queue("work")).await.attempts(), 0);
    // ... unless asked to run them now
    let now = drain(&worker, Drain::queue("work").with_scheduled()).await;
    assert_eq!((now.completed, now.discarded, now.attempts()), (2, 1, 3), "{now:?}");
    assert_eq!(
        get(Act::Panic).await.unwrap().state,
        JobState::Discarded,
        "its second and last attempt panicked"
    );
    refute_enqueued(&db.client, Expect::<Task>::any()).await;
}

#[tokio::test]
async fn drain_runs_follow_up_jobs_enqueued_by_a_handler_when_they_are_available() {
    let (db, worker) = setup().await;
    let parent = db.client.insert(task(Act::FollowUp)).await.unwrap();

    let report = drain(&worker, Drain::queue("work")).await;
    assert_eq!((report.completed, report.attempts()), (2, 2), "the parent and its available child ran");
    assert_eq!(report.events[0].id, parent);
    let later =
        assert_enqueued(&db.client, Expect::args(task(Act::Succeed)).with_state(JobState::Scheduled)).await;

    // the delayed child runs once the clock reaches it
    db.clock.advance(Duration::from_secs(3601));
    let report = drain(&worker, Drain::queue("work")).await;
    assert_eq!(report.events.iter().map(|e| e.id).collect::<Vec<_>>(), [later.row.id]);
    assert!(all_enqueued(&db.client, Expect::<Task>::any()).await.is_empty());
}

#[tokio::test]
async fn drain_picks_its_queues() {
    let (db, worker) = setup().await;
    let work = db.client.insert(task(Act::Succeed)).await.unwrap();
    let other = db.client.insert(NewJob::new(&task(Act::Succeed)).with_queue("other")).await.unwrap();

    let report = drain(&worker, Drain::queue("work")).await;
    assert_eq!(report.events.iter().map(|e| e.id).collect::<Vec<_>>(), [work]);
    assert_enqueued(&db.client, Expect::<Task>::any().with_queue("other")).await;

    let report = drain(&worker, Drain::all_queues()).await;
    assert_eq!(report.events.iter().map(|e| e.id).collect::<Vec<_>>(), [other]);
    assert_eq!(drain(&worker, Drain::queue("work").with_queue("other")).await.attempts(), 0);
}

#[tokio::test]
async fn drain_stops_at_its_limit() {
    let (db, worker) = setup().await;
    let id = db.client.insert(task(Act::SnoozeForEver)).await.unwrap();
    let report = drain(&worker, Drain::queue("work").with_limit(5)).await;
    assert!(report.limited);
    assert_eq!((report.snoozed, report.attempts()), (5, 5));
    assert!(report.events.iter().all(|e| e.id == id));
}
