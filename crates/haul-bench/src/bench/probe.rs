//! The bench's job kind (`noop`, args `{"n": i}`), its no-op handler, and the probe the
//! handler writes into: how many jobs ran, when each one started, and (W5, horizon) its pickup latency.

use haul::{Job, JobContext, JobError};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The peers' job: a no-op with payload `{"n": i}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Noop {
    /// The job's number, from 0.
    pub n: u64,
}

impl Job for Noop {
    const KIND: &'static str = "noop";
}

/// The handler: notes that job `n` started, and does nothing else.
pub async fn noop(ctx: JobContext<Arc<Probe>>, job: Noop) -> Result<(), JobError> {
    ctx.state().seen(job.n);
    Ok(())
}

/// What the handler records, shared by the bench and the worker. Times are nanoseconds on
/// one monotonic clock (an [`Instant`] taken when the probe was made).
pub struct Probe {
    epoch: Instant,
    handled: AtomicU64,
    duplicates: AtomicU64,
    /// Start time + 1 of job `n` at index `n` (0: not started); empty when not tracked.
    starts: Vec<AtomicU64>,
    pickup: Option<PickupLog>,
}

impl Probe {
    /// A probe that only counts (W6).
    pub fn counting() -> Arc<Probe> {
        Arc::new(Probe::new(0, None))
    }

    /// A probe that records when each of jobs `0..jobs` started (W3, W4).
    pub fn tracking(jobs: u64) -> Arc<Probe> {
        Arc::new(Probe::new(jobs as usize, None))
    }

    /// A probe that logs pickup latencies against send times kept in a ring of `ring` slots (W5).
    fn with_pickup(ring: usize) -> Arc<Probe> {
        Arc::new(Probe::new(0, Some(PickupLog::new(ring))))
    }

    /// A probe with a pickup log whose ring holds two minutes of jobs at `rate` per second
    /// (as a power of two, at least 65,536).
    pub fn with_pickup_at(rate: f64) -> Arc<Probe> {
        Probe::with_pickup(((rate * 120.0) as usize).next_power_of_two().clamp(1 << 16, 1 << 24))
    }

    /// A probe tracking `tracked` jobs' start times, with an optional pickup log.
    fn new(tracked: usize, pickup: Option<PickupLog>) -> Probe {
        Probe {
            epoch: Instant::now(),
            handled: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            starts: (0..tracked).map(|_| AtomicU64::new(0)).collect(),
            pickup,
        }
    }

    /// Nanoseconds since the probe was made.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Handler calls so far.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    /// Tracked jobs whose handler ran more than once.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// When tracked job `n` started (ns), if it did.
    pub fn started_at(&self, n: usize) -> Option<u64> {
        self.starts.get(n).map(|s| s.load(Ordering::Acquire)).filter(|&t| t > 0).map(|t| t - 1)
    }

    /// Tracked jobs that never started.
    pub fn missing(&self) -> usize {
        self.starts.iter().filter(|s| s.load(Ordering::Acquire) == 0).count()
    }

    /// The pickup log, for W5's producer and sampler.
    pub fn pickup(&self) -> Option<&PickupLog> {
        self.pickup.as_ref()
    }

    /// Called by the handler as job `n` starts.
    fn seen(&self, n: u64) {
        let now = self.now_ns();
        if let Some(slot) = self.starts.get(n as usize)
            && slot.swap(now + 1, Ordering::AcqRel) != 0
        {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(log) = &self.pickup {
            log.picked(n, now);
        }
        self.handled.fetch_add(1, Ordering::Release);
    }
}

/// W5's pickup latencies: the producer notes when it sent each job into a ring indexed by
/// `n % len`; the handler turns that into a latency, collected until the sampler takes them.
pub struct PickupLog {
    sent: Vec<AtomicU64>,
    produced: AtomicU64,
    /// Insert calls the producer has made.
    sends: AtomicU64,
    latencies_ms: Mutex<Vec<f64>>,
    stale: AtomicU64,
}

impl PickupLog {
    /// A log whose ring holds `ring` send times.
    fn new(ring: usize) -> PickupLog {
        PickupLog {
            sent: (0..ring.max(1)).map(|_| AtomicU64::new(0)).collect(),
            produced: AtomicU64::new(0),
            sends: AtomicU64::new(0),
            latencies_ms: Mutex::new(Vec::new()),
            stale: AtomicU64::new(0),
        }
    }

    /// Notes that jobs `range` (numbered consecutively from 0) are sent at `at_ns`.
    pub fn sending(&self, range: Range<u64>, at_ns: u64) {
        // publish the count first: a handler that then reads an overwritten slot sees it is stale
        self.produced.fetch_max(range.end, Ordering::SeqCst);
        self.sends.fetch_add(1, Ordering::Relaxed);
        let len = self.sent.len() as u64;
        for n in range {
            self.sent[(n % len) as usize].store(at_ns, Ordering::SeqCst);
        }
    }

    /// Jobs sent so far.
    pub fn produced(&self) -> u64 {
        self.produced.load(Ordering::SeqCst)
    }

    /// Insert calls noted so far (one per `sending`).
    pub fn sends(&self) -> u64 {
        self.sends.load(Ordering::Relaxed)
    }

    /// Called by the handler: logs job `n`'s pickup latency, or counts it stale.
    fn picked(&self, n: u64, at_ns: u64) {
        let len = self.sent.len() as u64;
        let sent = self.sent[(n % len) as usize].load(Ordering::SeqCst);
        if self.produced.load(Ordering::SeqCst) > n + len {
            // the ring has wrapped past this job: its send time is gone
            self.stale.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let ms = at_ns.saturating_sub(sent) as f64 / 1e6;
        self.latencies_ms.lock().expect("pickup lock").push(ms);
    }

    /// The latencies logged since the last call, and how many jobs were too old to measure.
    pub fn take(&self) -> (Vec<f64>, u64) {
        let lat = std::mem::take(&mut *self.latencies_ms.lock().expect("pickup lock"));
        (lat, self.stale.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickup_ring_spots_wrapped_jobs() {
        let log = PickupLog::new(4);
        log.sending(0..4, 1_000_000);
        log.picked(1, 3_000_000);
        log.sending(4..6, 5_000_000);
        log.picked(5, 6_000_000);
        log.picked(0, 7_000_000); // its slot was reused by job 4, but only 6 sent: 6 > 0 + 4
        let (lat, stale) = log.take();
        assert_eq!(lat, vec![2.0, 1.0]);
        assert_eq!(stale, 1);
    }

    #[test]
    fn tracking_counts_duplicates_and_missing() {
        let p = Probe::tracking(3);
        p.seen(0);
        p.seen(0);
        p.seen(2);
        assert_eq!((p.handled(), p.duplicates(), p.missing()), (3, 1, 1));
        assert!(p.started_at(0).is_some() && p.started_at(1).is_none());
    }
}
