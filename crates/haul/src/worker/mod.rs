//! The worker runtime: wires the stages (notify → fetch → execute → complete, heartbeat,
//! pause watch, maintenance) for a set of queues and handlers, runs them until a
//! `CancellationToken` fires, then shuts down in order (stop fetching → soft wait → cancel →
//! hard wait → release), recording each step in the state its health handle reports.

mod builder;
#[cfg(feature = "testing")]
mod inline;
mod periodic;
mod rollups;
mod shutdown;
mod wiring;

pub use builder::WorkerBuilder;
pub use shutdown::ShutdownReport;

use crate::attempts::{KillReason, Running, lease_ms};
use crate::client::Client;
use crate::complete::{Completer, JobEvent};
use crate::config::WorkerConfig;
use crate::db::Db;
use crate::error::Result;
use crate::execute::{Attempt, Heartbeat};
use crate::fetch::{Claimer, PauseWatch, Producer, QueueHandle};
use crate::health::{HealthHandle, Limits, Marks, WorkerState};
use crate::maintenance::Maintenance;
use crate::notify::Notifier;
use crate::stats::WorkerStats;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Capacity of the event channel; slow subscribers miss events past it.
const EVENTS_CAPACITY: usize = 16 * 1024;

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
    id: Arc<str>,
    /// The worker's own pool: readiness check, release at shutdown.
    db: Db,
    config: WorkerConfig,
    pub(crate) running: Arc<Running>,
    stats: Arc<WorkerStats>,
    health: Arc<Marks>,
    events: broadcast::Sender<JobEvent>,
    notifier: Notifier,
    cancels: mpsc::UnboundedReceiver<i64>,
    pauses: PauseWatch,
    queues: Vec<Arc<QueueHandle>>,
    pub(crate) producer: Arc<Producer<S>>,
    completer: Arc<Completer>,
    completions: mpsc::Receiver<Attempt>,
    heartbeat: Heartbeat,
    rollups: rollups::RollupWriter,
    maintenance: Option<Maintenance>,
}

impl<S: Clone + Send + Sync + 'static> Worker<S> {
    /// Starts building a worker whose handlers receive `state`.
    pub fn builder(client: Client, state: S) -> WorkerBuilder<S> {
        WorkerBuilder::new(client, state)
    }

    /// This worker's id, as stored in `attempted_by`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The worker's live counters and run-time percentiles.
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.stats.clone()
    }

    /// A handle on this worker's health for a liveness or readiness endpoint: take it before
    /// [`Worker::run`] takes the worker; it keeps answering while the worker runs and after it
    /// stopped. The limits come from [`WorkerConfig::health_stall_after`] and
    /// [`WorkerConfig::health_silence_after`]; the rules are on [`Health`](crate::Health).
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let worker = haul::Worker::builder(client, ()).build()?;
    /// let health = worker.health();
    /// assert_eq!(health.check().state, haul::WorkerState::Built);
    /// tokio::spawn(worker.run(haul::CancellationToken::new()));
    /// # Ok(()) }
    /// ```
    pub fn health(&self) -> HealthHandle {
        let limits = Limits {
            stall_after: self.config.health_stall_after(),
            silence_after: self.config.health_silence_after(),
        };
        HealthHandle::new(self.id.clone(), self.health.clone(), limits)
    }

    /// Events for every outcome, published after its state change commits.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Which of this worker's queues are paused, as the worker last heard (a notification,
    /// or its read on each poll tick): empty until [`Worker::run`] has read it, before the
    /// first claim. Wait on it with `changed` or `wait_for`.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let worker = haul::Worker::builder(client.clone(), ()).queue("mail", 5).build()?;
    /// let mut paused = worker.paused_queues();
    /// tokio::spawn(worker.run(haul::CancellationToken::new()));
    /// client.pause_queue("mail").await?;
    /// paused.wait_for(|queues| queues.contains("mail")).await.unwrap();
    /// # Ok(()) }
    /// ```
    pub fn paused_queues(&self) -> watch::Receiver<BTreeSet<String>> {
        self.pauses.subscribe()
    }

    /// Runs until `shutdown` fires, then shuts down gracefully and reports.
    ///
    /// Fails at once with [`Error::NotMigrated`](crate::Error::NotMigrated) if the schema
    /// is not current, or with the database's error if the rows of its queues cannot be
    /// created (the worker must know which are paused before it claims).
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
        let health = self.health.clone();
        let _stopped = health.stop_on_drop();
        health.set_state(WorkerState::Starting);
        crate::migrate::ensure_current(&self.db).await?;
        warn_unless_session_set(&self.db, self.config.statement_timeout).await;
        self.pauses.prepare().await?;
        warm(&self).await;
        let w = self;
        let services = CancellationToken::new();
        let completer = tokio::spawn(w.completer.clone().run(w.completions));
        let rollups_stop = CancellationToken::new();
        let rollups = tokio::spawn(w.rollups.run(rollups_stop.clone()));
        let mut background = vec![tokio::spawn(w.pauses.run(services.clone()))];
        background.extend(spawn_services(
            w.heartbeat,
            w.notifier,
            w.cancels,
            w.maintenance,
            &w.running,
            &w.config,
            &services,
        ));
        let fetching = CancellationToken::new();
        health.start_loops();
        health.set_state(WorkerState::Running);
        let producers = spawn_producers(&w.producer, &w.queues, w.config.fetch_concurrency, &fetching);
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = force.cancelled() => {}
        }
        health.set_state(WorkerState::Draining);
        let running = w.running.len();
        tracing::info!(worker = %w.id, running, "shutting down");
        let drain = shutdown::Drain {
            running: w.running.clone(),
            db: w.db.clone(),
            soft: w.config.shutdown_soft_timeout,
            hard: w.config.shutdown_hard_timeout,
            abandon: w.completer.abandon.clone(),
        };
        let stages = shutdown::Stages { producers, fetching, completer, force };
        let report = drain.run(w.producer, stages, running).await;
        // the completer has drained: the last rollups it fed are written now
        rollups_stop.cancel();
        let _ = rollups.await;
        services.cancel();
        for task in background {
            let _ = task.await;
        }
        // closing waits for every connection; one lost in a half-open socket must not hold us
        let _ = tokio::time::timeout(w.config.shutdown_hard_timeout, w.db.pool().close()).await;
        Ok(report)
    }
}

/// Opens the connections the first jobs will use (a producer per queue and the completers)
/// before claiming; failing that, the worker goes on and opens them as jobs arrive.
async fn warm<S>(w: &Worker<S>) {
    let Some(queue) = w.queues.first() else { return };
    let max = w.db.pool().options().get_max_connections() as usize;
    let n = (w.config.fetch_concurrency + w.config.complete_concurrency).min(max);
    let warming = w.db.warm(&queue.name, !w.config.completed_retention.is_zero(), n);
    match tokio::time::timeout(w.config.statement_timeout, warming).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not warm the worker's connections"),
        Err(_) => tracing::debug!("warming the worker's connections timed out"),
    }
}

/// Logs the worker session settings that did not reach the server: a pooler such as PgBouncer
/// in transaction mode drops startup options, and they must then be set on the server's side.
async fn warn_unless_session_set(db: &Db, statement_timeout: std::time::Duration) {
    match db.session_missing(Some(statement_timeout)).await {
        Ok(missing) if !missing.is_empty() => tracing::warn!(
            missing = %missing.join(", "),
            "the worker's session settings did not reach the server (a pooler drops startup \
             options): set them on the server's side, e.g. PgBouncer's connect_query; `haul \
             doctor` checks them"
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "could not read the worker's session settings"),
    }
}

/// Starts the heartbeat, the cancel forwarding, the notifier (unless polling only) and the
/// maintenance services (if this worker takes part), all stopped by `stop`.
fn spawn_services(
    heartbeat: Heartbeat,
    notifier: Notifier,
    cancels: mpsc::UnboundedReceiver<i64>,
    maintenance: Option<Maintenance>,
    running: &Arc<Running>,
    config: &WorkerConfig,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(heartbeat.run(stop.clone())),
        tokio::spawn(forward_cancels(cancels, running.clone(), stop.clone())),
    ];
    if !config.poll_only {
        tasks.push(tokio::spawn(notifier.run(stop.clone())));
    }
    if let Some(m) = maintenance {
        tasks.extend(m.spawn(stop));
    }
    tasks
}

/// Stops the attempts whose cancellation the notifier heard requested, until `stop` fires.
async fn forward_cancels(
    mut cancels: mpsc::UnboundedReceiver<i64>,
    running: Arc<Running>,
    stop: CancellationToken,
) {
    loop {
        let id = tokio::select! {
            () = stop.cancelled() => return,
            id = cancels.recv() => match id { Some(id) => id, None => return },
        };
        if running.kill(id, KillReason::Cancelled) {
            tracing::info!(job_id = id, "cancellation requested; stopping its handler");
        }
    }
}

/// Starts `per_queue` producers for each queue and, for a worker with several queues,
/// `per_queue` claimers of their shared claim statements.
fn spawn_producers<S: Clone + Send + Sync + 'static>(
    producer: &Arc<Producer<S>>,
    queues: &[Arc<QueueHandle>],
    per_queue: usize,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let each = queues.iter().flat_map(|q| std::iter::repeat_n(q, per_queue.max(1)));
    let mut tasks: Vec<_> =
        each.map(|q| tokio::spawn(producer.clone().run(q.clone(), stop.clone()))).collect();
    if let Some(batch) = &producer.batch {
        let claimer = Claimer {
            db: producer.db.clone(),
            worker_id: producer.worker_id.clone(),
            lease_ms: lease_ms(producer.lease),
            stats: producer.stats.clone(),
        };
        tasks.push(tokio::spawn(batch.clone().run(claimer, per_queue, stop.clone())));
    }
    tasks
}
