//! One handler run inline with a context the test describes: each outcome class (a panic
//! caught as a worker catches it), the attempt facts the handler sees, a timeout, and a run on
//! an inserted job through the completer's real statement.

use super::panic_message;
use crate::common::TestDb;
use haul::testing::{Performed, TestContext};
use haul::{Client, ErrorClass, Job, JobContext, JobError, JobState, RetryPolicy};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Act {
    Succeed,
    Fail,
    Snooze,
    Cancel,
    Discard,
    Panic,
    Hang,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Step {
    act: Act,
}

impl Job for Step {
    const KIND: &'static str = "step";
    const MAX_ATTEMPTS: i16 = 3;
    const RETRY: RetryPolicy = RetryPolicy::constant(Duration::from_secs(60));
}

async fn step(ctx: JobContext<()>, job: Step) -> Result<(), JobError> {
    match job.act {
        Act::Succeed => Ok(()),
        Act::Fail => Err(JobError::retry("the mail server said no")),
        Act::Snooze => Err(JobError::snooze(Duration::from_secs(30))),
        Act::Cancel => Err(JobError::cancel("the user left")),
        Act::Discard => Err(JobError::discard("no such address")),
        Act::Panic => panic!("boom"),
        Act::Hang => {
            ctx.cancellation().cancelled().await;
            Err(JobError::retry("stopped"))
        }
    }
}

/// A client whose pool never connects: `perform` itself needs no database.
fn offline_client() -> Client {
    let pool =
        sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
    Client::new(pool).unwrap()
}

async fn perform(ctx: &TestContext<()>, act: Act) -> Performed {
    ctx.perform(step, Step { act }).await
}

#[tokio::test]
async fn perform_returns_each_outcome_a_worker_would_record() {
    let ctx = TestContext::new(offline_client(), ());
    assert_eq!(perform(&ctx, Act::Succeed).await, Performed::Completed);
    let retried = Performed::Retried {
        class: ErrorClass::Error,
        error: "the mail server said no".into(),
        after: Duration::from_secs(60),
    };
    assert_eq!(perform(&ctx, Act::Fail).await, retried);
    assert_eq!(perform(&ctx, Act::Snooze).await, Performed::Snoozed(Duration::from_secs(30)));
    assert_eq!(perform(&ctx, Act::Cancel).await, Performed::Cancelled("the user left".into()));
    let discarded = Performed::Discarded { class: ErrorClass::Discard, error: "no such address".into() };
    assert_eq!(perform(&ctx, Act::Discard).await, discarded);
}

#[tokio::test]
async fn a_panic_is_caught_and_retried_and_on_the_last_attempt_discarded() {
    let ctx = TestContext::new(offline_client(), ());
    match perform(&ctx, Act::Panic).await {
        Performed::Retried { class: ErrorClass::Panic, error, .. } => {
            assert_eq!(error, "handler panicked: boom")
        }
        other => panic!("a panic retries: {other:?}"),
    }
    match perform(&ctx.clone().with_last_attempt(), Act::Panic).await {
        Performed::Discarded { class: ErrorClass::Panic, error } => {
            assert_eq!(error, "handler panicked: boom (attempt 3 of 3: no attempts left)")
        }
        other => panic!("a panic on the last attempt is discarded: {other:?}"),
    }
    let failed_last = perform(&ctx.clone().with_attempt(5).with_max_attempts(5), Act::Fail).await;
    assert!(matches!(failed_last, Performed::Discarded { class: ErrorClass::Error, .. }), "{failed_last:?}");
}

#[tokio::test(start_paused = true)]
async fn a_handler_past_its_timeout_is_stopped_and_retried() {
    let ctx = TestContext::new(offline_client(), ()).with_timeout(Duration::from_secs(10));
    match perform(&ctx, Act::Hang).await {
        Performed::Retried { class: ErrorClass::Timeout, error, .. } => {
            assert_eq!(error, "timed out after 10s")
        }
        other => panic!("a hung handler times out: {other:?}"),
    }
}

/// What a handler saw of its context.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    id: i64,
    queue: String,
    attempt: i16,
    max_attempts: i16,
    last: bool,
    priority: i16,
    trace: Option<String>,
    cancelled: (bool, bool),
}

#[derive(Serialize, Deserialize)]
struct Peek {}

impl Job for Peek {
    const KIND: &'static str = "peek";
}

#[derive(Deserialize)]
struct Meta {
    trace: String,
}

async fn peek(ctx: JobContext<Arc<Mutex<Seen>>>, _job: Peek) -> Result<(), JobError> {
    let seen = Seen {
        id: ctx.id(),
        queue: ctx.queue().into(),
        attempt: ctx.attempt(),
        max_attempts: ctx.max_attempts(),
        last: ctx.is_last_attempt(),
        priority: ctx.priority(),
        trace: ctx.metadata::<Meta>().ok().map(|m| m.trace),
        cancelled: (ctx.is_cancelled(), ctx.cancellation().is_cancelled()),
    };
    *ctx.state().lock().unwrap() = seen;
    Ok(())
}

#[tokio::test]
async fn the_handler_sees_the_attempt_the_test_describes() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let base = TestContext::new(offline_client(), seen.clone());
    assert!(base.perform(peek, Peek {}).await.is_completed());
    let defaults = Seen { id: 1, queue: "default".into(), attempt: 1, max_attempts: 20, ..Seen::default() };
    assert_eq!(*seen.lock().unwrap(), defaults);

    let described = base
        .clone()
        .with_id(42)
        .with_queue("reports")
        .with_attempt(2)
        .with_max_attempts(2)
        .with_priority(-3)
        .with_metadata(serde_json::json!({"trace": "abc"}))
        .with_cancelled();
    described.perform(peek, Peek {}).await;
    let want = Seen {
        id: 42,
        queue: "reports".into(),
        attempt: 2,
        max_attempts: 2,
        last: true,
        priority: -3,
        trace: Some("abc".into()),
        cancelled: (true, true),
    };
    assert_eq!(*seen.lock().unwrap(), want);
}

#[derive(Serialize, Deserialize)]
struct Credit {
    cents: i64,
}

impl Job for Credit {
    const KIND: &'static str = "credit";
}

/// Writes a ledger line and completes the job in the same transaction.
async fn credit(ctx: JobContext<String>, job: Credit) -> Result<(), JobError> {
    if job.cents < 0 {
        return Err(JobError::retry("negative credit"));
    }
    let mut tx = ctx.pool().begin().await?;
    let sql = format!("INSERT INTO \"{}\".ledger (job_id, cents) VALUES ($1, $2)", ctx.state());
    sqlx::query(AssertSqlSafe(sql)).bind(ctx.id()).bind(job.cents).execute(&mut *tx).await?;
    match ctx.complete_in(&mut *tx).await {
        Ok(()) => tx.commit().await?,
        Err(e) => {
            tx.rollback().await?;
            return Err(JobError::retry(e));
        }
    }
    Ok(())
}

#[tokio::test]
async fn perform_inserted_claims_runs_and_completes_the_row() {
    let db = TestDb::new().await;
    db.exec("CREATE TABLE {s}.ledger (job_id bigint NOT NULL, cents bigint NOT NULL)").await;
    let ctx = TestContext::new(db.client.clone(), db.schema.clone());

    let id = db.client.insert(Credit { cents: 500 }).await.unwrap();
    assert_eq!(ctx.perform_inserted(credit, id).await, Performed::Completed);
    assert!(db.client.get(id).await.unwrap().is_none(), "completed in the handler's transaction: deleted");
    assert_eq!(db.scalar(&format!("SELECT count(*) FROM {{s}}.ledger WHERE job_id = {id}")).await, 1);

    let bad = db.client.insert(Credit { cents: -1 }).await.unwrap();
    let outcome = ctx.perform_inserted(credit, bad).await;
    assert!(matches!(outcome, Performed::Retried { class: ErrorClass::Error, .. }), "{outcome:?}");
    let row = db.client.get(bad).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt, row.errors.len()), (JobState::Retryable, 1, 1));
    assert_eq!(row.attempted_by.as_deref(), Some(haul::testing::TEST_WORKER_ID));
    assert_eq!(row.errors[0].error, "negative credit");

    // without a row, complete_in finds no running attempt: the handler's error says so
    let offline = ctx.perform(credit, Credit { cents: 1 }).await;
    assert!(
        matches!(&offline, Performed::Retried { error, .. } if error.contains("no longer running")),
        "{offline:?}"
    );
}

#[tokio::test]
async fn perform_inserted_refuses_a_job_that_is_not_waiting_or_of_another_kind() {
    let db = TestDb::new().await;
    let ctx = TestContext::new(db.client.clone(), db.schema.clone());
    let other = db.client.insert(Step { act: Act::Succeed }).await.unwrap();
    let msg = panic_message(ctx.perform_inserted(credit, other)).await;
    assert!(
        msg.contains(&format!("job {other} cannot be performed as a `credit` job: it is of kind `step`")),
        "{msg}"
    );
    let msg = panic_message(ctx.perform_inserted(credit, other + 1000)).await;
    assert!(msg.contains("there is no such job"), "{msg}");
}
