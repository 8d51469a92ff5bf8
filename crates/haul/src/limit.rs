//! Global limits on a queue, shared by every worker process through the `limits` table: at
//! most N running jobs (concurrency) and at most N starts in any window of a period (rate),
//! for the whole queue or for each partition of it (by kind, by an args key, or both).
//! This module holds the configuration ([`Limit`], [`QueueLimit`]) and its validation; the
//! claim that enforces it is `fetch::limited`'s.

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// The longest rate period: a day.
pub const LIMIT_PERIOD_MAX: Duration = Duration::from_secs(24 * 3600);
/// The largest concurrency or rate (the database stores a 32-bit integer).
pub const LIMIT_MAX: u32 = i32::MAX as u32;
/// The longest args key a limit may be partitioned by.
pub const LIMIT_ARG_MAX: usize = 128;

/// A limit on a queue's jobs, enforced in the database across every worker.
///
/// ```
/// use haul::Limit;
/// use std::time::Duration;
/// // at most 10 running and 100 starts a minute, per tenant
/// let limit = Limit::concurrency(10)
///     .with_rate(100, Duration::from_secs(60))
///     .partitioned_by_arg("tenant");
/// assert_eq!(limit.to_string(), "concurrency 10, rate 100 per 60s, per args.tenant");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Limit {
    /// At most this many running jobs (per partition).
    pub concurrency: Option<u32>,
    /// At most this many starts in any window of its period (per partition).
    pub rate: Option<Rate>,
    /// What each gets its own limit; the whole queue by default.
    pub partition: Partition,
}

/// A rate: at most `starts` handler starts in any window of length `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rate {
    /// Starts allowed in a window.
    pub starts: u32,
    /// The window's length (whole milliseconds, up to [`LIMIT_PERIOD_MAX`]).
    pub per: Duration,
}

/// What splits a limited queue into partitions, each with the whole limit to itself: the
/// job's kind, the value of a top-level args key (jobs without the key share one
/// partition), both, or neither (the whole queue is one partition).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Partition {
    /// Each kind has its own limit.
    pub by_kind: bool,
    /// Each value of this args key has its own limit.
    pub by_arg: Option<String>,
}

impl Partition {
    /// True when the whole queue is one partition.
    pub fn is_whole_queue(&self) -> bool {
        !self.by_kind && self.by_arg.is_none()
    }
}

impl Limit {
    /// At most `n` running jobs.
    pub fn concurrency(n: u32) -> Self {
        Limit { concurrency: Some(n), rate: None, partition: Partition::default() }
    }

    /// At most `starts` starts in any window of length `per`.
    pub fn rate(starts: u32, per: Duration) -> Self {
        Limit { concurrency: None, rate: Some(Rate { starts, per }), partition: Partition::default() }
    }

    /// Also at most `n` running jobs.
    pub fn with_concurrency(mut self, n: u32) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// Also at most `starts` starts in any window of length `per`.
    pub fn with_rate(mut self, starts: u32, per: Duration) -> Self {
        self.rate = Some(Rate { starts, per });
        self
    }

    /// Gives each value of the top-level args key `key` the whole limit.
    pub fn partitioned_by_arg(mut self, key: impl Into<String>) -> Self {
        self.partition.by_arg = Some(key.into());
        self
    }

    /// Gives each job kind the whole limit.
    pub fn partitioned_by_kind(mut self) -> Self {
        self.partition.by_kind = true;
        self
    }

    /// Checks the limit for `queue` as [`Client::set_limit`](crate::Client::set_limit) does
    /// before any SQL; [`Error::InvalidLimit`] says what is wrong.
    ///
    /// ```
    /// assert!(haul::Limit::concurrency(0).validate("mail").is_err());
    /// ```
    pub fn validate(&self, queue: &str) -> Result<()> {
        let bad =
            |reason: &str| Err(Error::InvalidLimit { queue: queue.to_owned(), reason: reason.to_owned() });
        if self.concurrency.is_none() && self.rate.is_none() {
            return bad("give a concurrency, a rate or both (Limit::concurrency, Limit::rate)");
        }
        if self.concurrency.is_some_and(|n| n == 0 || n > LIMIT_MAX) {
            return bad("a concurrency must be 1 to 2147483647; pause the queue to run none");
        }
        if let Some(r) = self.rate {
            if r.starts == 0 || r.starts > LIMIT_MAX {
                return bad("a rate must allow 1 to 2147483647 starts; pause the queue to run none");
            }
            if r.per.as_millis() == 0 || r.per > LIMIT_PERIOD_MAX || r.per.subsec_nanos() % 1_000_000 != 0 {
                return bad("a rate's period must be whole milliseconds, from 1 ms to 24 h");
            }
        }
        match &self.partition.by_arg {
            Some(k) if k.is_empty() || k.len() > LIMIT_ARG_MAX || k.contains('\0') => {
                bad("a partition key must be 1 to 128 bytes long, without NUL")
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.concurrency {
            parts.push(format!("concurrency {n}"));
        }
        if let Some(r) = self.rate {
            parts.push(format!("rate {} per {}", r.starts, period(r.per)));
        }
        let mut by = Vec::new();
        if self.partition.by_kind {
            by.push("kind".to_owned());
        }
        if let Some(k) = &self.partition.by_arg {
            by.push(format!("args.{k}"));
        }
        if !by.is_empty() {
            parts.push(format!("per {}", by.join("+")));
        }
        f.write_str(&parts.join(", "))
    }
}

/// `per` as the CLI reads it: whole seconds as `60s`, else milliseconds as `250ms`.
fn period(per: Duration) -> String {
    if per.subsec_millis() == 0 { format!("{}s", per.as_secs()) } else { format!("{}ms", per.as_millis()) }
}

/// A queue's stored limit. See [`Client::limits`](crate::Client::limits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct QueueLimit {
    /// The queue.
    pub queue: String,
    /// Its limit.
    pub limit: Limit,
    /// When the limit was last set (database time).
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(limit: Limit) -> String {
        match limit.validate("q") {
            Err(Error::InvalidLimit { reason, .. }) => reason,
            other => panic!("expected InvalidLimit, got {other:?}"),
        }
    }

    #[test]
    fn a_limit_must_bound_something_within_range() {
        let none = Limit { concurrency: None, rate: None, partition: Partition::default() };
        assert!(reason(none).contains("give a concurrency"));
        assert!(reason(Limit::concurrency(0)).contains("concurrency must be"));
        assert!(reason(Limit::rate(0, Duration::from_secs(1))).contains("rate must allow"));
        assert!(reason(Limit::rate(5, Duration::ZERO)).contains("period"));
        assert!(reason(Limit::rate(5, Duration::from_micros(1500))).contains("whole milliseconds"));
        assert!(reason(Limit::rate(5, LIMIT_PERIOD_MAX * 2)).contains("24 h"));
        assert!(reason(Limit::concurrency(1).partitioned_by_arg("")).contains("partition key"));
        assert!(Limit::rate(1000, Duration::from_secs(1)).partitioned_by_kind().validate("q").is_ok());
    }

    #[test]
    fn a_limit_reads_as_the_cli_writes_it() {
        let l = Limit::rate(5, Duration::from_millis(250)).partitioned_by_kind().partitioned_by_arg("t");
        assert_eq!(l.to_string(), "rate 5 per 250ms, per kind+args.t");
    }
}
