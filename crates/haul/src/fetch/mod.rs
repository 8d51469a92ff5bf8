//! Stage 3, fetch: a queue's producers (one, or a few for busy queues) each claim up to the
//! queue's free slots in one statement (`job_get_available`, `FOR UPDATE SKIP LOCKED`) and
//! start a task per job. A producer wakes on a notification, on freed slots while jobs wait,
//! and on a poll tick (the correctness path). Several producers keep claims in flight while
//! the previous batch is dispatched and completed. Claims resume after the last claimed key
//! ([`cursor`]), so they do not step over the index entries of jobs claimed before.

mod cursor;

use crate::db::ClaimedJob;
use crate::execute::{Kill, execute};
use crate::service::{Backoff, Throttle};
use crate::worker::Shared;
use cursor::{Cursor, Scan};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A queue as this worker runs it: its free slots and the signal that wakes its producer.
pub(crate) struct QueueHandle {
    pub name: Arc<str>,
    pub concurrency: usize,
    free: AtomicUsize,
    /// Set by a notification, a catch-up after reconnecting, or a test.
    wake: Notify,
    /// Set each time a slot frees.
    released: Notify,
    cursor: Cursor,
}

impl QueueHandle {
    pub(crate) fn new(name: &str, concurrency: usize) -> Self {
        QueueHandle {
            name: name.into(),
            concurrency,
            free: AtomicUsize::new(concurrency),
            wake: Notify::new(),
            released: Notify::new(),
            cursor: Cursor::default(),
        }
    }

    /// Asks the producer to fetch now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    fn free(&self) -> usize {
        self.free.load(Ordering::Acquire)
    }

    /// Takes up to `max` free slots for a claim; returns how many it took.
    fn reserve(&self, max: usize) -> usize {
        let took = self.free.fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| Some(f - f.min(max)));
        took.map_or(0, |f| f.min(max))
    }

    /// Gives back slots a claim reserved but did not fill.
    fn unreserve(&self, n: usize) {
        if n > 0 {
            self.free.fetch_add(n, Ordering::AcqRel);
            self.released.notify_one();
        }
    }

    fn release(&self) {
        self.free.fetch_add(1, Ordering::AcqRel);
        self.released.notify_one();
    }
}

/// Claims and starts jobs for one queue until `stop` fires.
pub(crate) async fn run_producer<S: Clone + Send + Sync + 'static>(
    shared: Arc<Shared<S>>,
    q: Arc<QueueHandle>,
    stop: CancellationToken,
) {
    let cfg = &shared.core.config;
    let min_batch = (q.concurrency.min(cfg.fetch_batch_max) / 4).max(1);
    let mut poll = tokio::time::interval(cfg.fetch_poll_interval);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut backoff, mut throttle) = (Backoff::default(), Throttle::default());
    let mut backlog = true;
    // When to look before the cursor again after a keyset claim came back short.
    let mut recheck: Option<Instant> = None;
    while !stop.is_cancelled() {
        if backlog && q.free() > 0 {
            gather_slots(&q, min_batch, cfg.fetch_cooldown, &stop).await;
            let want = q.reserve(cfg.fetch_batch_max);
            if want == 0 {
                continue; // another producer of this queue took the slots
            }
            recheck = None;
            match claim(&shared, &q, want).await {
                Ok((jobs, scan)) => {
                    backoff.reset();
                    let filled = jobs.len() == want;
                    q.unreserve(want - jobs.len());
                    start_jobs(&shared, &q, jobs);
                    if filled {
                        continue;
                    }
                    // Came back short: the queue is drained, or (after a keyset claim) only up
                    // to the cursor; a full scan then runs now if due, else when it is.
                    recheck = match scan {
                        Scan::Full => None,
                        Scan::After(_) => q.cursor.full_due_after(Instant::now()),
                    };
                    backlog = matches!(scan, Scan::After(_)) && recheck.is_none();
                    if backlog {
                        continue;
                    }
                }
                Err(e) => {
                    q.unreserve(want);
                    throttle.warn(
                        || tracing::warn!(queue = %q.name, error = %e, "fetch failed; retrying with backoff"),
                    );
                    tokio::select! { () = backoff.wait() => {}, () = stop.cancelled() => {} }
                    continue;
                }
            }
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = q.wake.notified() => backlog = true,
            () = q.released.notified(), if backlog => {}
            _ = poll.tick() => backlog = true,
            () = tokio::time::sleep_until(recheck.unwrap_or_else(Instant::now)), if recheck.is_some() => {
                recheck = None;
                backlog = true;
            }
        }
    }
}

/// Claims up to `want` jobs in one statement, from the cursor or the queue's start, timing it
/// for the worker's stats and moving the cursor.
async fn claim<S>(
    shared: &Shared<S>,
    q: &QueueHandle,
    want: usize,
) -> crate::Result<(Vec<ClaimedJob>, Scan)> {
    let core = &shared.core;
    let started = Instant::now();
    let scan = q.cursor.plan(started);
    let after = match scan {
        Scan::Full => None,
        Scan::After(k) => Some(k),
    };
    let lease = lease_ms(core.config.lease);
    let jobs = core.db.job_get_available(&q.name, want as i64, lease, &core.worker_id, after).await?;
    let ended = Instant::now();
    core.stats.record_fetch(ended - started);
    q.cursor.record(scan, started, ended, jobs.iter().map(ClaimedJob::key).max());
    Ok((jobs, scan))
}

/// With only a few free slots, waits up to `cooldown` for more, so a busy queue fetches in
/// batches instead of one job per freed slot.
async fn gather_slots(q: &QueueHandle, min: usize, cooldown: Duration, stop: &CancellationToken) {
    if q.free() >= min || cooldown.is_zero() {
        return;
    }
    let deadline = tokio::time::sleep(cooldown);
    tokio::pin!(deadline);
    while q.free() < min {
        tokio::select! {
            () = &mut deadline => return,
            () = stop.cancelled() => return,
            () = q.released.notified() => {}
        }
    }
}

fn start_jobs<S: Clone + Send + Sync + 'static>(
    shared: &Arc<Shared<S>>,
    q: &Arc<QueueHandle>,
    jobs: Vec<ClaimedJob>,
) {
    let jobs = jobs.into_iter().map(|job| (job.id, job.attempt, job));
    shared.core.running.start_many(jobs, |job, kill| {
        let guard = SlotGuard { shared: shared.clone(), q: q.clone(), id: job.id, kill: kill.clone() };
        let task = tokio::spawn(async move {
            let attempt = execute(&guard.shared, job, guard.q.name.clone(), kill).await;
            match guard.shared.completer.send(attempt).await {
                Ok(()) => guard.kill.hand_over(),
                Err(_) => {
                    tracing::error!(job_id = guard.id, "completer stopped before this outcome was written")
                }
            }
        });
        task.abort_handle()
    });
}

/// Frees the job's slot once its outcome is handed to the completer (which forgets the
/// attempt after writing it), or forgets the attempt at once if its task ended without one.
struct SlotGuard<S> {
    shared: Arc<Shared<S>>,
    q: Arc<QueueHandle>,
    id: i64,
    kill: Arc<Kill>,
}

impl<S> Drop for SlotGuard<S> {
    fn drop(&mut self) {
        if !self.kill.handed_over() {
            self.shared.core.running.finish(self.id);
        }
        self.q.release();
    }
}

pub(crate) fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}
