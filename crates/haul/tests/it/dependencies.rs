//! Dependencies: a waiting job stays pending until every job it waits on completed, is
//! released exactly once when the last two finish together on different workers, and is
//! cancelled with the reason, down the graph, when one is discarded or cancelled; a cycle is
//! refused with nothing inserted.

use crate::common::{TestDb, fast_config, start};
use haul::{Error, Job, JobContext, JobError, JobState, NewJob, Worker, WorkerConfig, Workflow};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

#[derive(Serialize, Deserialize)]
struct Step {
    name: String,
    #[serde(default)]
    discard: bool,
    /// Waits at the shared barrier before finishing.
    #[serde(default)]
    together: bool,
}
impl Job for Step {
    const KIND: &'static str = "step";
}

fn step(name: &str) -> NewJob {
    NewJob::new(&Step { name: name.into(), discard: false, together: false })
}

#[derive(Clone)]
struct Log {
    pool: PgPool,
    schema: String,
    barrier: Arc<Barrier>,
}

/// Records the step's name with a sequence number, so the order of runs shows.
async fn run_step(ctx: JobContext<Log>, job: Step) -> Result<(), JobError> {
    if job.together {
        ctx.state().barrier.wait().await;
    }
    if job.discard {
        return Err(JobError::discard("this step fails for good"));
    }
    let sql = format!("INSERT INTO \"{}\".ran (name) VALUES ($1)", ctx.state().schema);
    sqlx::query(AssertSqlSafe(sql)).bind(&job.name).execute(&ctx.state().pool).await?;
    Ok(())
}

async fn log(db: &TestDb, parties: usize) -> Log {
    db.exec("CREATE TABLE {s}.ran (seq bigserial, name text NOT NULL)").await;
    Log { pool: db.pool.clone(), schema: db.schema.clone(), barrier: Arc::new(Barrier::new(parties)) }
}

fn worker(client: haul::Client, log: Log, concurrency: usize, config: WorkerConfig) -> Worker<Log> {
    let config = config.with_fetch_batch_max(concurrency);
    Worker::builder(client, log)
        .queue("default", concurrency)
        .config(config)
        .handler(run_step)
        .build()
        .unwrap()
}

async fn ran(db: &TestDb) -> Vec<String> {
    let sql = format!("SELECT name FROM \"{}\".ran ORDER BY seq", db.schema);
    sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&db.pool).await.unwrap()
}

async fn state(db: &TestDb, id: i64) -> JobState {
    db.client.get(id).await.unwrap().expect("stored").state
}

#[tokio::test]
async fn a_chain_runs_in_order_and_waits_pending_until_then() {
    let db = TestDb::new().await;
    let wf = db.client.insert_workflow(Workflow::chain([step("a"), step("b"), step("c")])).await.unwrap();
    let (a, b, c) = (wf.id("0").unwrap(), wf.id("1").unwrap(), wf.id("2").unwrap());
    assert_eq!(state(&db, b).await, JobState::Pending);
    assert_eq!(state(&db, c).await, JobState::Pending);
    let waits: Vec<i64> = db.client.waits_on(c).await.unwrap().iter().map(|w| w.id).collect();
    assert_eq!(waits, [b]);
    // no sweep: each release must come from the completing transaction
    let config = fast_config().with_scheduler_interval(Duration::from_secs(3600));
    let w = start(worker(db.client.clone(), log(&db, 1).await, 4, config));
    db.until_scalar("SELECT count(*) FROM {s}.ran", 3).await;
    w.stop().await;
    assert_eq!(ran(&db).await, ["a", "b", "c"]);
    assert!(db.client.get(a).await.unwrap().is_none(), "completed and deleted");
}

#[tokio::test]
async fn the_last_two_dependencies_finishing_together_release_the_job_once() {
    const ROUNDS: i64 = 20;
    let db = TestDb::new().await;
    let log = log(&db, 2).await;
    let config = || fast_config().with_scheduler_interval(Duration::from_secs(3600));
    let w1 = start(worker(db.other_client(3).await, log.clone(), 1, config()));
    let w2 = start(worker(db.other_client(3).await, log.clone(), 1, config()));
    let together = |name: &str| NewJob::new(&Step { name: name.into(), discard: false, together: true });
    for round in 1..=ROUNDS {
        let wf = Workflow::new().step("left", together("left")).step("right", together("right")).step_after(
            "join",
            step("join"),
            ["left", "right"],
        );
        db.client.insert_workflow(wf).await.unwrap();
        db.until_scalar("SELECT count(*) FROM {s}.ran WHERE name = 'join'", round).await;
    }
    w1.stop().await;
    w2.stop().await;
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.ran WHERE name = 'join'").await, ROUNDS, "one run each");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'pending'").await, 0);
}

#[tokio::test]
async fn a_discarded_dependency_cancels_what_waits_on_it_down_the_graph() {
    let db = TestDb::new().await;
    let fail = NewJob::new(&Step { name: "a".into(), discard: true, together: false });
    let wf = Workflow::new()
        .step("a", fail)
        .step("side", step("side"))
        .step_after("b", step("b"), ["a", "side"])
        .step_after("c", step("c"), ["b"]);
    let wf = db.client.insert_workflow(wf).await.unwrap();
    let config = fast_config().with_scheduler_interval(Duration::from_secs(3600));
    let w = start(worker(db.client.clone(), log(&db, 1).await, 4, config));
    let (a, b, c) = (wf.id("a").unwrap(), wf.id("b").unwrap(), wf.id("c").unwrap());
    db.until_scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE id = {c} AND state = 'cancelled'"), 1)
        .await;
    w.stop().await;
    let b_row = db.client.get(b).await.unwrap().unwrap();
    assert_eq!(b_row.state, JobState::Cancelled);
    assert!(
        b_row.errors[0].error.contains(&format!("job {a}, which it waits on, was discarded")),
        "{:?}",
        b_row.errors
    );
    let c_row = db.client.get(c).await.unwrap().unwrap();
    assert!(c_row.errors[0].error.contains(&format!("job {b}, which it waits on, was cancelled")));
    assert_eq!(ran(&db).await, ["side"], "nothing that waited on the failure ran");
}

#[tokio::test]
async fn an_operator_cancel_of_a_dependency_reaches_its_dependents_through_the_sweep() {
    let db = TestDb::new().await;
    let wf = db.client.insert_workflow(Workflow::chain([step("a"), step("b"), step("c")])).await.unwrap();
    db.client.cancel(wf.id("0").unwrap()).await.unwrap();
    let w = start(worker(db.client.clone(), log(&db, 1).await, 2, fast_config()));
    db.until_scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'cancelled'", 3).await;
    w.stop().await;
    assert!(ran(&db).await.is_empty());
}

#[tokio::test]
async fn a_cycle_or_an_unknown_step_is_refused_with_nothing_inserted() {
    let db = TestDb::new().await;
    let cycle = Workflow::new()
        .step("start", step("start"))
        .step_after("a", step("a"), ["start", "b"])
        .step_after("b", step("b"), ["a"]);
    let err = db.client.insert_workflow(cycle).await.unwrap_err();
    assert!(matches!(&err, Error::WorkflowCycle { steps } if steps == &["a", "b", "a"]), "{err}");
    let unknown = Workflow::new().step_after("a", step("a"), ["nope"]);
    assert!(matches!(db.client.insert_workflow(unknown).await, Err(Error::InvalidOption { .. })));
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.dependencies").await, 0);
}
