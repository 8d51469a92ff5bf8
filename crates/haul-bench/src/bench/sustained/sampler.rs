//! W5's samples: when to take them (every `sample` seconds, every `fine` second around the held
//! transaction) and what each holds: jobs/s done and sent in the interval, the producer's
//! insert calls/s and the claims/s, pickup P50/P99 of the interval, the mean fetch statement
//! time of the interval, the worker's cumulative fetch figures, the table's size and dead
//! tuples.

use crate::bench::pg::Db;
use crate::bench::probe::PickupLog;
use crate::bench::stats::{pct, round2};
use anyhow::Result;
use haul::StatsSnapshot;
use serde::Serialize;
use std::time::Duration;

/// How far before the hold the fine samples start.
const FINE_BEFORE: Duration = Duration::from_secs(5);
/// How far after the commit the fine samples go on.
const FINE_AFTER: Duration = Duration::from_secs(60);

/// One sample: the interval `(t_s - interval_s, t_s]` of a phase.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// End of the interval, seconds from the phase's start.
    pub t_s: f64,
    /// Length of the interval.
    pub interval_s: f64,
    /// Jobs completed (committed) per second in the interval.
    pub completed_per_s: f64,
    /// Jobs sent per second in the interval.
    pub produced_per_s: f64,
    /// The producer's insert calls per second in the interval.
    pub inserts_per_s: f64,
    /// Jobs whose pickup latency was measured in the interval.
    pub pickup_n: usize,
    /// Median pickup latency (insert call → handler start) in the interval, ms.
    pub pickup_p50_ms: Option<f64>,
    /// 99th percentile pickup latency in the interval, ms.
    pub pickup_p99_ms: Option<f64>,
    /// Jobs too old to measure (their send time had left the ring).
    pub pickup_stale: u64,
    /// Fetch statements since the worker started (cumulative).
    pub fetches: u64,
    /// Fetch statements per second in the interval (jobs per claim ≈ `completed_per_s` over this).
    pub claims_per_s: f64,
    /// Mean fetch statement time in the interval, ms (none when no fetch ran).
    pub fetch_mean_ms: Option<f64>,
    /// Median fetch statement time since the worker started (cumulative), ms.
    pub fetch_p50_ms: f64,
    /// 99th percentile fetch statement time since the worker started (cumulative), ms.
    pub fetch_p99_ms: f64,
    /// `pg_total_relation_size` of the jobs table.
    pub table_bytes: i64,
    /// `n_dead_tup` of the jobs table.
    pub dead_tuples: i64,
    /// Jobs sent but not yet completed.
    pub backlog: i64,
    /// `hold` when the interval's middle falls inside the held transaction.
    pub note: &'static str,
}

impl Sample {
    /// Start of the interval.
    pub fn start_s(&self) -> f64 {
        self.t_s - self.interval_s
    }
}

/// Takes samples, each covering the time since the previous one.
#[derive(Default)]
pub struct Sampler {
    last_t: f64,
    last_completed: u64,
    last_produced: u64,
    last_sends: u64,
    last_fetches: u64,
    last_fetch_total: Duration,
}

impl Sampler {
    /// The sample ending now, `t` seconds into the phase.
    pub async fn take(&mut self, t: f64, db: &Db, stats: StatsSnapshot, log: &PickupLog) -> Result<Sample> {
        let (mut lat, stale) = log.take();
        lat.sort_by(f64::total_cmp);
        let (produced, sends) = (log.produced(), log.sends());
        let (table_bytes, dead_tuples) = (db.table_bytes().await?, db.dead_tuples().await?);
        let interval = (t - self.last_t).max(1e-9);
        let per_s = |now: u64, before: u64| round2(now.saturating_sub(before) as f64 / interval);
        let pick = |p: f64| (!lat.is_empty()).then(|| round2(pct(&lat, p)));
        let ms = |d: Duration| round2(d.as_secs_f64() * 1e3);
        let sample = Sample {
            t_s: round2(t),
            interval_s: round2(interval),
            completed_per_s: per_s(stats.completed, self.last_completed),
            produced_per_s: per_s(produced, self.last_produced),
            inserts_per_s: per_s(sends, self.last_sends),
            pickup_n: lat.len(),
            pickup_p50_ms: pick(50.0),
            pickup_p99_ms: pick(99.0),
            pickup_stale: stale,
            fetches: stats.fetches,
            claims_per_s: per_s(stats.fetches, self.last_fetches),
            fetch_mean_ms: (stats.fetches > self.last_fetches).then(|| {
                let n = (stats.fetches - self.last_fetches) as f64;
                round2(stats.fetch_total.saturating_sub(self.last_fetch_total).as_secs_f64() * 1e3 / n)
            }),
            fetch_p50_ms: ms(stats.fetch_p50),
            fetch_p99_ms: ms(stats.fetch_p99),
            table_bytes,
            dead_tuples,
            backlog: produced as i64 - stats.completed as i64,
            note: "",
        };
        (self.last_t, self.last_completed, self.last_produced) = (t, stats.completed, produced);
        self.last_sends = sends;
        (self.last_fetches, self.last_fetch_total) = (stats.fetches, stats.fetch_total);
        Ok(sample)
    }
}

/// Sample times from the phase's start: every `sample`, every `fine` from a little before
/// `hold` (start, length) to a while after it, always one at the hold's start and end.
pub fn schedule(
    length: Duration,
    sample: Duration,
    fine: Duration,
    hold: Option<(Duration, Duration)>,
) -> Vec<Duration> {
    let mut points = Vec::new();
    let mut push_every = |from: Duration, to: Duration, step: Duration| {
        let mut t = from;
        while t < to {
            points.push(t);
            t += step;
        }
    };
    match hold {
        None => push_every(Duration::ZERO, length, sample),
        Some((start, len)) => {
            let fine_from = start.saturating_sub(FINE_BEFORE);
            let fine_to = (start + len + FINE_AFTER).min(length);
            push_every(Duration::ZERO, fine_from, sample);
            push_every(fine_from, fine_to, fine);
            push_every(fine_to, length, sample);
            points.extend([start, start + len]);
        }
    }
    points.push(length);
    points.retain(|t| !t.is_zero() && *t <= length);
    points.sort();
    points.dedup();
    points
}

#[cfg(test)]
mod tests {
    use super::schedule;
    use std::time::Duration;

    /// Whole seconds of each point.
    fn secs(v: &[Duration]) -> Vec<u64> {
        v.iter().map(|d| d.as_secs()).collect()
    }

    #[test]
    fn plain_schedule() {
        let s = schedule(Duration::from_secs(35), Duration::from_secs(10), Duration::from_secs(1), None);
        assert_eq!(secs(&s), [10, 20, 30, 35]);
    }

    #[test]
    fn fine_around_the_hold() {
        let (len, hold) =
            (Duration::from_secs(200), Some((Duration::from_secs(50), Duration::from_secs(30))));
        let s = schedule(len, Duration::from_secs(10), Duration::from_secs(1), hold);
        let s = secs(&s);
        assert_eq!(&s[..5], [10, 20, 30, 40, 45]);
        assert!(s.contains(&50) && s.contains(&80) && s.contains(&139) && s.contains(&140));
        assert_eq!(&s[s.len() - 3..], [180, 190, 200]);
    }
}
