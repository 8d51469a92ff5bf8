//! What an operator sees of the workers ([`Fleet`]): the maintenance leader, and which worker
//! runs how many jobs of which queue, read from the running jobs themselves.

use crate::db::Db;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Running jobs [`Client::fleet`](crate::Client::fleet) reads at most: the read costs the
/// same on a table of any size. Defaults to 10,000.
pub const FLEET_RUNNING_MAX: i64 = 10_000;

/// The workers at one moment: who leads maintenance, and who runs what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Fleet {
    /// The worker elected to run maintenance, while its lease is live.
    pub leader: Option<String>,
    /// Running jobs per worker and queue, by worker then queue.
    pub workers: Vec<WorkerLoad>,
    /// True when more than [`FLEET_RUNNING_MAX`] jobs run: the counts then cover only the
    /// first of them read.
    pub capped: bool,
}

/// One worker's running jobs of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkerLoad {
    /// The worker's id (as [`WorkerBuilder`](crate::WorkerBuilder) sets it); `None` for a row that names none.
    pub worker: Option<String>,
    /// The queue.
    pub queue: String,
    /// Its jobs of that queue running now.
    pub running: i64,
    /// When the longest-running of them started its attempt.
    pub oldest_started: Option<DateTime<Utc>>,
}

/// Reads the leader and up to [`FLEET_RUNNING_MAX`] + 1 running jobs.
pub(crate) async fn read(db: &Db) -> Result<Fleet> {
    let leader = db.leader_get().await?;
    let rows = db.job_running_by_worker(FLEET_RUNNING_MAX + 1).await?;
    let capped = rows.iter().map(|r| r.running).sum::<i64>() > FLEET_RUNNING_MAX;
    let workers = rows
        .into_iter()
        .map(|r| WorkerLoad {
            worker: r.worker,
            queue: r.queue,
            running: r.running,
            oldest_started: r.oldest,
        })
        .collect();
    Ok(Fleet { leader, workers, capped })
}
