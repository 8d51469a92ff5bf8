//! Lifecycle hooks: user callbacks told of each job transition once the statement that
//! records it has committed, exactly once per transition. The stages that commit transitions
//! (execute for a start, complete for a worker's outcomes, the rescuer for expired leases, the
//! leader's relay for operators' cancels) call them through [`Hooks`].

mod dispatch;

pub(crate) use dispatch::{Ended, Hooks};

use crate::job::ErrorClass;
use std::sync::Arc;
use std::time::Duration;

/// Callbacks on a job's transitions, registered with
/// [`WorkerBuilder::hook`](crate::WorkerBuilder::hook). Every method defaults to doing nothing.
///
/// Each is called once per transition, after the statement that records it committed, on the
/// task that ran that statement: keep them quick (count, log, send on a channel) and spawn a
/// task for slow work. A hook that panics is caught (logged the first time); the job and the
/// other hooks go on.
///
/// Where each transition is seen (`docs/observability.md` has the table and the limits):
/// - `on_started`: by the worker that claimed the job, before its handler runs;
/// - an attempt's outcome: by the worker that ran it, once its completion statement commits;
/// - a rescue (the lease expired: the worker died): by the maintenance leader;
/// - an operator's cancel of a job that was not running: by the maintenance leader, from the
///   notification the cancelling statement sends.
///
/// A failed attempt calls `on_failed`; when it had no attempt left, `on_discarded` follows.
/// A job discarded on purpose ([`JobError::Discard`](crate::JobError::Discard), args that do
/// not decode) calls only `on_discarded`.
///
/// ```
/// use haul::{Hook, Transition};
/// use std::time::Duration;
///
/// struct DeadLetterAlert;
///
/// impl Hook for DeadLetterAlert {
///     fn on_discarded(&self, job: &Transition) {
///         eprintln!("job {} ({}) is in the dead letter: {:?}", job.id, job.kind, job.error);
///     }
///     fn on_failed(&self, job: &Transition, retry_in: Option<Duration>) {
///         if retry_in.is_none() {
///             eprintln!("job {} used its last attempt", job.id);
///         }
///     }
/// }
/// ```
pub trait Hook: Send + Sync + 'static {
    /// A worker claimed the job and is about to run its handler.
    fn on_started(&self, job: &Transition) {
        let _ = job;
    }

    /// The job completed.
    fn on_completed(&self, job: &Transition) {
        let _ = job;
    }

    /// An attempt failed (an error, a panic, a timeout, or its worker stopped heartbeating).
    /// `retry_in`: when the job runs again; `None`: never (no attempt left, `on_discarded`
    /// follows).
    fn on_failed(&self, job: &Transition, retry_in: Option<Duration>) {
        let _ = (job, retry_in);
    }

    /// The handler snoozed the job for `delay`, without using an attempt.
    fn on_snoozed(&self, job: &Transition, delay: Duration) {
        let _ = (job, delay);
    }

    /// The job was cancelled: by its handler, or by an operator.
    fn on_cancelled(&self, job: &Transition) {
        let _ = job;
    }

    /// The job landed in the dead letter.
    fn on_discarded(&self, job: &Transition) {
        let _ = job;
    }
}

/// The job a [`Hook`] is told about.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Transition {
    /// The job's id.
    pub id: i64,
    /// Its kind.
    pub kind: Arc<str>,
    /// Its queue.
    pub queue: Arc<str>,
    /// The attempt the transition ends or starts (0 for a job cancelled before it ever ran).
    pub attempt: i16,
    /// How long the handler ran; `None` where no handler ran to an end here (a start, a
    /// rescue, an operator's cancel).
    pub run_time: Option<Duration>,
    /// How long the job waited once due (from its `run_at` to the claim), by the database's
    /// clock; `None` where it is not known (a rescue, an operator's cancel).
    pub queue_wait: Option<Duration>,
    /// The error recorded with the transition, if any (with its class).
    pub error: Option<(ErrorClass, String)>,
    /// Who recorded it.
    pub by: RecordedBy,
}

/// Which part of Haul recorded a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordedBy {
    /// The worker that claimed and ran the job.
    Worker,
    /// The maintenance leader's rescuer: the attempt's lease expired.
    Rescuer,
    /// An operator ([`Client::cancel`](crate::Client::cancel), [`Control`](crate::Control)),
    /// relayed by the maintenance leader.
    Operator,
}

/// A shared hook is a hook: register an `Arc` and keep a handle to read it.
impl<H: Hook + ?Sized> Hook for Arc<H> {
    fn on_started(&self, job: &Transition) {
        (**self).on_started(job)
    }
    fn on_completed(&self, job: &Transition) {
        (**self).on_completed(job)
    }
    fn on_failed(&self, job: &Transition, retry_in: Option<Duration>) {
        (**self).on_failed(job, retry_in)
    }
    fn on_snoozed(&self, job: &Transition, delay: Duration) {
        (**self).on_snoozed(job, delay)
    }
    fn on_cancelled(&self, job: &Transition) {
        (**self).on_cancelled(job)
    }
    fn on_discarded(&self, job: &Transition) {
        (**self).on_discarded(job)
    }
}
