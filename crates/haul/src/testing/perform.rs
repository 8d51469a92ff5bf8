//! Running one handler inline: on a job value with a context the test describes (no row), or
//! on a job already inserted (claimed, run and completed through the worker's own stages).
//! Either way the handler runs as a worker runs it: args encoded and decoded, under its
//! timeout, panics caught, and the outcome is the one Haul would record.

use super::outcome::Performed;
use crate::attempts::{Kill, lease_ms};
use crate::client::Client;
use crate::complete::plan::plan;
use crate::config::WorkerConfig;
use crate::db::{ClaimedJob, JsonText};
use crate::execute::{Attempt, Handler};
use crate::job::Job;
use crate::worker::Worker;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// The worker id a test's attempts record in `attempted_by`.
pub const TEST_WORKER_ID: &str = "haul-testing";

/// The context a test runs a handler in: the client and state the handler receives, and the
/// facts of the attempt (id, queue, attempt number, metadata, ...), each defaulting to what a
/// first attempt of a freshly inserted job has.
///
/// ```no_run
/// use haul::testing::{Performed, TestContext};
/// use haul::{JobContext, JobError};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Charge { cents: i64 }
/// # impl haul::Job for Charge { const KIND: &'static str = "charge"; const MAX_ATTEMPTS: i16 = 3; }
///
/// async fn charge(ctx: JobContext<()>, job: Charge) -> Result<(), JobError> {
///     if ctx.is_last_attempt() {
///         return Err(JobError::discard("giving up"));
///     }
///     Err(JobError::retry(format!("declined: {} cents", job.cents)))
/// }
///
/// # async fn demo(client: haul::Client) {
/// let first = TestContext::new(client.clone(), ()).perform(charge, Charge { cents: 5 }).await;
/// assert!(matches!(first, Performed::Retried { .. }));
/// let last = TestContext::new(client, ()).with_last_attempt().perform(charge, Charge { cents: 5 }).await;
/// assert!(matches!(last, Performed::Discarded { .. }));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TestContext<S> {
    client: Client,
    state: S,
    config: WorkerConfig,
    id: i64,
    queue: Option<String>,
    attempt: Option<i16>,
    last_attempt: bool,
    max_attempts: Option<i16>,
    priority: Option<i16>,
    timeout: Option<Duration>,
    metadata: serde_json::Value,
    cancelled: bool,
}

impl<S: Clone + Send + Sync + 'static> TestContext<S> {
    /// A first attempt of job 1 of the job's kind, on its kind's queue, priority and attempts,
    /// with empty metadata; its handler receives `client` and `state`. `perform` itself runs
    /// no SQL (`Client::new` over `PgPool::connect_lazy` needs no server).
    pub fn new(client: Client, state: S) -> Self {
        TestContext {
            client,
            state,
            config: WorkerConfig::default(),
            id: 1,
            queue: None,
            attempt: None,
            last_attempt: false,
            max_attempts: None,
            priority: None,
            timeout: None,
            metadata: serde_json::json!({}),
            cancelled: false,
        }
    }

    /// The job id the context reports. Defaults to 1.
    pub fn with_id(mut self, id: i64) -> Self {
        self.id = id;
        self
    }

    /// The queue. Defaults to the kind's [`Job::QUEUE`].
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// This attempt's number, from 1. Defaults to 1.
    pub fn with_attempt(mut self, attempt: i16) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// Makes this attempt the last one ([`JobContext::is_last_attempt`](crate::JobContext::is_last_attempt)
    /// true, a failure goes to the dead letter): the attempt number becomes the attempts allowed.
    pub fn with_last_attempt(mut self) -> Self {
        self.last_attempt = true;
        self
    }

    /// Attempts allowed in all. Defaults to the kind's [`Job::MAX_ATTEMPTS`].
    pub fn with_max_attempts(mut self, max_attempts: i16) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// The priority. Defaults to the kind's [`Job::PRIORITY`].
    pub fn with_priority(mut self, priority: i16) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The attempt's time limit. Defaults to the kind's [`Job::TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The job's metadata, as [`JobContext::metadata`](crate::JobContext::metadata) decodes it.
    /// Defaults to `{}`.
    ///
    /// # Panics
    /// When `metadata` does not encode as JSON.
    pub fn with_metadata(mut self, metadata: impl serde::Serialize) -> Self {
        self.metadata = serde_json::to_value(metadata).expect("haul::testing: metadata must encode as JSON");
        self
    }

    /// Starts the attempt already asked to stop, as at a worker's shutdown:
    /// [`JobContext::is_cancelled`](crate::JobContext::is_cancelled) is true and the
    /// cancellation token has fired.
    pub fn with_cancelled(mut self) -> Self {
        self.cancelled = true;
        self
    }

    /// The worker settings the attempt runs under (timeout grace, error size, completed
    /// retention). Defaults to [`WorkerConfig::default`].
    pub fn with_config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs `handler` on `job` as a worker would and returns what Haul would record, with no
    /// row in the database: `job` is encoded and decoded as stored args are, the handler runs
    /// under its timeout, a panic is caught. A failure retries ([`Performed::Retried`]) unless
    /// this is the last attempt. With no row, [`JobContext::complete_in`](crate::JobContext::complete_in)
    /// finds no running job and returns [`Error::NotRunning`](crate::Error::NotRunning): run
    /// such a handler on an inserted job with [`TestContext::perform_inserted`].
    ///
    /// # Panics
    /// When `J`'s kind or queue is not a valid name, or `job` does not encode as JSON.
    pub async fn perform<J: Job, H: Handler<S, J>>(&self, handler: H, job: J) -> Performed {
        let args = serde_json::to_string(&job).expect("haul::testing: the job must encode as JSON");
        let max_attempts = self.max_attempts.unwrap_or(J::MAX_ATTEMPTS);
        let attempt = if self.last_attempt { max_attempts } else { self.attempt.unwrap_or(1) };
        let now = Utc::now();
        let claimed = ClaimedJob {
            id: self.id,
            slot: 0,
            kind: J::KIND.to_owned(),
            args: JsonText(args),
            attempt,
            max_attempts,
            priority: self.priority.unwrap_or(J::PRIORITY),
            timeout_ms: self.timeout.map(|t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX)),
            metadata: JsonText(self.metadata.to_string()),
            created_at: now,
            run_at: now,
            claimed_at: now,
        };
        let queue = self.queue.clone().unwrap_or_else(|| J::QUEUE.to_owned());
        let attempt = self.execute(&self.worker(handler), claimed, queue).await;
        Performed::planned(&plan(&attempt))
    }

    /// Runs `handler` on job `id`, already inserted and waiting (scheduled, available or
    /// retryable; due or not), through the worker's own stages: it is claimed as its next
    /// attempt, run, and its outcome written by the completer's fenced statement, so the row
    /// ends as a worker would leave it (deleted when completed, unless the config keeps completed
    /// jobs) and [`JobContext::complete_in`](crate::JobContext::complete_in) works. The row's
    /// facts (queue, attempt, metadata, ...) replace the context's.
    ///
    /// # Panics
    /// When job `id` is not a waiting job of kind `J`, when the database fails, or when the
    /// outcome was refused because the attempt was no longer the running one.
    pub async fn perform_inserted<J: Job, H: Handler<S, J>>(&self, handler: H, id: i64) -> Performed {
        let worker = self.worker(handler);
        let lease = lease_ms(self.config.lease);
        let claimed = self.client.db().job_claim_one(id, J::KIND, lease, TEST_WORKER_ID).await;
        let (job, queue) = match claimed {
            Ok(Some(claimed)) => claimed,
            Ok(None) => panic!("{}", self.not_waiting::<J>(id).await),
            Err(e) => panic!("haul::testing: could not claim job {id}: {e}"),
        };
        let attempt = self.execute(&worker, job, queue).await;
        let class = plan(&attempt).error.map(|(class, _)| class);
        let (_, completer) = worker.inline_stages();
        let mut events = completer.events.subscribe();
        completer.complete_now(vec![attempt]).await;
        match events.try_recv() {
            Ok(event) => Performed::committed(event.outcome, event.error, class),
            Err(_) => panic!(
                "haul::testing: the outcome of job {id} was refused: its attempt was no longer the \
                 running one (another worker or the test changed the row while the handler ran)"
            ),
        }
    }

    /// A worker with this context's client, state and settings and `handler` alone, never run:
    /// the attempt goes through its execute stage, and its completer for an inserted job.
    fn worker<J: Job, H: Handler<S, J>>(&self, handler: H) -> Worker<S> {
        let mut builder = Worker::builder(self.client.clone(), self.state.clone()).queue(J::QUEUE, 1);
        if let Some(queue) = self.queue.as_deref().filter(|q| *q != J::QUEUE) {
            builder = builder.queue(queue, 1);
        }
        let built = builder.id(TEST_WORKER_ID).config(self.config.clone()).handler::<J, H>(handler).build();
        built.unwrap_or_else(|e| panic!("haul::testing: cannot run a handler for `{}`: {e}", J::KIND))
    }

    async fn execute(&self, worker: &Worker<S>, job: ClaimedJob, queue: String) -> Attempt {
        let kill = Arc::new(Kill::default());
        if self.cancelled {
            kill.cancel();
        }
        let (producer, _) = worker.inline_stages();
        producer.executor.execute(job, queue.into(), kill, None).await
    }

    /// Why job `id` cannot be performed as a `J`.
    async fn not_waiting<J: Job>(&self, id: i64) -> String {
        let why = match self.client.get(id).await {
            Ok(None) => "there is no such job".to_owned(),
            Ok(Some(row)) if row.kind != J::KIND => format!("it is of kind `{}`", row.kind),
            Ok(Some(row)) => format!("it is {}", row.state),
            Err(e) => format!("it cannot be read: {e}"),
        };
        format!(
            "haul::testing: job {id} cannot be performed as a `{}` job: {why} (a waiting job \
             is scheduled, available or retryable)",
            J::KIND
        )
    }
}
