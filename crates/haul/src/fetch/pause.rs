//! Which of a worker's queues are paused, and which have a global limit: a `watch` of each
//! set that the producers gate their claims on (a paused queue claims nothing; its running
//! jobs go on; a limited queue claims through its limit). The watcher creates
//! the rows of the worker's queues and reads the paused set before the first claim, applies
//! each pause and resume the notifier relays, and re-reads the set on every poll tick (one
//! statement for all the worker's queues), so a missed notification costs at most a tick. On
//! the same tick it probes the worker's idle queues for available jobs (one statement) and
//! wakes those that have some: the poll that catches a missed insert notification.
//! Notifications and reads are applied by one task in the order they complete: a read that
//! began before a pause committed is applied before the pause's notification, never after.

use super::QueueHandle;
use crate::db::Db;
use crate::error::Result;
use crate::health::Marks;
use crate::notify::QueueSignal;
use crate::service::Throttle;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The names of the paused queues among a worker's.
pub(crate) type PausedSet = BTreeSet<String>;

/// The names of the queues with a global limit among a worker's.
pub(crate) type LimitedSet = BTreeSet<String>;

/// The watcher of a worker's paused queues.
pub(crate) struct PauseWatch {
    db: Db,
    /// The worker's queues, sorted.
    names: Vec<String>,
    interval: Duration,
    signals: mpsc::UnboundedReceiver<QueueSignal>,
    paused: watch::Sender<PausedSet>,
    limited: watch::Sender<LimitedSet>,
    /// Where each successful read is recorded as an answer from the database.
    health: Arc<Marks>,
    /// The worker's queues, probed on each tick while idle.
    queues: Vec<Arc<QueueHandle>>,
}

impl PauseWatch {
    /// A watcher of `names` that re-reads them every `interval` and applies `signals`.
    pub(crate) fn new(
        db: Db,
        names: impl IntoIterator<Item = String>,
        interval: Duration,
        signals: mpsc::UnboundedReceiver<QueueSignal>,
        health: Arc<Marks>,
    ) -> Self {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort_unstable();
        let (paused, limited) = (watch::Sender::default(), watch::Sender::default());
        PauseWatch { db, names, interval, signals, paused, limited, health, queues: Vec::new() }
    }

    /// Probes `queues` on each tick while they are idle, waking those with available jobs.
    pub(crate) fn probe(&mut self, queues: &[Arc<QueueHandle>]) {
        self.queues = queues.to_vec();
    }

    /// The paused set, for the producers' gates and the worker's owner.
    pub(crate) fn subscribe(&self) -> watch::Receiver<PausedSet> {
        self.paused.subscribe()
    }

    /// The limited set, for the producers.
    pub(crate) fn subscribe_limited(&self) -> watch::Receiver<LimitedSet> {
        self.limited.subscribe()
    }

    /// Creates the rows of the worker's queues and reads which are paused and which are
    /// limited (before any claim).
    pub(crate) async fn prepare(&self) -> Result<()> {
        self.db.queue_ensure_many(&self.names).await?;
        let paused = self.db.queue_paused_among(&self.names).await?;
        self.health.db_answered();
        self.replace(paused.into_iter().collect());
        self.read_limited().await
    }

    /// Re-reads which of the worker's queues are limited.
    async fn read_limited(&self) -> Result<()> {
        let limited: LimitedSet = self.db.limit_queues_among(&self.names).await?.into_iter().collect();
        self.limited.send_if_modified(|was| {
            let changed = *was != limited;
            *was = limited;
            changed
        });
        Ok(())
    }

    /// Applies signals and re-reads on every tick until `stop` fires.
    pub(crate) async fn run(mut self, stop: CancellationToken) {
        let start = tokio::time::Instant::now() + self.interval;
        let mut tick = tokio::time::interval_at(start, self.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut throttle = Throttle::default();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                Some(signal) = self.signals.recv() => match signal {
                    QueueSignal::Paused(q) => self.set(q, true),
                    QueueSignal::Resumed(q) => self.set(q, false),
                    QueueSignal::Missed => self.reread(&mut throttle).await,
                    QueueSignal::LimitChanged => self.reread(&mut throttle).await,
                },
                _ = tick.tick() => {
                    self.reread(&mut throttle).await;
                    self.wake_idle(&mut throttle).await;
                }
            }
        }
    }

    /// Wakes each idle queue that has an available job.
    async fn wake_idle(&self, throttle: &mut Throttle) {
        let idle: Vec<String> =
            self.queues.iter().filter(|q| q.wants_probe()).map(|q| q.name.to_string()).collect();
        if idle.is_empty() {
            return;
        }
        match self.db.job_queues_with_available(&idle).await {
            Ok(ready) => {
                // the idle queues' poll answered: as good as a claim that found nothing
                self.health.fetched(tokio::time::Instant::now());
                for q in self.queues.iter().filter(|q| ready.iter().any(|r| **r == *q.name)) {
                    q.wake.wake(None);
                }
            }
            Err(e) => throttle.warn(|| tracing::warn!(error = %e, "could not probe the idle queues")),
        }
    }

    /// Re-reads the limited set, then the paused set: a pause seen is never older than the
    /// limits read (an operator who limits then pauses a queue may wait for the pause).
    async fn reread(&self, throttle: &mut Throttle) {
        if let Err(e) = self.read_limited().await {
            throttle.warn(|| tracing::warn!(error = %e, "could not read which queues are limited"));
        }
        match self.db.queue_paused_among(&self.names).await {
            Ok(paused) => {
                self.health.db_answered();
                self.replace(paused.into_iter().collect());
            }
            Err(e) => throttle.warn(|| tracing::warn!(error = %e, "could not read which queues are paused")),
        }
    }

    fn set(&self, queue: String, paused: bool) {
        let mut now = self.paused.borrow().clone();
        if paused {
            now.insert(queue)
        } else {
            now.remove(&queue)
        };
        self.replace(now);
    }

    /// Publishes `now` if it differs, logging each queue that changed.
    fn replace(&self, now: PausedSet) {
        self.paused.send_if_modified(|was| {
            for q in now.difference(was) {
                tracing::info!(queue = %q, "queue paused: claiming none of its jobs until it is resumed");
            }
            for q in was.difference(&now) {
                tracing::info!(queue = %q, "queue resumed");
            }
            let changed = *was != now;
            *was = now;
            changed
        });
    }
}

/// A producer's view of whether its queue is paused.
pub(crate) struct Gate {
    paused: watch::Receiver<PausedSet>,
}

impl Gate {
    pub(crate) fn new(paused: watch::Receiver<PausedSet>) -> Self {
        Gate { paused }
    }

    pub(crate) fn is_paused(&self, queue: &str) -> bool {
        self.paused.borrow().contains(queue)
    }

    /// Returns once `queue` is not paused (never, if the watcher is gone: shutdown is under way).
    pub(crate) async fn resumed(&self, queue: &str) {
        let mut rx = self.paused.clone();
        if rx.wait_for(|p| !p.contains(queue)).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
