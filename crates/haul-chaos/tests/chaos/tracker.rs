//! The faults of one scenario: each with the attempts it caught in flight (the only attempts
//! allowed to run twice), and how long until all their jobs were completed (the recovery),
//! measured by a background poller that reads the database every 50 ms.

use crate::store::{Attempt, POLL, Store};
use crate::verify::secs;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One fault the scenario caused.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What was done, e.g. "kill -9 chaos_a-w1-g1".
    pub what: String,
    /// When.
    pub at: Instant,
    /// The attempts it caught in flight.
    pub attempts: Vec<Attempt>,
    /// Those not yet seen ended (a released attempt's number is given back and reused, so an
    /// attempt counts as ended the first time it is seen not running).
    pending: HashSet<Attempt>,
    /// Time from the fault until none of those attempts was running any more (each finished,
    /// or was rescued from its dead or frozen worker).
    pub ended: Option<Duration>,
    /// Time from the fault until every one of those jobs was completed.
    pub healed: Option<Duration>,
}

/// What the tracker learned, once stopped.
#[derive(Debug, Default)]
pub struct Faults {
    /// Every fault, in order.
    pub list: Vec<Fault>,
    /// Attempts caught in flight by some fault, by job.
    pub in_flight: HashMap<i64, HashSet<i16>>,
}

impl Faults {
    /// Attempts caught in flight, over all faults (each attempt once).
    pub fn attempts(&self) -> usize {
        self.in_flight.values().map(HashSet::len).sum()
    }

    /// Each fault with the jobs it caught and how long they took to complete.
    pub fn detail(&self) -> String {
        let each = self.list.iter().map(|f| {
            let healed = f.healed.map_or_else(|| "never".to_owned(), secs);
            let ended = f.ended.map_or_else(|| "never".to_owned(), secs);
            format!("{} ({} in flight, ended in {ended}, completed in {healed})", f.what, f.attempts.len())
        });
        each.collect::<Vec<_>>().join(", ")
    }

    /// The slowest recovery (all caught jobs completed), if any fault caught a job.
    pub fn worst(&self) -> Option<Duration> {
        self.list.iter().filter(|f| !f.attempts.is_empty()).filter_map(|f| f.healed).max()
    }

    /// The slowest end of caught attempts (finished or rescued), if any fault caught a job.
    pub fn worst_ended(&self) -> Option<Duration> {
        self.list.iter().filter(|f| !f.attempts.is_empty()).filter_map(|f| f.ended).max()
    }
}

/// Records faults and watches their recovery. Cheap to clone.
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Mutex<Faults>>,
    stop: CancellationToken,
}

impl Tracker {
    /// Starts the poller on `store`.
    pub fn start(store: Store) -> (Self, JoinHandle<()>) {
        let tracker = Tracker { inner: Arc::default(), stop: CancellationToken::new() };
        let poller = tokio::spawn(poll(tracker.clone(), store));
        (tracker, poller)
    }

    /// Records a fault at `at` that caught `attempts` in flight.
    pub fn record(&self, what: impl Into<String>, at: Instant, attempts: &[Attempt]) {
        let mut inner = self.lock();
        for (id, attempt) in attempts {
            inner.in_flight.entry(*id).or_default().insert(*attempt);
        }
        let none = attempts.is_empty().then_some(Duration::ZERO);
        let (attempts, pending) = (attempts.to_vec(), attempts.iter().copied().collect());
        inner.list.push(Fault { what: what.into(), at, attempts, pending, ended: none, healed: none });
    }

    /// Counts `attempts` as caught in flight too (found after the fault, e.g. rescued from a
    /// frozen worker although its claim landed just after the harness looked).
    pub fn also_in_flight(&self, attempts: &[Attempt]) {
        let mut inner = self.lock();
        for (id, attempt) in attempts {
            inner.in_flight.entry(*id).or_default().insert(*attempt);
        }
    }

    /// Stops the poller (idempotent; [`Tracker::finish`] does it too).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Whether every fault so far has healed.
    pub fn all_healed(&self) -> bool {
        self.lock().list.iter().all(|f| f.healed.is_some())
    }

    /// Stops the poller after one last look, and returns what was learned.
    pub async fn finish(self, poller: JoinHandle<()>, store: &Store) -> Faults {
        self.stop.cancel();
        let _ = poller.await;
        let _ = self.look(store).await;
        std::mem::take(&mut *self.lock())
    }

    /// One look at the database: marks the faults whose caught attempts have all ended, and
    /// those whose jobs are all completed.
    ///
    /// Only the faults recorded before the queries are judged: one recorded meanwhile was not
    /// asked about, and would look healed at once.
    async fn look(&self, store: &Store) -> anyhow::Result<()> {
        let (asked, pending, ids): (usize, Vec<Attempt>, Vec<i64>) = {
            let inner = self.lock();
            let open: Vec<&Fault> = inner.list.iter().filter(|f| f.healed.is_none()).collect();
            let pending = open.iter().flat_map(|f| f.pending.iter().copied()).collect();
            (inner.list.len(), pending, open.iter().flat_map(|f| f.attempts.iter().map(|a| a.0)).collect())
        };
        if ids.is_empty() {
            return Ok(());
        }
        let running: HashSet<Attempt> = store.still_running(&pending).await?.into_iter().collect();
        let unfinished: HashSet<i64> = store.unfinished(&ids).await?.into_iter().collect();
        let mut inner = self.lock();
        for f in inner.list[..asked].iter_mut().filter(|f| f.healed.is_none()) {
            f.pending.retain(|a| running.contains(a));
            if f.ended.is_none() && f.pending.is_empty() {
                f.ended = Some(f.at.elapsed());
            }
            if f.attempts.iter().all(|(id, _)| !unfinished.contains(id)) {
                f.healed = Some(f.at.elapsed());
            }
        }
        Ok(())
    }

    /// The shared state (a panic elsewhere does not poison it for us).
    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Looks every [`POLL`] until stopped; a failed look (the database restarting) is skipped.
async fn poll(tracker: Tracker, store: Store) {
    loop {
        let _ = tracker.look(&store).await;
        tokio::select! {
            () = tracker.stop.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
