//! Middleware: layers around a job's handler, registered for every kind or for one, with no
//! generics over the handler. A layer sees the job's facts and calls [`Next::run`] to run the
//! layers inside it and then the handler (or returns without calling it, to short-circuit).

use super::outcome::JobError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future, as middleware returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A layer around handlers, registered with
/// [`WorkerBuilder::middleware`](crate::WorkerBuilder::middleware) (every kind) or
/// [`WorkerBuilder::middleware_for`](crate::WorkerBuilder::middleware_for) (one kind).
///
/// Layers run outermost first: every-kind layers in the order registered, then the kind's own
/// layers in the order registered, then the handler. A layer runs inside the attempt's
/// `job` span, under the attempt's timeout and panic guard: a layer that panics fails its
/// attempt like a handler that panics. Its result is the attempt's outcome, so a layer may
/// return an error without calling `next` (the handler then never runs) or change the
/// handler's result. Jobs whose kind has no handler here or whose args do not decode end
/// before any layer runs.
///
/// ```
/// use haul::{BoxFuture, JobError, JobMeta, Middleware, Next};
///
/// /// Refuses jobs marked as poisoned in their metadata; times the others.
/// struct Guard;
///
/// impl Middleware for Guard {
///     fn call<'a>(&'a self, job: &'a JobMeta<'a>, next: Next<'a>) -> BoxFuture<'a, Result<(), JobError>> {
///         Box::pin(async move {
///             if job.metadata().contains("\"poisoned\"") {
///                 return Err(JobError::discard("poisoned job"));
///             }
///             let started = std::time::Instant::now();
///             let result = next.run().await;
///             tracing::debug!(elapsed = ?started.elapsed(), "handler done");
///             result
///         })
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Runs around one attempt of `job`; `next.run()` runs the rest of the chain.
    fn call<'a>(&'a self, job: &'a JobMeta<'a>, next: Next<'a>) -> BoxFuture<'a, Result<(), JobError>>;
}

/// The attempt a [`Middleware`] wraps.
#[derive(Debug, Clone, Copy)]
pub struct JobMeta<'a> {
    pub(crate) id: i64,
    pub(crate) kind: &'a str,
    pub(crate) queue: &'a str,
    pub(crate) attempt: i16,
    pub(crate) max_attempts: i16,
    pub(crate) args: &'a str,
    pub(crate) metadata: &'a str,
}

impl<'a> JobMeta<'a> {
    /// The job's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Its kind.
    pub fn kind(&self) -> &'a str {
        self.kind
    }

    /// Its queue.
    pub fn queue(&self) -> &'a str {
        self.queue
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> i16 {
        self.attempt
    }

    /// Attempts allowed in all.
    pub fn max_attempts(&self) -> i16 {
        self.max_attempts
    }

    /// The args as raw JSON text (they may hold secrets: log them only on purpose).
    pub fn args(&self) -> &'a str {
        self.args
    }

    /// The metadata as raw JSON text.
    pub fn metadata(&self) -> &'a str {
        self.metadata
    }
}

/// The rest of the chain: the layers inside this one, then the handler.
pub struct Next<'a> {
    job: &'a JobMeta<'a>,
    rest: &'a [Arc<dyn Middleware>],
    handler: BoxFuture<'a, Result<(), JobError>>,
}

impl std::fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").field("layers_left", &self.rest.len()).finish_non_exhaustive()
    }
}

impl<'a> Next<'a> {
    /// Runs the layers inside this one, then the handler, and returns the result.
    pub fn run(self) -> BoxFuture<'a, Result<(), JobError>> {
        match self.rest.split_first() {
            None => self.handler,
            Some((layer, rest)) => layer.call(self.job, Next { job: self.job, rest, handler: self.handler }),
        }
    }
}

/// The layers of one kind, outermost first: every-kind layers, then the kind's own.
pub(crate) type Layers = Arc<[Arc<dyn Middleware>]>;

/// `handler` wrapped in `layers` (returned as is when there are none).
pub(crate) fn wrap<'a>(
    layers: &'a [Arc<dyn Middleware>],
    job: &'a JobMeta<'a>,
    handler: BoxFuture<'a, Result<(), JobError>>,
) -> BoxFuture<'a, Result<(), JobError>> {
    Next { job, rest: layers, handler }.run()
}

/// A shared layer is a layer.
impl<M: Middleware + ?Sized> Middleware for Arc<M> {
    fn call<'a>(&'a self, job: &'a JobMeta<'a>, next: Next<'a>) -> BoxFuture<'a, Result<(), JobError>> {
        (**self).call(job, next)
    }
}
