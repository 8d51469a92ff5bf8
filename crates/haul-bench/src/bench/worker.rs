//! Running a Haul worker for a measurement: start one on its own pool with the no-op handler
//! and the chosen settings, wait for jobs or for the table to drain, and stop it.

use super::observe::{self, Observe};
use super::pg::Db;
use super::probe::{Probe, noop};
use super::tuning::Tuning;
use anyhow::{Context, Result, bail};
use haul::{Client, HealthHandle, ShutdownReport, StatsSnapshot, Worker, WorkerStats};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long waiting may see no progress before a measurement fails.
pub const STALL: Duration = Duration::from_secs(60);

/// A worker running in a task of this process.
pub struct RunningWorker {
    stop: CancellationToken,
    task: JoinHandle<haul::Result<ShutdownReport>>,
    stats: Arc<WorkerStats>,
    health: HealthHandle,
    client: Client,
}

impl RunningWorker {
    /// Builds a worker on `client` (its pool is the worker's) that runs queue `default` with
    /// the no-op handler writing into `probe` (with observability when `tuning.observe` is
    /// on), and starts it.
    pub fn start(client: Client, probe: Arc<Probe>, tuning: &Tuning) -> Result<RunningWorker> {
        Self::start_queues(client, probe, tuning, &["default".to_owned()])
    }

    /// [`RunningWorker::start`] on each of `queues`, sharing `tuning.queue_concurrency` among
    /// them (at least 10 each when there are several).
    pub fn start_queues(
        client: Client,
        probe: Arc<Probe>,
        tuning: &Tuning,
        queues: &[String],
    ) -> Result<RunningWorker> {
        let mut builder = Worker::builder(client.clone(), probe);
        if tuning.observe == Observe::On {
            builder = observe::install(builder);
        }
        let each = match queues.len() {
            0 | 1 => tuning.queue_concurrency,
            n => (tuning.queue_concurrency / n).max(10),
        };
        for q in queues {
            builder = builder.queue(q.clone(), each);
        }
        let worker = builder
            .handler(noop)
            .config(tuning.worker_config())
            .build()
            .context("building the bench worker")?;
        let (stats, health) = (worker.stats(), worker.health());
        let stop = CancellationToken::new();
        let task = tokio::spawn(worker.run(stop.clone()));
        Ok(RunningWorker { stop, task, stats, health, client })
    }

    /// Starts a worker with a pool of its own on the bench database.
    pub async fn start_on(db: &Db, probe: Arc<Probe>, tuning: &Tuning) -> Result<RunningWorker> {
        Self::start(db.worker_client(tuning.pool_max).await?, probe, tuning)
    }

    /// The worker's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Fails if the worker stopped by itself (it only stops when told to).
    pub fn check_alive(&self) -> Result<()> {
        if self.task.is_finished() {
            bail!("the worker stopped on its own (see the log above)");
        }
        Ok(())
    }

    /// Waits until the worker is ready (claiming, and heard from the database) with its LISTEN
    /// connection up, checking every 5 ms; fails after [`STALL`].
    pub async fn wait_listening(&self) -> Result<()> {
        let deadline = Instant::now() + STALL;
        loop {
            let h = self.health.check();
            if h.is_ready() && h.listener.is_some_and(|l| l.up) {
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                bail!("the worker was not ready and listening after {STALL:?}: {:?}", h.problems);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Shuts the worker down gracefully, closes its pool, and returns what the shutdown did
    /// with the worker's final counters.
    pub async fn stop(self) -> Result<(ShutdownReport, StatsSnapshot)> {
        self.stop.cancel();
        let report = self.task.await.context("the worker task panicked")??;
        self.client.pool().close().await;
        Ok((report, self.stats.snapshot()))
    }

    /// Waits until the probe has seen `target` handler calls, failing when the worker dies or
    /// nothing happens for [`STALL`]; polls every 5 ms like the peers.
    pub async fn wait_handled(&self, probe: &Probe, target: u64, what: &str) -> Result<()> {
        let (mut last, mut since) = (probe.handled(), Instant::now());
        while probe.handled() < target {
            self.check_alive()?;
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = probe.handled();
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() > STALL {
                bail!("{what}: stalled at {now} of {target} jobs for {STALL:?}");
            }
        }
        Ok(())
    }
}

/// Polls the jobs table every 20 ms (like the peers) until it is empty; fails after `timeout`.
/// Returns the rows left (0).
pub async fn wait_empty(db: &Db, timeout: Duration, what: &str) -> Result<i64> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = db.count_jobs().await?;
        if left == 0 {
            return Ok(0);
        }
        if Instant::now() > deadline {
            bail!("{what}: {left} jobs still in the table after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
