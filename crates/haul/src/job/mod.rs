//! The shared vocabulary of a job: the [`Job`] trait that makes a Rust type a job kind, its
//! states, its stored row and its retry policy.

mod retry;
mod row;
mod state;
mod unique;

pub use retry::RetryPolicy;
pub use row::{AttemptError, ErrorClass, JobRow};
pub use state::JobState;
pub use unique::{Unique, UniqueStates};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Queue a job goes to when neither its kind nor its insert names one. Defaults to `"default"`.
pub const QUEUE_DEFAULT: &str = "default";
/// Priority when none is given. Lower numbers run first. Defaults to `0`.
pub const PRIORITY_DEFAULT: i16 = 0;
/// Highest-urgency priority allowed.
pub const PRIORITY_MIN: i16 = -10;
/// Lowest-urgency priority allowed.
pub const PRIORITY_MAX: i16 = 10;
/// Attempts before a failing job lands in the dead letter. Defaults to `20`.
pub const MAX_ATTEMPTS_DEFAULT: i16 = 20;
/// How long one attempt may run before it is cancelled and retried. Defaults to 5 minutes.
pub const JOB_TIMEOUT_DEFAULT: Duration = Duration::from_secs(300);

/// A job kind: a Rust type whose value is the job's args, stored as JSON.
///
/// Only [`Job::KIND`] is required; the other constants are per-kind defaults that an insert
/// can override with [`NewJob`](crate::NewJob).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize)]
/// struct ResizeImage { path: String, width: u32 }
///
/// impl haul::Job for ResizeImage {
///     const KIND: &'static str = "resize_image";
///     const QUEUE: &'static str = "images";
///     const MAX_ATTEMPTS: i16 = 5;
///     const TIMEOUT: Duration = Duration::from_secs(30);
/// }
/// ```
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The kind's stable name, stored on every row. Renaming it orphans queued jobs.
    const KIND: &'static str;
    /// Queue this kind goes to. Defaults to [`QUEUE_DEFAULT`].
    const QUEUE: &'static str = QUEUE_DEFAULT;
    /// Priority, `-10` (first) to `10` (last). Defaults to [`PRIORITY_DEFAULT`].
    const PRIORITY: i16 = PRIORITY_DEFAULT;
    /// Attempts before the dead letter. Defaults to [`MAX_ATTEMPTS_DEFAULT`].
    const MAX_ATTEMPTS: i16 = MAX_ATTEMPTS_DEFAULT;
    /// Time limit of one attempt. Defaults to [`JOB_TIMEOUT_DEFAULT`].
    const TIMEOUT: Duration = JOB_TIMEOUT_DEFAULT;
    /// Backoff between attempts. Defaults to [`RetryPolicy::DEFAULT`].
    const RETRY: RetryPolicy = RetryPolicy::DEFAULT;
    /// Whether and how the kind's jobs are unique (see [`Unique`]). Defaults to `None`: every
    /// insert makes a job.
    const UNIQUE: Option<Unique> = None;
}
