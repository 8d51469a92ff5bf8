//! Numbers about the queue: a worker's own counters and run-time percentiles (in process, fed
//! after each completion commits), the rollups the completer feeds and the worker writes
//! ([`rollup`]), and the stats read from the database ([`Client::stats`](crate::Client::stats)).

mod depth;
mod histogram;
mod read;
mod report;
mod rollup;
mod timeline;

pub(crate) use depth::read as read_depth;
pub use histogram::ERROR_BOUND;
pub(crate) use read::read;
pub use report::{
    OutcomeCounts, Percentiles, STATS_WINDOW_DEFAULT, STATS_WINDOW_MAX, Stats, StatsQuery, StatsRow,
};
pub(crate) use rollup::{Rollups, Sample, to_batch};
pub use timeline::StatsMinute;
pub(crate) use timeline::read as read_timeline;

use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A worker's counters since it was built. Read a consistent copy with [`WorkerStats::snapshot`].
#[derive(Debug)]
pub struct WorkerStats {
    started: Instant,
    completed: AtomicU64,
    retried: AtomicU64,
    snoozed: AtomicU64,
    cancelled: AtomicU64,
    discarded: AtomicU64,
    rejected: AtomicU64,
    fetches: AtomicU64,
    empty_fetches: AtomicU64,
    fetch_total_us: AtomicU64,
    run_time_us: Mutex<Histogram<u64>>,
    fetch_us: Mutex<Histogram<u64>>,
}

/// A copy of [`WorkerStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Since the worker was built.
    pub elapsed: Duration,
    /// Attempts that succeeded.
    pub completed: u64,
    /// Attempts that failed and will run again.
    pub retried: u64,
    /// Attempts that snoozed.
    pub snoozed: u64,
    /// Jobs cancelled by their handler.
    pub cancelled: u64,
    /// Jobs that landed in the dead letter.
    pub discarded: u64,
    /// Outcomes refused by the fence (the attempt was no longer the running one).
    pub rejected: u64,
    /// Median handler run time.
    pub run_time_p50: Duration,
    /// 95th percentile handler run time.
    pub run_time_p95: Duration,
    /// 99th percentile handler run time.
    pub run_time_p99: Duration,
    /// Fetch statements run (each claims a batch).
    pub fetches: u64,
    /// Fetch statements that claimed nothing (another worker took the jobs first, or none were
    /// due): with `fetches`, the share of claims a fleet wastes.
    pub empty_fetches: u64,
    /// Median duration of a fetch statement.
    pub fetch_p50: Duration,
    /// 99th percentile duration of a fetch statement.
    pub fetch_p99: Duration,
    /// Time spent in fetch statements in all: with `fetches`, two snapshots give the mean
    /// fetch time over the interval between them.
    pub fetch_total: Duration,
}

impl StatsSnapshot {
    /// Attempts that reached an outcome.
    pub fn attempts(&self) -> u64 {
        self.completed + self.retried + self.snoozed + self.cancelled + self.discarded
    }

    /// Share of attempts that failed (retried or discarded), 0 to 1.
    pub fn error_rate(&self) -> f64 {
        let n = self.attempts();
        if n == 0 { 0.0 } else { (self.retried + self.discarded) as f64 / n as f64 }
    }
}

/// Which counter an applied outcome feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Completed,
    Retried,
    Snoozed,
    Cancelled,
    Discarded,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            started: Instant::now(),
            completed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            snoozed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            empty_fetches: AtomicU64::new(0),
            fetch_total_us: AtomicU64::new(0),
            run_time_us: Mutex::new(histogram()),
            fetch_us: Mutex::new(histogram()),
        }
    }
}

impl WorkerStats {
    pub(crate) fn record(&self, items: impl Iterator<Item = (Counted, Duration)>) {
        let mut hist = self.run_time_us.lock().expect("stats lock");
        for (counted, run_time) in items {
            self.counter(counted).fetch_add(1, Ordering::Relaxed);
            hist.saturating_record(micros(run_time));
        }
    }

    pub(crate) fn record_fetch(&self, took: Duration, claimed: usize) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        if claimed == 0 {
            self.empty_fetches.fetch_add(1, Ordering::Relaxed);
        }
        self.fetch_total_us.fetch_add(micros(took), Ordering::Relaxed);
        self.fetch_us.lock().expect("stats lock").saturating_record(micros(took));
    }

    pub(crate) fn record_rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::Relaxed);
    }

    fn counter(&self, c: Counted) -> &AtomicU64 {
        match c {
            Counted::Completed => &self.completed,
            Counted::Retried => &self.retried,
            Counted::Snoozed => &self.snoozed,
            Counted::Cancelled => &self.cancelled,
            Counted::Discarded => &self.discarded,
        }
    }

    /// The counters and percentiles now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let run = self.run_time_us.lock().expect("stats lock");
        let fetch = self.fetch_us.lock().expect("stats lock");
        StatsSnapshot {
            elapsed: self.started.elapsed(),
            completed: self.completed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            snoozed: self.snoozed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            run_time_p50: quantile(&run, 0.50),
            run_time_p95: quantile(&run, 0.95),
            run_time_p99: quantile(&run, 0.99),
            fetches: self.fetches.load(Ordering::Relaxed),
            empty_fetches: self.empty_fetches.load(Ordering::Relaxed),
            fetch_p50: quantile(&fetch, 0.50),
            fetch_p99: quantile(&fetch, 0.99),
            fetch_total: Duration::from_micros(self.fetch_total_us.load(Ordering::Relaxed)),
        }
    }
}

/// 1 µs to 1 day at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 86_400_000_000, 3).expect("valid bounds")
}

fn micros(d: Duration) -> u64 {
    d.as_micros().clamp(1, u128::from(u64::MAX)) as u64
}

fn quantile(h: &Histogram<u64>, q: f64) -> Duration {
    Duration::from_micros(if h.is_empty() { 0 } else { h.value_at_quantile(q) })
}
