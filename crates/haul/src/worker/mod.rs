//! The worker runtime: wires the stages (notify → fetch → execute → complete, heartbeat,
//! maintenance) for a set of queues and handlers, runs them until a `CancellationToken`
//! fires, then shuts down in order (stop fetching → soft wait → cancel → hard wait → release).

mod builder;
mod shutdown;

pub use builder::WorkerBuilder;
pub use shutdown::ShutdownReport;

use crate::client::Client;
use crate::complete::{JobEvent, run_completer};
use crate::config::WorkerConfig;
use crate::db::Db;
use crate::error::Result;
use crate::execute::{Attempt, Registry, Running, heartbeat::run_heartbeat};
use crate::fetch::{QueueHandle, run_producer};
use crate::maintenance::run_maintainer;
use crate::notify::run_listener;
use crate::stats::WorkerStats;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Capacity of the event channel; slow subscribers miss events past it.
const EVENTS_CAPACITY: usize = 16 * 1024;

/// What every service of one worker shares, whatever its state type.
pub(crate) struct Core {
    pub db: Db,
    /// The same pool with a deadline under the lease, for heartbeats.
    pub beat_db: Db,
    pub config: WorkerConfig,
    pub worker_id: Arc<str>,
    pub running: Running,
    pub stats: Arc<WorkerStats>,
    pub events: broadcast::Sender<JobEvent>,
    pub queues: HashMap<Arc<str>, Arc<QueueHandle>>,
    /// Fires when shutdown gives up on writing outstanding outcomes.
    pub abandon: CancellationToken,
}

impl Core {
    /// Wakes the producer of `queue`, if this worker runs it.
    pub(crate) fn wake(&self, queue: &str) {
        if let Some(q) = self.queues.get(queue) {
            q.wake();
        }
    }

    /// Wakes every producer (after a reconnect, to catch up).
    pub(crate) fn wake_all(&self) {
        self.queues.values().for_each(|q| q.wake());
    }
}

/// What job tasks need: the core plus the typed state, the handlers and the completer.
pub(crate) struct Shared<S> {
    pub core: Arc<Core>,
    pub state: S,
    pub client: Client,
    pub registry: Registry<S>,
    pub completer: mpsc::Sender<Attempt>,
}

/// Runs jobs from its queues with its registered handlers. Build one with [`Worker::builder`].
///
/// ```no_run
/// # async fn demo(client: haul::Client) -> haul::Result<()> {
/// use haul::{JobContext, JobError, Worker};
/// use serde::{Deserialize, Serialize};
/// use tokio_util::sync::CancellationToken;
///
/// #[derive(Serialize, Deserialize)]
/// struct SendEmail { to: String }
/// impl haul::Job for SendEmail { const KIND: &'static str = "send_email"; }
///
/// async fn send_email(_ctx: JobContext<()>, job: SendEmail) -> Result<(), JobError> {
///     println!("sending to {}", job.to);
///     Ok(())
/// }
///
/// let worker = Worker::builder(client, ())
///     .queue("default", 20)
///     .handler(send_email)
///     .build()?;
/// let shutdown = CancellationToken::new();
/// // wire your own signal handling: the library installs none
/// let report = worker.run(shutdown).await?;
/// println!("released {} unfinished jobs", report.released);
/// # Ok(()) }
/// ```
pub struct Worker<S> {
    pub(crate) shared: Arc<Shared<S>>,
    completions: mpsc::Receiver<Attempt>,
}

impl<S: Clone + Send + Sync + 'static> Worker<S> {
    /// Starts building a worker whose handlers receive `state`.
    pub fn builder(client: Client, state: S) -> WorkerBuilder<S> {
        WorkerBuilder::new(client, state)
    }

    /// This worker's id, as stored in `attempted_by`.
    pub fn id(&self) -> &str {
        &self.shared.core.worker_id
    }

    /// The worker's live counters and run-time percentiles.
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.shared.core.stats.clone()
    }

    /// Events for every outcome, published after its state change commits.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.shared.core.events.subscribe()
    }

    /// Runs until `shutdown` fires, then shuts down gracefully and reports.
    ///
    /// Fails at once with [`Error::NotMigrated`](crate::Error::NotMigrated) if the schema
    /// is not current.
    pub async fn run(self, shutdown: CancellationToken) -> Result<ShutdownReport> {
        self.run_until(shutdown, CancellationToken::new()).await
    }

    /// Like [`Worker::run`], with a second token that forces the hard path at any point of
    /// the shutdown: handlers are cancelled, then dropped at once and their jobs released.
    /// Binaries fire `shutdown` on the first SIGINT/SIGTERM and `force` on the second.
    pub async fn run_until(
        self,
        shutdown: CancellationToken,
        force: CancellationToken,
    ) -> Result<ShutdownReport> {
        crate::migrate::ensure_current(&self.shared.core.db).await?;
        let Worker { shared, completions } = self;
        let core = shared.core.clone();
        let services = CancellationToken::new();
        let completer = tokio::spawn(run_completer(core.clone(), completions));
        let background = spawn_services(&core, &services);
        let fetching = CancellationToken::new();
        let producers = spawn_producers(&shared, &fetching);
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = force.cancelled() => {}
        }
        let running = core.running.len();
        tracing::info!(worker = %core.worker_id, running, "shutting down");
        let stages = shutdown::Stages { producers, fetching, completer, force };
        let report = shutdown::drain(&core, shared, stages, running).await;
        services.cancel();
        for task in background {
            let _ = task.await;
        }
        // closing waits for every connection; one lost in a half-open socket must not hold us
        let _ = tokio::time::timeout(core.config.shutdown_hard_timeout, core.db.pool().close()).await;
        Ok(report)
    }
}

fn spawn_services(core: &Arc<Core>, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(run_heartbeat(core.clone(), stop.clone()))];
    if !core.config.poll_only {
        tasks.push(tokio::spawn(run_listener(core.clone(), stop.clone())));
    }
    if core.config.maintenance {
        tasks.push(tokio::spawn(run_maintainer(core.clone(), stop.clone())));
    }
    tasks
}

fn spawn_producers<S: Clone + Send + Sync + 'static>(
    shared: &Arc<Shared<S>>,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let per_queue = shared.core.config.fetch_concurrency.max(1);
    let queues = shared.core.queues.values().flat_map(|q| std::iter::repeat_n(q, per_queue));
    queues.map(|q| tokio::spawn(run_producer(shared.clone(), q.clone(), stop.clone()))).collect()
}
