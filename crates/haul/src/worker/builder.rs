//! Building a [`Worker`]: queues with their concurrency, one handler per kind, shared state and
//! configuration, checked once in [`WorkerBuilder::build`].

use super::{Core, EVENTS_CAPACITY, Shared, Worker};
use crate::client::Client;
use crate::config::{QUEUE_CONCURRENCY_DEFAULT, WorkerConfig};
use std::time::Duration;

/// How long past the server's statement timeout the worker waits before it gives up on a
/// connection itself (the server should have answered with a cancellation by then).
const STATEMENT_TIMEOUT_BACKSTOP: Duration = Duration::from_secs(1);
use crate::error::{Error, Result};
use crate::execute::{Handler, Registry, Running};
use crate::fetch::QueueHandle;
use crate::job::{Job, QUEUE_DEFAULT};
use crate::names;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Collects a worker's queues, handlers and settings. See [`Worker::builder`].
pub struct WorkerBuilder<S> {
    client: Client,
    state: S,
    registry: Registry<S>,
    queues: Vec<(String, usize)>,
    config: WorkerConfig,
    id: Option<String>,
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
    /// Fails on a duplicate handler, a bad queue name, a queue listed twice, zero
    /// concurrency, or settings that contradict each other. With no queue listed, runs
    /// `default` with [`QUEUE_CONCURRENCY_DEFAULT`].
    pub fn build(mut self) -> Result<Worker<S>> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        self.config.validate()?;
        if self.queues.is_empty() {
            self.queues.push((QUEUE_DEFAULT.to_owned(), QUEUE_CONCURRENCY_DEFAULT));
        }
        let queues = check_queues(&self.queues)?;
        warn_unserved_kinds(&self.registry, &self.queues);
        let (tx, rx) = mpsc::channel(self.config.complete_batch_max * 4);
        let pool = worker_pool(&self.client, &self.config, queues.len());
        // a heartbeat that cannot get through within half a lease gives up and tries again
        let beat_deadline = self.config.statement_timeout.min(self.config.lease / 2);
        // the server cancels at statement_timeout; the client's own limit is the backstop
        // for a socket that stopped answering
        let backstop = self.config.statement_timeout + STATEMENT_TIMEOUT_BACKSTOP;
        let core = Core {
            beat_db: self.client.db().for_worker(pool.clone(), beat_deadline),
            db: self.client.db().for_worker(pool, backstop),
            worker_id: self.id.unwrap_or_else(default_id).into(),
            config: self.config,
            running: Running::default(),
            stats: Default::default(),
            events: broadcast::channel(EVENTS_CAPACITY).0,
            queues,
            abandon: CancellationToken::new(),
        };
        let shared = Shared {
            core: Arc::new(core),
            state: self.state,
            client: self.client,
            registry: self.registry,
            completer: tx,
        };
        Ok(Worker { shared: Arc::new(shared), completions: rx })
    }
}

type QueueMap = std::collections::HashMap<Arc<str>, Arc<QueueHandle>>;

fn check_queues(queues: &[(String, usize)]) -> Result<QueueMap> {
    let mut map = QueueMap::new();
    for (name, concurrency) in queues {
        names::validate_queue(name)?;
        if *concurrency == 0 {
            return Err(Error::InvalidWorker(format!(
                "queue `{name}` has concurrency 0; give it at least 1"
            )));
        }
        let handle = Arc::new(QueueHandle::new(name, *concurrency));
        if map.insert(handle.name.clone(), handle).is_some() {
            return Err(Error::InvalidWorker(format!("queue `{name}` is listed twice")));
        }
    }
    Ok(map)
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
///   up on cannot keep running and pile up (measured: an overloaded W5 kept a dozen abandoned
///   claims running for minutes);
/// - the planner settings of [`WORKER_SESSION`](crate::db::WORKER_SESSION): a queue table's
///   statistics are always stale, and these keep every worker statement on index paths.
///
/// No ping before each use: a dead connection fails its statement and is replaced.
fn worker_pool(client: &Client, config: &WorkerConfig, queues: usize) -> sqlx::PgPool {
    let size = match config.pool_size {
        0 => (queues * config.fetch_concurrency + config.complete_concurrency + 2) as u32,
        n => n,
    };
    let timeout_ms = config.statement_timeout.as_millis().to_string();
    let options = (*client.pool().connect_options())
        .clone()
        .options([("statement_timeout", timeout_ms.as_str())])
        .options(crate::db::WORKER_SESSION);
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
