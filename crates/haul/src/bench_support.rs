//! Entry points for the client-side micro-benchmarks (`benches/hot_path.rs`): the per-job work
//! a worker does between the fetch and the completion statement, without a database.
//! Not part of the public API.

use crate::attempts::Running;
use crate::client::Client;
use crate::complete::plan::{plan, to_batch};
use crate::db::{ClaimedJob, JsonText};
use crate::execute::{Attempt, Executor, JobContext, JobError};
use crate::job::Job;
use crate::worker::Worker;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A job like the benchmarks' no-op job.
#[derive(Serialize, Deserialize)]
pub struct Noop {
    /// Its payload.
    pub n: u64,
}

impl Job for Noop {
    const KIND: &'static str = "noop";
}

async fn noop(_ctx: JobContext<()>, _job: Noop) -> Result<(), JobError> {
    Ok(())
}

/// A worker's shared state with a no-op handler, on a pool that never connects.
pub struct HotPath {
    executor: Arc<Executor<()>>,
    running: Arc<Running>,
    queue: Arc<str>,
}

/// Claimed rows, as the fetch statement would return them.
pub struct Claimed(Vec<ClaimedJob>);

/// Finished attempts, as the completer receives them.
pub struct Finished(Vec<Attempt>);

impl HotPath {
    /// Builds the worker state (needs a Tokio runtime for the lazy pool).
    pub fn new() -> Self {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://bench@127.0.0.1:1/none")
            .expect("a lazy pool never connects");
        let client = Client::new(pool).expect("client");
        let worker = Worker::builder(client, ()).handler(noop).build().expect("worker");
        HotPath {
            executor: worker.producer.executor.clone(),
            running: worker.running.clone(),
            queue: "default".into(),
        }
    }

    /// `n` claimed rows of the no-op kind.
    pub fn claimed(n: usize) -> Claimed {
        Claimed((0..n).map(claimed_row).collect())
    }

    /// Runs every claimed job through the executor: registry lookup, args decode, the handler
    /// under its timeout and panic guard (what each job task does, minus the spawn).
    pub async fn execute_all(&self, jobs: Claimed) -> Finished {
        let mut done = Vec::with_capacity(jobs.0.len());
        for job in jobs.0 {
            let kill = self.running.insert(job.id, job.attempt);
            let attempt = self.executor.execute(job, self.queue.clone(), kill, None).await;
            self.running.finish(attempt.info.id);
            done.push(attempt);
        }
        Finished(done)
    }

    /// Turns finished attempts into the columns of one completion statement; returns its size.
    pub fn completion_batch(&self, finished: &Finished) -> usize {
        let plans: Vec<_> = finished.0.iter().map(plan).collect();
        to_batch(&finished.0, &plans).len()
    }
}

impl Default for HotPath {
    fn default() -> Self {
        Self::new()
    }
}

fn claimed_row(i: usize) -> ClaimedJob {
    ClaimedJob {
        id: i as i64 + 1,
        slot: 1,
        kind: "noop".to_owned(),
        args: JsonText(format!("{{\"n\": {i}}}")),
        attempt: 1,
        max_attempts: 20,
        priority: 0,
        timeout_ms: None,
        metadata: JsonText("{}".to_owned()),
        created_at: chrono::Utc::now(),
        run_at: chrono::Utc::now(),
        claimed_at: chrono::Utc::now(),
    }
}
