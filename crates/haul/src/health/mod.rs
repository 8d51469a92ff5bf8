//! Health for orchestrators: the stages record, in a few atomics, when their loops turned and
//! when the database last answered them ([`marks`]); a [`HealthHandle`] reads those at any time
//! and judges liveness and readiness ([`report`]). Below every stage: it calls none of them.

mod marks;
mod report;

pub(crate) use marks::Marks;
pub(crate) use report::Limits;
pub use report::{Health, HealthProblem, ListenerHealth, WorkerState};

use std::sync::Arc;

/// A cheap, cloneable view of one worker's health, readable from anywhere (a health endpoint)
/// before, while and after the worker runs. Get it with [`Worker::health`](crate::Worker::health)
/// before `run` takes the worker; each [`HealthHandle::check`] reads a few atomics.
///
/// ```no_run
/// # async fn demo(client: haul::Client) -> haul::Result<()> {
/// let worker = haul::Worker::builder(client, ()).queue("mail", 5).build()?;
/// let health = worker.health();
/// tokio::spawn(worker.run(haul::CancellationToken::new()));
/// // in the readiness endpoint:
/// let h = health.check();
/// let status = if h.is_ready() { 200 } else { 503 };
/// let body = haul::serde_json::to_string(&h).unwrap();
/// # let _ = (status, body); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HealthHandle {
    worker: Arc<str>,
    marks: Arc<Marks>,
    limits: Limits,
}

impl HealthHandle {
    pub(crate) fn new(worker: Arc<str>, marks: Arc<Marks>, limits: Limits) -> Self {
        HealthHandle { worker, marks, limits }
    }

    /// The worker's health now. See [`Health`] for the rules of liveness and readiness.
    pub fn check(&self) -> Health {
        Health::judge(&self.worker, self.marks.ages(), self.limits)
    }
}
