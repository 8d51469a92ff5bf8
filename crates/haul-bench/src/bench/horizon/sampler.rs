//! The held-horizon run's samples: per interval, jobs enqueued, dequeued (handler starts) and
//! completed per second, pickup P50/P99/max, the mean claim statement time; at its end, the
//! queue's depth, the jobs table's size and dead tuples, and the oldest snapshot's age. Every
//! pickup latency also goes into a histogram of the whole run.

use crate::bench::pg::Db;
use crate::bench::probe::Probe;
use crate::bench::stats::{pct, round2};
use anyhow::{Context, Result};
use haul::StatsSnapshot;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Longest pickup latency the run's histogram tells apart (longer ones count as this), µs.
const PICKUP_MAX_US: u64 = 3_600_000_000;

/// One sample: the interval `(t_s - interval_s, t_s]` of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// End of the interval, seconds from the producers' start.
    pub t_s: f64,
    /// Length of the interval.
    pub interval_s: f64,
    /// Jobs the producers sent per second.
    pub enqueued_per_s: f64,
    /// Handler starts per second.
    pub dequeued_per_s: f64,
    /// Jobs completed (committed) per second.
    pub completed_per_s: f64,
    /// Jobs sent so far.
    pub enqueued: u64,
    /// Jobs completed so far.
    pub completed: u64,
    /// Jobs `available` at the interval's end.
    pub available: i64,
    /// Jobs `running` at the interval's end.
    pub running: i64,
    /// Pickup latencies measured in the interval.
    pub pickup_n: usize,
    /// Median pickup latency (insert call → handler start), ms.
    pub pickup_p50_ms: Option<f64>,
    /// 99th percentile pickup latency, ms.
    pub pickup_p99_ms: Option<f64>,
    /// Longest pickup latency, ms.
    pub pickup_max_ms: Option<f64>,
    /// Jobs picked up whose send time had left the probe's ring (two minutes of jobs), so
    /// their latency is not counted.
    pub pickup_stale: u64,
    /// Claim statements per second.
    pub claims_per_s: f64,
    /// Mean claim statement time, ms (none when no claim ran).
    pub fetch_mean_ms: Option<f64>,
    /// `pg_total_relation_size` of the jobs table (heap, indexes, TOAST).
    pub table_bytes: i64,
    /// `pg_stat_user_tables.n_dead_tup` of the jobs table (the statistics lag by up to a
    /// second or so, and vacuum resets them).
    pub dead_tuples: i64,
    /// Age in transactions of the oldest `backend_xmin` of another session of the database.
    pub xmin_age: i64,
    /// Age in seconds of that session's transaction.
    pub oldest_xact_s: f64,
}

impl Sample {
    /// Jobs waiting or running.
    pub fn depth(&self) -> i64 {
        self.available + self.running
    }
}

/// Takes samples, each covering the time since the previous one.
pub struct Sampler {
    last_t: f64,
    last_enqueued: u64,
    last_handled: u64,
    last_completed: u64,
    last_fetches: u64,
    last_fetch_total: Duration,
    run: Histogram<u64>,
}

impl Sampler {
    /// A sampler whose first interval starts at 0.
    pub fn new() -> Result<Sampler> {
        Ok(Sampler {
            last_t: 0.0,
            last_enqueued: 0,
            last_handled: 0,
            last_completed: 0,
            last_fetches: 0,
            last_fetch_total: Duration::ZERO,
            run: Histogram::new_with_bounds(1, PICKUP_MAX_US, 3).context("the pickup histogram")?,
        })
    }

    /// The sample ending now, `t` seconds into the run.
    pub async fn take(&mut self, t: f64, db: &Db, stats: StatsSnapshot, probe: &Probe) -> Result<Sample> {
        let log = probe.pickup().context("the horizon probe logs pickups")?;
        let (mut lat, stale) = log.take();
        lat.sort_by(f64::total_cmp);
        lat.iter().for_each(|ms| self.run.saturating_record((ms * 1e3).round().max(1.0) as u64));
        let (enqueued, handled) = (log.produced(), probe.handled());
        let (available, running) = db.depth().await?;
        let (table_bytes, dead_tuples) = (db.table_bytes().await?, db.dead_tuples().await?);
        let (xmin_age, oldest_xact_s) = db.oldest_snapshot().await?;
        let interval = (t - self.last_t).max(1e-9);
        let per_s = |now: u64, before: u64| round2(now.saturating_sub(before) as f64 / interval);
        let pick = |p: f64| (!lat.is_empty()).then(|| round2(pct(&lat, p)));
        let sample = Sample {
            t_s: round2(t),
            interval_s: round2(interval),
            enqueued_per_s: per_s(enqueued, self.last_enqueued),
            dequeued_per_s: per_s(handled, self.last_handled),
            completed_per_s: per_s(stats.completed, self.last_completed),
            enqueued,
            completed: stats.completed,
            available,
            running,
            pickup_n: lat.len(),
            pickup_p50_ms: pick(50.0),
            pickup_p99_ms: pick(99.0),
            pickup_max_ms: pick(100.0),
            pickup_stale: stale,
            claims_per_s: per_s(stats.fetches, self.last_fetches),
            fetch_mean_ms: self.fetch_mean_ms(&stats),
            table_bytes,
            dead_tuples,
            xmin_age,
            oldest_xact_s: round2(oldest_xact_s.max(0.0)),
        };
        (self.last_t, self.last_enqueued, self.last_handled) = (t, enqueued, handled);
        self.last_completed = stats.completed;
        (self.last_fetches, self.last_fetch_total) = (stats.fetches, stats.fetch_total);
        Ok(sample)
    }

    /// Pickup P50, P99 and max over the whole run so far, ms (none before any pickup).
    pub fn run_pickup(&self) -> Option<[f64; 3]> {
        let ms = |us: u64| round2(us as f64 / 1e3);
        let h = &self.run;
        (!h.is_empty()).then(|| [ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)), ms(h.max())])
    }

    /// Mean claim statement time since the last sample, ms.
    fn fetch_mean_ms(&self, stats: &StatsSnapshot) -> Option<f64> {
        (stats.fetches > self.last_fetches).then(|| {
            let n = (stats.fetches - self.last_fetches) as f64;
            round2(stats.fetch_total.saturating_sub(self.last_fetch_total).as_secs_f64() * 1e3 / n)
        })
    }
}
