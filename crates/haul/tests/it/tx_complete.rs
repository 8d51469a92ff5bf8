//! Transactional completion: a handler's own writes and its job's completion commit together,
//! and a stale attempt cannot commit them.

use crate::common::{TestDb, fast_config, start};
use haul::{Error, EventOutcome, Job, JobContext, JobError, Worker};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;

#[derive(Serialize, Deserialize)]
struct Credit {
    cents: i64,
    /// Simulates this attempt being rescued and re-claimed just before it completes.
    rescued_meanwhile: bool,
}

impl Job for Credit {
    const KIND: &'static str = "credit";
}

#[derive(Clone)]
struct Ledger {
    schema: String,
}

async fn credit(ctx: JobContext<Ledger>, job: Credit) -> Result<(), JobError> {
    let s = &ctx.state().schema;
    let mut tx = ctx.pool().begin().await?;
    let insert = format!("INSERT INTO \"{s}\".ledger (job_id, cents) VALUES ($1, $2)");
    sqlx::query(AssertSqlSafe(insert)).bind(ctx.id()).bind(job.cents).execute(&mut *tx).await?;
    if job.rescued_meanwhile {
        let steal = format!("UPDATE \"{s}\".jobs SET attempt = attempt + 1 WHERE id = $1");
        sqlx::query(AssertSqlSafe(steal)).bind(ctx.id()).execute(ctx.pool()).await?;
    }
    match ctx.complete_in(&mut *tx).await {
        Ok(()) => tx.commit().await?,
        Err(e @ Error::NotRunning { .. }) => {
            tx.rollback().await?;
            return Err(JobError::retry(e));
        }
        Err(e) => return Err(JobError::retry(e)),
    }
    Ok(())
}

async fn setup() -> (TestDb, crate::common::Running) {
    let db = TestDb::new().await;
    db.exec("CREATE TABLE {s}.ledger (job_id bigint NOT NULL, cents bigint NOT NULL)").await;
    let ledger = Ledger { schema: db.schema.clone() };
    let worker =
        Worker::builder(db.client.clone(), ledger).handler(credit).config(fast_config()).build().unwrap();
    let w = start(worker);
    (db, w)
}

#[tokio::test]
async fn effects_and_completion_commit_together() {
    let (db, mut w) = setup().await;
    let id = db.client.insert(Credit { cents: 500, rescued_meanwhile: false }).await.unwrap();
    let e = w.next_where(|e| e.id == id).await;
    assert_eq!(e.outcome, EventOutcome::Completed);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.ledger").await, 1);
    assert!(db.client.get(id).await.unwrap().is_none(), "completed (deleted) in the handler's transaction");
    let stats = w.stop().await;
    assert_eq!(stats.released, 0);
}

#[tokio::test]
async fn a_rescued_attempt_cannot_commit_its_effects() {
    let (db, w) = setup().await;
    let id = db.client.insert(Credit { cents: 500, rescued_meanwhile: true }).await.unwrap();
    // the handler's complete_in is refused, it rolls back, and its error outcome is fenced too
    db.until_scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE id = {id} AND attempt = 2"), 1).await;
    w.stop().await;
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.ledger").await, 0, "no effect from the stale attempt");
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.attempt, row.errors.len()), (2, 0), "the stale attempt wrote nothing");
}
