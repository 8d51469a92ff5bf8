//! The closed set of handler outcomes: success, or a [`JobError`] saying retry, snooze,
//! cancel or discard; and what an attempt's end means for the row.

use crate::job::ErrorClass;
use crate::storable;
use std::fmt;
use std::time::Duration;

/// A boxed error, as kept in [`JobError::Retry`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a handler did not succeed, and what Haul should do about it.
///
/// `?` on any error type converts to [`JobError::Retry`]; the other outcomes are explicit.
///
/// ```
/// use haul::{JobError, JobResultExt};
/// use std::time::Duration;
///
/// fn parse(input: &str) -> Result<u32, JobError> {
///     // a bad input will never parse: do not retry it
///     let n: u32 = input.parse().discard()?;
///     if n == 0 {
///         return Err(JobError::snooze(Duration::from_secs(30)));
///     }
///     Ok(n)
/// }
/// assert!(matches!(parse("x"), Err(JobError::Discard(_))));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// Failed; retry after the kind's backoff (or `after`), unless attempts are used up.
    Retry {
        /// The error, recorded in the row's history.
        error: BoxError,
        /// Overrides the backoff for this retry.
        after: Option<Duration>,
    },
    /// Not now: run again after this long, without using up an attempt.
    Snooze(Duration),
    /// Stop for good, on purpose: the job ends `cancelled` with this reason.
    Cancel(String),
    /// A permanent failure: the job goes to the dead letter at once with this reason.
    Discard(String),
}

impl JobError {
    /// Retry after the kind's backoff.
    pub fn retry(error: impl Into<BoxError>) -> Self {
        JobError::Retry { error: error.into(), after: None }
    }

    /// Retry after `after` instead of the backoff.
    pub fn retry_after(error: impl Into<BoxError>, after: Duration) -> Self {
        JobError::Retry { error: error.into(), after: Some(after) }
    }

    /// Run again after `after` without using an attempt.
    pub fn snooze(after: Duration) -> Self {
        JobError::Snooze(after)
    }

    /// End the job as cancelled.
    pub fn cancel(reason: impl fmt::Display) -> Self {
        JobError::Cancel(reason.to_string())
    }

    /// Send the job to the dead letter now.
    pub fn discard(reason: impl fmt::Display) -> Self {
        JobError::Discard(reason.to_string())
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Retry { error, .. } => write!(f, "{error}"),
            JobError::Snooze(d) => write!(f, "snoozed for {d:?}"),
            JobError::Cancel(r) => write!(f, "cancelled: {r}"),
            JobError::Discard(r) => write!(f, "discarded: {r}"),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for JobError {
    fn from(error: E) -> Self {
        JobError::retry(error)
    }
}

/// Turns any `Result` into a `Result<_, JobError>` with the outcome spelled out.
pub trait JobResultExt<T> {
    /// On error, send the job to the dead letter.
    fn discard(self) -> Result<T, JobError>;
    /// On error, cancel the job.
    fn cancel(self) -> Result<T, JobError>;
    /// On error, retry after `after` instead of the backoff.
    fn retry_after(self, after: Duration) -> Result<T, JobError>;
}

impl<T, E: fmt::Display> JobResultExt<T> for Result<T, E> {
    fn discard(self) -> Result<T, JobError> {
        self.map_err(JobError::discard)
    }

    fn cancel(self) -> Result<T, JobError> {
        self.map_err(JobError::cancel)
    }

    fn retry_after(self, after: Duration) -> Result<T, JobError> {
        self.map_err(|e| JobError::retry_after(e.to_string(), after))
    }
}

/// How one attempt ended, before it is matched against attempts left.
#[derive(Debug)]
pub(crate) enum Outcome {
    Completed,
    /// Completed inside the handler's own transaction: nothing left to write.
    CompletedInTx,
    /// Retry per policy (or `after`), or dead letter when attempts are used up.
    Failed {
        class: ErrorClass,
        error: String,
        after: Option<Duration>,
    },
    Snoozed(Duration),
    Cancelled(String),
    Discarded {
        class: ErrorClass,
        error: String,
    },
}

impl Outcome {
    /// The outcome a handler's result stands for. The error is formatted into at most `cap`
    /// bytes, so a huge or endless `Display` costs no more than that.
    pub(crate) fn of(r: Result<(), JobError>, cap: usize) -> Self {
        match r {
            Ok(()) => Outcome::Completed,
            Err(JobError::Retry { error, after }) => {
                Outcome::Failed { class: ErrorClass::Error, error: storable::display(&error, cap), after }
            }
            Err(JobError::Snooze(d)) => Outcome::Snoozed(d),
            Err(JobError::Cancel(r)) => Outcome::Cancelled(r),
            Err(JobError::Discard(r)) => Outcome::Discarded { class: ErrorClass::Discard, error: r },
        }
    }

    /// The same outcome with every value storable: text without NUL and capped at `cap` bytes,
    /// delays clamped to [`DELAY_MAX`](crate::DELAY_MAX).
    pub(crate) fn normalised(self, cap: usize) -> Self {
        let text = |t: String| storable::text(&t, cap);
        match self {
            Outcome::Completed | Outcome::CompletedInTx => self,
            Outcome::Failed { class, error, after } => {
                Outcome::Failed { class, error: text(error), after: after.map(storable::delay) }
            }
            Outcome::Snoozed(d) => Outcome::Snoozed(storable::delay(d)),
            Outcome::Cancelled(r) => Outcome::Cancelled(text(r)),
            Outcome::Discarded { class, error } => Outcome::Discarded { class, error: text(error) },
        }
    }
}
