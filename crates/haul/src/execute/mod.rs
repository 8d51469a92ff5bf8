//! Stage 4, execute: run one claimed job. Decode its args into the handler's type, run the
//! handler under its timeout with a cancellation token, catch panics, and hand the outcome
//! to the completer.

mod context;
mod handler;
mod heartbeat;
mod logging;
mod middleware;
mod outcome;

pub use context::JobContext;
pub use handler::Handler;
pub use logging::Logging;
pub use middleware::{BoxFuture, JobMeta, Middleware, Next};
pub use outcome::{BoxError, JobError, JobResultExt};

pub(crate) use context::JobInfo;
pub(crate) use handler::{Registry, Route};
pub(crate) use heartbeat::Heartbeat;
pub(crate) use outcome::Outcome;

use crate::attempts::{Kill, KillReason};
use crate::client::Client;
use crate::db::ClaimedJob;
use crate::hooks::{Hooks, RecordedBy, Transition};
use crate::job::{ErrorClass, RetryPolicy};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Held by a job until its handler's future has been polled once (its handler has begun), then
/// dropped: a limited claim learns this way when all of its jobs have started.
pub(crate) type StartMark = Arc<dyn std::any::Any + Send + Sync>;

/// One finished attempt, on its way to the completer.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub info: Arc<JobInfo>,
    pub outcome: Outcome,
    pub run_time: Duration,
    pub retry: RetryPolicy,
}

/// The execute stage: what running a claimed job needs, and nothing else.
pub(crate) struct Executor<S> {
    /// The state handlers receive.
    pub state: S,
    /// The client handlers receive, for follow-up jobs.
    pub client: Client,
    pub registry: Registry<S>,
    /// Named in the error of a job whose kind has no handler here.
    pub worker_id: Arc<str>,
    /// How long a handler told to stop gets before its future is dropped.
    pub timeout_grace: Duration,
    /// Whether completed rows are kept (a handler's own completion then updates, not deletes).
    pub keep_completed: bool,
    /// The most bytes of error text one attempt records.
    pub error_max_bytes: usize,
    /// Told of each start (the claim has committed) before the handler runs.
    pub hooks: Hooks,
}

impl<S: Clone + Send + Sync + 'static> Executor<S> {
    /// Runs one claimed job to an outcome. Never panics, whatever the handler does. `begun` is
    /// dropped once the handler has begun (or the job ended without one).
    pub(crate) async fn execute(
        &self,
        job: ClaimedJob,
        queue: Arc<str>,
        kill: Arc<Kill>,
        begun: Option<StartMark>,
    ) -> Attempt {
        let route = self.registry.get(&job.kind);
        let info = Arc::new(JobInfo {
            id: job.id,
            slot: job.slot,
            kind: route.map_or_else(|| job.kind.as_str().into(), |r| r.name.clone()),
            queue,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            priority: job.priority,
            created_at: job.created_at,
            queue_wait: job.queue_wait(),
            metadata: job.metadata,
            completed_in_tx: Default::default(),
        });
        let span = tracing::info_span!("job", job_id = info.id, kind = %info.kind, queue = %info.queue, attempt = info.attempt);
        #[cfg(feature = "otel")]
        crate::otel::adopt(&span, &info.metadata.0);
        if !self.hooks.is_empty() {
            span.in_scope(|| self.hooks.started(&start_of(&info)));
        }
        let started = Instant::now();
        let (outcome, retry) = match route {
            None => (self.unknown_kind(&info.kind), RetryPolicy::DEFAULT),
            Some(route) => {
                let timeout = job.timeout_ms.map_or(route.timeout, |ms| Duration::from_millis(ms as u64));
                let stop = Stop { kill, timeout, grace: self.timeout_grace };
                let run = self.run_route(route, info.clone(), &job.args.0, stop, begun);
                (run.instrument(span.clone()).await, route.retry)
            }
        };
        let outcome = outcome.normalised(self.error_max_bytes);
        let attempt = Attempt { info, outcome, run_time: started.elapsed(), retry };
        span.in_scope(|| log_outcome(&attempt));
        attempt
    }

    async fn run_route(
        &self,
        route: &Route<S>,
        info: Arc<JobInfo>,
        args: &str,
        stop: Stop,
        begun: Option<StartMark>,
    ) -> Outcome {
        let ctx = JobContext::new(
            self.state.clone(),
            info.clone(),
            self.client.clone(),
            stop.kill.clone(),
            self.keep_completed,
        );
        let meta = JobMeta {
            id: info.id,
            kind: &info.kind,
            queue: &info.queue,
            attempt: info.attempt,
            max_attempts: info.max_attempts,
            args,
            metadata: &info.metadata.0,
        };
        // starting the chain runs each layer's `call` up to its first await: guarded too
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<BoxFuture<'_, _>, String> {
            let handler = route.start(ctx, args)?;
            Ok(match route.layers.is_empty() {
                true => handler,
                false => middleware::wrap(&route.layers, &meta, handler),
            })
        }));
        let fut = match started {
            Ok(Ok(fut)) => fut,
            Ok(Err(e)) => return decode_failed(route, &e),
            Err(panic) => return panicked(panic),
        };
        let mut fut = FirstPoll { fut: AssertUnwindSafe(fut).catch_unwind(), begun };
        // The handler is polled first: one done at its first poll (most are quick) never
        // registers its timeout in the timer wheel, nor its kill waiter.
        let done = tokio::select! {
            biased;
            done = &mut fut => done,
            () = tokio::time::sleep(stop.timeout) => {
                stop.kill.cancel();
                let _ = tokio::time::timeout(stop.grace, fut).await;
                let error = format!("timed out after {:?}", stop.timeout);
                return Outcome::Failed { class: ErrorClass::Timeout, error, after: None };
            }
            () = stop.kill.fired() => {
                stop.kill.cancel();
                match tokio::time::timeout(stop.grace, fut).await {
                    Ok(done) => done,
                    Err(_) => return killed(&stop.kill),
                }
            }
        };
        match done.map_or_else(panicked, |r| Outcome::of(r, self.error_max_bytes)) {
            Outcome::Completed if info.completed_in_tx.load(Ordering::Acquire) => Outcome::CompletedInTx,
            Outcome::Completed => Outcome::Completed,
            // a failure after a cancel request is the cancellation taking effect
            _ if stop.kill.reason() == Some(KillReason::Cancelled) => killed(&stop.kill),
            other => other,
        }
    }

    fn unknown_kind(&self, kind: &str) -> Outcome {
        let known = self.registry.kinds().join(", ");
        let error = format!(
            "no handler for job kind `{kind}` in worker {} (it handles: {known}); register one with \
             WorkerBuilder::handler, or run a worker that has it",
            self.worker_id
        );
        Outcome::Failed { class: ErrorClass::UnknownKind, error, after: None }
    }
}

/// The [`Transition`] a start reports.
fn start_of(info: &JobInfo) -> Transition {
    Transition {
        id: info.id,
        kind: info.kind.clone(),
        queue: info.queue.clone(),
        attempt: info.attempt,
        run_time: None,
        queue_wait: Some(info.queue_wait),
        error: None,
        by: RecordedBy::Worker,
    }
}

/// A future that drops `begun` after its first poll.
struct FirstPoll<F> {
    fut: F,
    begun: Option<StartMark>,
}

impl<F: Future + Unpin> Future for FirstPoll<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let polled = std::pin::Pin::new(&mut self.fut).poll(cx);
        self.begun = None;
        polled
    }
}

/// What can stop an attempt early, and how long it gets to stop.
struct Stop {
    kill: Arc<Kill>,
    timeout: Duration,
    grace: Duration,
}

fn killed(kill: &Kill) -> Outcome {
    match kill.reason() {
        Some(KillReason::LeaseLost) => Outcome::Failed {
            class: ErrorClass::Rescued,
            error: "stopped: this attempt lost its lease and was rescued".into(),
            after: None,
        },
        _ => Outcome::Cancelled("cancelled by an operator while running".into()),
    }
}

fn decode_failed<S>(route: &Route<S>, e: &str) -> Outcome {
    let error = format!("args do not decode into `{}`: {e}", route.type_name);
    Outcome::Discarded { class: ErrorClass::Decode, error }
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> Outcome {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    Outcome::Failed { class: ErrorClass::Panic, error: format!("handler panicked: {msg}"), after: None }
}

fn log_outcome(a: &Attempt) {
    match &a.outcome {
        Outcome::Completed | Outcome::CompletedInTx => {
            tracing::debug!(run_time = ?a.run_time, "job completed")
        }
        Outcome::Snoozed(d) => tracing::debug!(snooze = ?d, "job snoozed"),
        Outcome::Failed { class, error, .. } => {
            tracing::warn!(class = class.as_str(), error = %error, "job attempt failed")
        }
        Outcome::Cancelled(r) => tracing::info!(reason = %r, "job cancelled by its handler"),
        Outcome::Discarded { class, error } => {
            tracing::warn!(class = class.as_str(), error = %error, "job discarded")
        }
    }
}
