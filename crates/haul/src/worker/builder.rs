//! Building a [`Worker`]: queues with their concurrency, one handler per kind, middleware and
//! hooks, periodic schedules, shared state and configuration, checked once in
//! [`WorkerBuilder::build`].

use super::wiring::Common;
use super::{EVENTS_CAPACITY, Worker};
use crate::client::Client;
use crate::config::{QUEUE_CONCURRENCY_DEFAULT, STATEMENT_TIMEOUT_BACKSTOP, WorkerConfig};
use crate::error::{Error, Result};
use crate::execute::{Executor, Handler, Middleware, Registry};
use crate::fetch::{PauseWatch, QueueHandle};
use crate::hooks::{Hook, Hooks};
use crate::insert::IntoNewJob;
use crate::job::{Job, QUEUE_DEFAULT};
use crate::maintenance::MakeJob;
use crate::names;
use crate::notify::Notifier;
use crate::periodic::Periodic;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// Collects a worker's queues, handlers and settings. See [`Worker::builder`].
pub struct WorkerBuilder<S> {
    client: Client,
    state: S,
    registry: Registry<S>,
    queues: Vec<(String, usize)>,
    config: WorkerConfig,
    id: Option<String>,
    periodic: Vec<(Periodic, MakeJob)>,
    middleware: Vec<Arc<dyn Middleware>>,
    kind_middleware: Vec<(&'static str, Arc<dyn Middleware>)>,
    hooks: Vec<Arc<dyn Hook>>,
    errors: Vec<Error>,
}

impl<S: Clone + Send + Sync + 'static> WorkerBuilder<S> {
    pub(super) fn new(client: Client, state: S) -> Self {
        WorkerBuilder {
            client,
            state,
            registry: Registry::default(),
            queues: Vec::new(),
            config: WorkerConfig::default(),
            id: None,
            periodic: Vec::new(),
            middleware: Vec::new(),
            kind_middleware: Vec::new(),
            hooks: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Registers `handler` for jobs of kind `J` (`J` is read from the handler's signature).
    pub fn handler<J: Job, H: Handler<S, J>>(mut self, handler: H) -> Self {
        if let Err(e) = self.registry.insert::<J, H>(handler) {
            self.errors.push(e);
        }
        self
    }

    /// Wraps every kind's handler in `layer`. Layers registered this way run outermost, in the
    /// order registered, around the kind's own ([`WorkerBuilder::middleware_for`]). See
    /// [`Middleware`].
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let worker = haul::Worker::builder(client, ())
    ///     .middleware(haul::Logging::new())
    ///     .build()?;
    /// # let _ = worker; Ok(()) }
    /// ```
    pub fn middleware(mut self, layer: impl Middleware) -> Self {
        self.middleware.push(Arc::new(layer));
        self
    }

    /// Wraps only the handler of kind `J` in `layer`, inside every kind's layers, in the order
    /// registered. Fails the build if `J` has no handler.
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Charge;
    /// # impl haul::Job for Charge { const KIND: &'static str = "charge"; }
    /// # async fn charge(_: haul::JobContext<()>, _: Charge) -> Result<(), haul::JobError> { Ok(()) }
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let worker = haul::Worker::builder(client, ())
    ///     .handler(charge)
    ///     .middleware_for::<Charge>(haul::Logging::new().with_args())
    ///     .build()?;
    /// # let _ = worker; Ok(()) }
    /// ```
    pub fn middleware_for<J: Job>(mut self, layer: impl Middleware) -> Self {
        self.kind_middleware.push((J::KIND, Arc::new(layer)));
        self
    }

    /// Tells `hook` of every job transition this worker records, after it commits; and, on
    /// the worker leading maintenance, of rescues and operators' cancels. See [`Hook`].
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let worker = haul::Worker::builder(client, ())
    ///     .hook(haul::metrics::Metrics::new())
    ///     .build()?;
    /// # let _ = worker; Ok(()) }
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Enqueues the job `job` builds at each tick of `schedule`. The elected maintenance
    /// leader enqueues each tick exactly once across every worker process, so register the
    /// same schedules on every worker that takes part in maintenance; the job runs on whichever
    /// worker has its queue and handler. See [`Periodic`] for names and missed ticks.
    ///
    /// ```no_run
    /// use haul::{JobContext, JobError, Periodic, Worker};
    /// use std::time::Duration;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Report { full: bool }
    /// impl haul::Job for Report { const KIND: &'static str = "report"; }
    ///
    /// async fn report(_ctx: JobContext<()>, _job: Report) -> Result<(), JobError> {
    ///     Ok(())
    /// }
    ///
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let paris = haul::chrono_tz::Europe::Paris;
    /// let worker = Worker::builder(client, ())
    ///     .periodic(Periodic::cron("0 0 6 * * MON-FRI")?.in_tz(paris), || Report { full: true })
    ///     .periodic(Periodic::every(Duration::from_secs(300)), || Report { full: false })
    ///     .handler(report)
    ///     .build()?;
    /// # let _ = worker; Ok(()) }
    /// ```
    pub fn periodic<J, F>(mut self, schedule: Periodic, job: F) -> Self
    where
        J: IntoNewJob,
        F: Fn() -> J + Send + Sync + 'static,
    {
        self.periodic.push((schedule, Box::new(move || job().into_new_job())));
        self
    }

    /// Runs `queue` with up to `concurrency` jobs at once in this worker.
    pub fn queue(mut self, queue: impl Into<String>, concurrency: usize) -> Self {
        self.queues.push((queue.into(), concurrency));
        self
    }

    /// Replaces the worker settings.
    pub fn config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the worker id stored in `attempted_by`. Defaults to `host-pid-random`.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Checks everything and builds the worker.
    ///
    /// Fails on a duplicate handler, middleware for a kind without a handler, a bad queue name, a queue listed twice, zero
    /// concurrency, a bad periodic schedule or job, a schedule name registered twice, or
    /// settings that contradict each other. With no queue listed, runs
    /// `default` with [`QUEUE_CONCURRENCY_DEFAULT`].
    pub fn build(mut self) -> Result<Worker<S>> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        self.config.validate()?;
        self.registry.set_layers(&self.middleware, self.kind_middleware)?;
        let hooks = Hooks::new(self.hooks);
        if self.queues.is_empty() {
            self.queues.push((QUEUE_DEFAULT.to_owned(), QUEUE_CONCURRENCY_DEFAULT));
        }
        let queues = check_queues(&self.queues)?;
        warn_unserved_kinds(&self.registry, &self.queues);
        let max_payload = self.client.max_payload();
        let periodic = super::periodic::check(self.periodic, max_payload)?;
        if !periodic.is_empty() && !self.config.maintenance {
            tracing::warn!(
                "this worker takes no part in maintenance: only the leader enqueues periodic jobs"
            );
        }
        let cfg = self.config;
        let pool = worker_pool(&self.client, &cfg, queues.len());
        // the server cancels at statement_timeout; the client's own limit is the backstop for
        // a socket that stopped answering
        let db =
            self.client.db().for_worker(pool.clone(), cfg.statement_timeout + STATEMENT_TIMEOUT_BACKSTOP);
        // a heartbeat that cannot get through within half a lease gives up and tries again
        let beat_db = self.client.db().for_worker(pool, cfg.statement_timeout.min(cfg.lease / 2));
        let common = Common::new(db, self.id.unwrap_or_else(default_id).into(), &cfg);
        let (st, check) = (cfg.statement_timeout, cfg.listener_check_interval);
        let mut notifier = Notifier::new(common.db.clone(), st, check, common.health.clone());
        let names = queues.iter().map(|(name, _)| name.to_string());
        let signals = notifier.subscribe_pauses();
        let poll = cfg.fetch_poll_interval;
        let mut pauses = PauseWatch::new(common.db.clone(), names, poll, signals, common.health.clone());
        let queues: Vec<_> = queues
            .into_iter()
            .map(|(name, n)| {
                let wake = notifier.subscribe_queue(&name);
                Arc::new(QueueHandle::new(name, n, wake, pauses.subscribe(), pauses.subscribe_limited()))
            })
            .collect();
        pauses.probe(&queues);
        let cancels = notifier.subscribe_cancels();
        let cancelled = (cfg.maintenance && !hooks.is_empty()).then(|| notifier.subscribe_cancelled());
        let (tx, completions) = mpsc::channel(cfg.complete_batch_max * 4);
        let executor = Executor {
            state: self.state,
            client: self.client,
            registry: self.registry,
            worker_id: common.id.clone(),
            timeout_grace: cfg.timeout_grace,
            keep_completed: common.keep,
            error_max_bytes: cfg.error_max_bytes,
            hooks: hooks.clone(),
        };
        let events = broadcast::channel(EVENTS_CAPACITY).0;
        Ok(Worker {
            producer: common.producer(executor, tx, &cfg, queues.len()),
            completer: common.completer(events.clone(), hooks.clone(), &cfg),
            heartbeat: common.heartbeat(beat_db, &cfg),
            rollups: common.rollup_writer(&cfg),
            maintenance: cfg
                .maintenance
                .then(|| common.maintenance(&cfg, periodic, max_payload, hooks, cancelled)),
            id: common.id,
            db: common.db,
            running: common.running,
            stats: common.stats,
            health: common.health,
            config: cfg,
            events,
            notifier,
            cancels,
            pauses,
            queues,
            completions,
        })
    }
}

fn check_queues(queues: &[(String, usize)]) -> Result<Vec<(Arc<str>, usize)>> {
    let mut checked: Vec<(Arc<str>, usize)> = Vec::with_capacity(queues.len());
    for (name, concurrency) in queues {
        names::validate_queue(name)?;
        if *concurrency == 0 {
            return Err(Error::InvalidWorker(format!(
                "queue `{name}` has concurrency 0; give it at least 1"
            )));
        }
        if checked.iter().any(|(q, _)| **q == **name) {
            return Err(Error::InvalidWorker(format!("queue `{name}` is listed twice")));
        }
        checked.push((name.as_str().into(), *concurrency));
    }
    Ok(checked)
}

fn warn_unserved_kinds<S>(registry: &Registry<S>, queues: &[(String, usize)]) {
    for route in registry.routes() {
        if !queues.iter().any(|(q, _)| q == route.queue) {
            tracing::warn!(
                kind = route.kind,
                queue = route.queue,
                "this worker has a handler for the kind but does not run its default queue"
            );
        }
    }
}

/// The worker's own pool, on the client's connection options plus session settings:
/// - `statement_timeout`: PostgreSQL cancels a statement that overruns, so one the worker gave
///   up on cannot keep running and pile up under overload;
/// - the planner settings of [`WORKER_SESSION`](crate::db::WORKER_SESSION): a queue table's
///   statistics are always stale, and these keep every worker statement on index paths.
///
/// No ping before each use: a dead connection fails its statement and is replaced.
fn worker_pool(client: &Client, config: &WorkerConfig, queues: usize) -> sqlx::PgPool {
    let size = match config.pool_size {
        0 => (queues * config.fetch_concurrency + config.complete_concurrency + 2) as u32,
        n => n,
    };
    let options = crate::db::worker_options(&client.pool().connect_options(), config.statement_timeout);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .test_before_acquire(false)
        .acquire_timeout(config.statement_timeout)
        .connect_lazy_with(options)
}

fn default_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}
