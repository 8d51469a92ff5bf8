//! Many workers over one queue: each job runs exactly once when nothing crashes.

use crate::common::{TestDb, fast_config, start};
use haul::{EventOutcome, Job, JobContext, JobError, Worker};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::Notify;

#[derive(Serialize, Deserialize)]
struct Record {
    n: i64,
}

impl Job for Record {
    const KIND: &'static str = "record";
}

#[derive(Clone)]
struct Ledger {
    pool: PgPool,
    table: String,
}

/// Records each execution in a table, so duplicates would show.
async fn record(ctx: JobContext<Ledger>, job: Record) -> Result<(), JobError> {
    let sql = format!("INSERT INTO {} (n, job_id) VALUES ($1, $2)", ctx.state().table);
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(job.n).bind(ctx.id()).execute(&ctx.state().pool).await?;
    Ok(())
}

#[tokio::test]
async fn n_workers_over_m_jobs_run_each_job_exactly_once() {
    const WORKERS: usize = 4;
    const JOBS: i64 = 5_000;
    let db = TestDb::new().await;
    db.exec("CREATE TABLE {s}.ledger (n bigint NOT NULL, job_id bigint NOT NULL)").await;
    let ledger = Ledger { pool: db.pool.clone(), table: format!("\"{}\".ledger", db.schema) };
    db.client.insert_many((0..JOBS).map(|n| Record { n })).await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let client = db.other_client(3).await;
        let config = fast_config().with_fetch_batch_max(50);
        let worker =
            Worker::builder(client, ledger.clone()).queue("default", 20).handler(record).config(config);
        workers.push(start(worker.build().unwrap()));
    }
    // count completions across all workers, woken by their events
    let total = Arc::new(AtomicI64::new(0));
    let changed = Arc::new(Notify::new());
    for w in &mut workers {
        let mut rx = w.events.resubscribe();
        std::mem::swap(&mut rx, &mut w.events);
        let (total, changed) = (total.clone(), changed.clone());
        tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                if e.outcome == EventOutcome::Completed {
                    total.fetch_add(1, Ordering::SeqCst);
                    changed.notify_one();
                }
            }
        });
    }
    tokio::time::timeout(crate::common::WAIT, async {
        while total.load(Ordering::SeqCst) < JOBS {
            changed.notified().await;
        }
    })
    .await
    .expect("all jobs complete");
    for w in workers {
        w.stop().await;
    }
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.ledger").await, JOBS);
    assert_eq!(db.scalar("SELECT count(DISTINCT n) FROM {s}.ledger").await, JOBS, "no job ran twice");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0, "every job completed");
}
