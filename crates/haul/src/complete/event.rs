//! Events a worker publishes after an outcome's state change commits.

use std::sync::Arc;
use std::time::Duration;

/// What became of one attempt, published by [`Worker::subscribe`](crate::Worker::subscribe)
/// after the state change committed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobEvent {
    /// The job's id.
    pub id: i64,
    /// Its kind.
    pub kind: Arc<str>,
    /// Its queue.
    pub queue: Arc<str>,
    /// The attempt that ended.
    pub attempt: i16,
    /// What the row became.
    pub outcome: EventOutcome,
    /// How long the handler ran.
    pub run_time: Duration,
    /// How long it waited once due (from its `run_at` to the claim), by the database's clock.
    pub queue_wait: Duration,
    /// The error recorded for this attempt, if any.
    pub error: Option<String>,
}

/// The state change an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventOutcome {
    /// Succeeded.
    Completed,
    /// Failed; will run again after `after`.
    Retrying {
        /// The backoff chosen.
        after: Duration,
    },
    /// Snoozed for this long, without using an attempt.
    Snoozed(Duration),
    /// Cancelled by its handler.
    Cancelled,
    /// Landed in the dead letter.
    Discarded,
}
