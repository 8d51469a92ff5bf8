//! Fan-out batches: one callback with the children's final counts, exactly once even when
//! the last children finish together on different workers; the cap refuses a batch whole;
//! a batch whose last child ended outside a completer is finished by the leader's sweep.

use crate::common::{TestDb, fast_config, start};
use haul::{Batch, ClientConfig, Error, Job, JobContext, JobError, NewJob, Worker, WorkerConfig};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

#[derive(Serialize, Deserialize)]
struct Album {
    outcomes: Vec<String>,
}
impl Job for Album {
    const KIND: &'static str = "album";
}

#[derive(Serialize, Deserialize)]
struct Child {
    outcome: String,
}
impl Job for Child {
    const KIND: &'static str = "child";
}

#[derive(Serialize, Deserialize)]
struct Done {}
impl Job for Done {
    const KIND: &'static str = "done";
}

#[derive(Clone)]
struct Book {
    pool: PgPool,
    schema: String,
    /// When set, every child waits here, so the last children finish together.
    together: Option<Arc<Barrier>>,
}

fn child(outcome: &str) -> NewJob {
    NewJob::new(&Child { outcome: outcome.into() })
}

/// Fans out one child per outcome, in its own transaction with its completion.
async fn album(ctx: JobContext<Book>, job: Album) -> Result<(), JobError> {
    let batch = Batch::new(job.outcomes.iter().map(|o| child(o))).with_callback(Done {});
    let mut tx = ctx.pool().begin().await?;
    ctx.fan_out(&mut *tx, batch).await?;
    ctx.complete_in(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn run_child(ctx: JobContext<Book>, job: Child) -> Result<(), JobError> {
    if let Some(b) = &ctx.state().together {
        b.wait().await;
    }
    match job.outcome.as_str() {
        "discard" => Err(JobError::discard("told to")),
        "cancel" => Err(JobError::cancel("told to")),
        _ => Ok(()),
    }
}

/// Records the batch result the callback received.
async fn done(ctx: JobContext<Book>, _: Done) -> Result<(), JobError> {
    let r = ctx.batch_result().ok_or_else(|| JobError::discard("a callback without a result"))?;
    let sql = format!("INSERT INTO \"{}\".called VALUES ($1, $2, $3, $4)", ctx.state().schema);
    let q = sqlx::query(AssertSqlSafe(sql)).bind(r.batch).bind(r.completed).bind(r.discarded);
    q.bind(r.cancelled).execute(&ctx.state().pool).await?;
    Ok(())
}

async fn book(db: &TestDb, together: Option<Arc<Barrier>>) -> Book {
    db.exec("CREATE TABLE {s}.called (batch bigint, completed bigint, discarded bigint, cancelled bigint)")
        .await;
    Book { pool: db.pool.clone(), schema: db.schema.clone(), together }
}

fn worker(client: haul::Client, book: Book, concurrency: usize) -> Worker<Book> {
    worker_with(client, book, concurrency, fast_config())
}

fn worker_with(client: haul::Client, book: Book, concurrency: usize, config: WorkerConfig) -> Worker<Book> {
    let config = config.with_fetch_batch_max(concurrency);
    let b = Worker::builder(client, book).queue("default", concurrency).config(config);
    b.handler(album).handler(run_child).handler(done).build().unwrap()
}

#[tokio::test]
async fn a_fan_out_from_a_handler_calls_back_once_with_the_counts() {
    let db = TestDb::new().await;
    let w = start(worker(db.client.clone(), book(&db, None).await, 4));
    let outcomes = ["ok", "ok", "ok", "discard", "discard", "cancel"].map(String::from).to_vec();
    let parent = db.client.insert(Album { outcomes }).await.unwrap();
    db.until_scalar("SELECT count(*) FROM {s}.called", 1).await;
    let (batch, completed, discarded, cancelled): (i64, i64, i64, i64) =
        sqlx::query_as(AssertSqlSafe(format!("SELECT * FROM \"{}\".called", db.schema)))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((completed, discarded, cancelled), (3, 2, 1));
    let info = db.client.batch(batch).await.unwrap().unwrap();
    assert_eq!((info.parent_id, info.total, info.waiting()), (Some(parent), 6, 0));
    assert_eq!((info.states.discarded, info.states.cancelled), (2, 1), "the dead children stay listed");
    let result = info.result.unwrap();
    assert_eq!((result.completed, result.discarded, result.cancelled), (3, 2, 1));
    assert!(info.callback_id.is_some() && info.finished_at.is_some());
    w.stop().await;
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.called").await, 1, "one callback");
}

#[tokio::test]
async fn last_children_finishing_together_on_several_workers_make_one_callback() {
    const WORKERS: usize = 4;
    const ROUNDS: i64 = 25;
    let db = TestDb::new().await;
    let book = book(&db, Some(Arc::new(Barrier::new(WORKERS)))).await;
    // no sweep (it runs every scheduler interval): every callback must come from a completer
    let config = || fast_config().with_scheduler_interval(Duration::from_secs(3600));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        workers.push(start(worker_with(db.other_client(3).await, book.clone(), 1, config())));
    }
    for round in 1..=ROUNDS {
        // one child per worker (each runs one job at a time): all wait at the barrier, then
        // the four completers finish the batch's last children at the same moment
        let batch = Batch::new((0..WORKERS).map(|_| child("ok"))).with_callback(Done {});
        db.client.insert_batch(batch).await.unwrap();
        db.until_scalar("SELECT count(*) FROM {s}.called", round).await;
    }
    for w in workers {
        w.stop().await;
    }
    let per_batch =
        "SELECT count(*) FROM (SELECT batch FROM {s}.called GROUP BY batch HAVING count(*) = 1) b";
    assert_eq!(db.scalar(per_batch).await, ROUNDS, "every batch called back exactly once");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.called WHERE completed <> 4").await, 0);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.batches WHERE finished_at IS NULL").await, 0);
}

#[tokio::test]
async fn a_fan_out_over_the_cap_is_refused_with_nothing_inserted() {
    let db = TestDb::new().await;
    let config = ClientConfig::default().with_schema(&db.schema).with_fan_out_max(5);
    let client = haul::Client::with_config(db.pool.clone(), config).unwrap();
    let err = client.insert_batch(Batch::new((0..6).map(|_| child("ok")))).await.unwrap_err();
    assert!(matches!(err, Error::FanOutTooLarge { children: 6, max: 5 }), "{err}");
    let bad = Batch::new([child("ok"), NewJob::raw("child", serde_json::json!({})).with_priority(99)]);
    assert!(matches!(client.insert_batch(bad).await, Err(Error::InvalidOption { .. })));
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.batches").await, 0);
    let ok = client.insert_batch(Batch::new((0..5).map(|_| child("ok")))).await.unwrap();
    assert_eq!(ok.children.len(), 5);
}

#[tokio::test]
async fn a_batch_whose_last_child_an_operator_cancels_is_finished_by_the_sweep() {
    let db = TestDb::new().await;
    let book = book(&db, None).await;
    let inserted = db.client.insert_batch(Batch::new([child("ok")]).with_callback(Done {})).await.unwrap();
    db.client.cancel(inserted.children[0]).await.unwrap();
    let w = start(worker(db.client.clone(), book, 2));
    db.until_scalar("SELECT count(*) FROM {s}.called WHERE cancelled = 1 AND completed = 0", 1).await;
    w.stop().await;
    let info = db.client.batch(inserted.id).await.unwrap().unwrap();
    assert_eq!(info.result.map(|r| r.cancelled), Some(1));
}
