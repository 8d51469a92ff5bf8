//! The built-in logging layer: a line when the handler starts and one when it ends (with its
//! run time and outcome), inside the attempt's `job` span so both carry `job_id`, `kind`,
//! `queue` and `attempt`. Args are logged only when asked.

use super::middleware::{BoxFuture, JobMeta, Middleware, Next};
use super::outcome::JobError;
use std::time::Instant;
use tracing::Level;

/// Logs at a level chosen at run time (`tracing`'s macros take a constant one).
macro_rules! at_level {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            Level::ERROR => tracing::error!($($rest)+),
            Level::WARN => tracing::warn!($($rest)+),
            Level::INFO => tracing::info!($($rest)+),
            Level::DEBUG => tracing::debug!($($rest)+),
            Level::TRACE => tracing::trace!($($rest)+),
        }
    };
}

/// Logs each attempt's start and end. Register it with
/// [`WorkerBuilder::middleware`](crate::WorkerBuilder::middleware).
///
/// Every line a handler logs carries the attempt's span fields (`job_id`, `kind`, `queue`,
/// `attempt`) with or without this layer; it adds the two lines. Args are never logged unless
/// [`Logging::with_args`] asks (they may hold personal data or secrets).
///
/// ```
/// use haul::Logging;
/// let quiet = Logging::new().with_level(tracing::Level::DEBUG);
/// let verbose = Logging::new().with_args();
/// # let _ = (quiet, verbose);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Logging {
    level: Level,
    args: bool,
}

impl Default for Logging {
    fn default() -> Self {
        Logging { level: Level::INFO, args: false }
    }
}

impl Logging {
    /// Lines at INFO, without args.
    pub fn new() -> Self {
        Self::default()
    }

    /// Logs both lines at `level`. Defaults to INFO.
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Logs the job's args (raw JSON) in the start line. Defaults to off.
    pub fn with_args(mut self) -> Self {
        self.args = true;
        self
    }
}

impl Middleware for Logging {
    fn call<'a>(&'a self, job: &'a JobMeta<'a>, next: Next<'a>) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let args = self.args.then(|| job.args());
            at_level!(self.level, args, "job started");
            let started = Instant::now();
            let result = next.run().await;
            let run_time = started.elapsed();
            let outcome = outcome(&result);
            match &result {
                Ok(()) => at_level!(self.level, run_time = ?run_time, outcome, "job finished"),
                Err(e) => at_level!(self.level, run_time = ?run_time, outcome, error = %e, "job finished"),
            }
            result
        })
    }
}

/// The outcome a handler's result asks for, as a word.
fn outcome(result: &Result<(), JobError>) -> &'static str {
    match result {
        Ok(()) => "completed",
        Err(JobError::Retry { .. }) => "retry",
        Err(JobError::Snooze(_)) => "snooze",
        Err(JobError::Cancel(_)) => "cancel",
        Err(JobError::Discard(_)) => "discard",
    }
}
