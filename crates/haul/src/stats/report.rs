//! What [`Client::stats`](crate::Client::stats) is asked ([`StatsQuery`]) and answers
//! ([`Stats`]): per queue and kind, the depth by state, the oldest available job's age, and the
//! outcomes, throughput, error rate and run time and queue wait percentiles over a window.

use crate::error::{Error, Result};
use crate::job::JobState;
use crate::queue::JobCounts;
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use std::time::Duration;

/// The window [`StatsQuery`] reports on unless told. Defaults to 5 minutes.
pub const STATS_WINDOW_DEFAULT: Duration = Duration::from_secs(300);
/// The longest window a [`StatsQuery`] takes: 31 days (rollups are kept for the worker's
/// stats retention, 24 hours by default, so a longer window sees no more).
pub const STATS_WINDOW_MAX: Duration = Duration::from_secs(31 * 86_400);

/// What to report on: a window (rounded up to whole minutes: the current minute and the ones
/// before it), and optionally only one queue or one kind.
///
/// ```
/// use std::time::Duration;
/// let q = haul::StatsQuery::default().with_window(Duration::from_secs(90)).with_queue("mail");
/// assert_eq!((q.minutes(), q.queue()), (2, Some("mail")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    window: Duration,
    queue: Option<String>,
    kind: Option<String>,
}

impl Default for StatsQuery {
    fn default() -> Self {
        StatsQuery { window: STATS_WINDOW_DEFAULT, queue: None, kind: None }
    }
}

impl StatsQuery {
    /// The window of the outcome counts, rates and percentiles. Defaults to
    /// [`STATS_WINDOW_DEFAULT`]; at least 1 minute, at most [`STATS_WINDOW_MAX`].
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Only this queue. Defaults to every queue.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Only this kind. Defaults to every kind.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// The window asked for.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The minute buckets the window covers: the current one and those before it.
    pub fn minutes(&self) -> i32 {
        self.window.as_secs().div_ceil(60).clamp(1, STATS_WINDOW_MAX.as_secs() / 60) as i32
    }

    /// The queue asked for, if any.
    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    /// The kind asked for, if any.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let w = self.window;
        if w < Duration::from_secs(1) || w > STATS_WINDOW_MAX {
            let reason = format!("{w:?} is not in 1 s..={STATS_WINDOW_MAX:?}");
            return Err(Error::InvalidConfig { setting: "StatsQuery::with_window", reason });
        }
        Ok(())
    }
}

/// The numbers of one queue and kind, of one queue (`kind` is `None`), or of everything
/// (both `None`). Durations are in seconds in JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatsRow {
    /// The queue; `None` in the total.
    pub queue: Option<String>,
    /// The kind; `None` in a queue's row and the total.
    pub kind: Option<String>,
    /// Jobs in each state now (see [`Stats::estimated`]).
    pub depth: JobCounts,
    /// How long the oldest available job has been due (now − its `run_at`); `None` when none
    /// is available. Per kind only when the depth is exact.
    #[serde(serialize_with = "opt_secs")]
    pub oldest_available: Option<Duration>,
    /// Jobs in the dead letter now (`depth.discarded`).
    pub dead_letters: i64,
    /// Attempts that ended in the window, by outcome.
    pub outcomes: OutcomeCounts,
    /// Completed jobs per second over the window.
    pub throughput: f64,
    /// Share of the window's attempts that failed (retried or discarded), 0 to 1; `None`
    /// without attempts.
    pub error_rate: Option<f64>,
    /// Handler run time of the window's attempts.
    pub run_time: Option<Percentiles>,
    /// Time from due (`run_at`) to claim of the window's attempts.
    pub queue_wait: Option<Percentiles>,
}

/// Attempts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OutcomeCounts {
    /// Succeeded.
    pub completed: i64,
    /// Failed and will run again.
    pub retried: i64,
    /// Snoozed.
    pub snoozed: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Landed in the dead letter.
    pub discarded: i64,
}

impl OutcomeCounts {
    /// Attempts with any outcome.
    pub fn attempts(&self) -> i64 {
        self.completed + self.retried + self.snoozed + self.cancelled + self.discarded
    }

    pub(crate) fn add(&mut self, o: &OutcomeCounts) {
        self.completed += o.completed;
        self.retried += o.retried;
        self.snoozed += o.snoozed;
        self.cancelled += o.cancelled;
        self.discarded += o.discarded;
    }
}

/// Percentiles of durations, each within
/// [`STATS_ERROR_BOUND`](crate::STATS_ERROR_BOUND) of the true one (from 1 µs to 19 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Percentiles {
    /// Median.
    #[serde(serialize_with = "secs")]
    pub p50: Duration,
    /// 95th percentile.
    #[serde(serialize_with = "secs")]
    pub p95: Duration,
    /// 99th percentile.
    #[serde(serialize_with = "secs")]
    pub p99: Duration,
}

/// What [`Client::stats`](crate::Client::stats) answers: a row per queue and kind, per queue,
/// and in all.
///
/// Depth and dead letters are read from the jobs table now. On a table of up to
/// 50,000 rows they are exact; on a larger one, the states in [`Stats::estimated`] are
/// estimated from a sample of about 400 of the table's pages, while running jobs (up to
/// 5,000) and dead letters (up to 20,000) stay exact, read from their indexes. The oldest available age
/// of each queue is always exact. Outcomes and percentiles come from the rollups the workers
/// write every few seconds (`WorkerConfig::with_stats_flush_interval`), so they lag by up to
/// that long.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// The database's time of the reading.
    pub at: DateTime<Utc>,
    /// Start of the window: the start of its first minute.
    pub since: DateTime<Utc>,
    /// The window the outcomes and rates cover (`at - since`): the minutes asked for,
    /// the current one only partly.
    #[serde(serialize_with = "secs")]
    pub window: Duration,
    /// States whose depth is an estimate (empty: every count is exact).
    pub estimated: Vec<JobState>,
    /// One row per queue and kind, by queue then kind.
    pub rows: Vec<StatsRow>,
    /// One row per queue, by name.
    pub queues: Vec<StatsRow>,
    /// Everything the query covers.
    pub total: StatsRow,
}

fn secs<S: Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn opt_secs<S: Serializer>(d: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}
