//! Stage 3, fetch: a queue's producers (one, or a few for busy queues) each claim up to their
//! share of the queue's free slots in one statement (`job_get_available`, `FOR UPDATE SKIP
//! LOCKED`) and start a task per job. A worker with several queues runs its plain queues'
//! claims together, one statement for every queue whose producers are waiting, one claim per
//! queue each ([`batch`]), so claims per second do not bound each queue on its own. A producer
//! wakes on a notification, on freed slots while jobs wait, and on the worker's poll (the correctness path: each tick, one statement probes
//! the idle queues for available jobs and wakes those that have some, so idle queues cost one
//! statement a tick in all, not a claim each). Several producers keep claims in flight while
//! the previous batch is dispatched and completed. Claims resume after the last claimed key
//! ([`cursor`]), so they do not step over the index entries of jobs claimed before. A paused
//! queue's producers claim nothing and wait for its resume ([`pause`]); the claim itself is the
//! same statement either way. A queue with a global limit is claimed through its own
//! transaction ([`limited`]), and a claim the limit held back waits for a completion or for the
//! rate's window to move, never spinning; other queues never run it.

mod batch;
mod cursor;
mod limited;
mod pause;

pub(crate) use batch::{ClaimBatch, Claimer};
pub(crate) use pause::{LimitedSet, PauseWatch, PausedSet};

use crate::attempts::{Kill, Running, lease_ms};
use crate::db::{ClaimedJob, Db};
use crate::execute::{Attempt, Executor, StartMark};
use crate::health::Marks;
use crate::notify::Wake;
use crate::service::{Backoff, Throttle};
use crate::stats::WorkerStats;
use cursor::{Cursor, Scan};
use pause::Gate;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A queue as this worker runs it: its free slots and the signal that wakes its producer.
pub(crate) struct QueueHandle {
    pub name: Arc<str>,
    pub concurrency: usize,
    free: AtomicUsize,
    /// Set by a notification or a catch-up after reconnecting (the notifier's handle), with
    /// the slot the announced jobs are in.
    wake: Arc<Wake>,
    /// Set each time a slot frees.
    released: Notify,
    cursor: Cursor,
    /// Whether the queue is paused.
    gate: Gate,
    /// Set while a producer of the queue waits with nothing to claim: the watcher's poll then
    /// probes the queue for jobs (see [`pause`]), instead of each producer claiming on its tick.
    idle: AtomicBool,
    /// The worker's limited queues.
    limited: watch::Receiver<LimitedSet>,
    /// Taken by the first of this queue's producers to claim it while limited: that one
    /// claims for every free slot, and the others wait while the queue stays limited rather
    /// than queue on the limit's lock behind it.
    limited_owner: AtomicBool,
}

impl QueueHandle {
    pub(crate) fn new(
        name: Arc<str>,
        concurrency: usize,
        wake: Arc<Wake>,
        paused: watch::Receiver<PausedSet>,
        limited: watch::Receiver<LimitedSet>,
    ) -> Self {
        QueueHandle {
            name,
            concurrency,
            free: AtomicUsize::new(concurrency),
            wake,
            released: Notify::new(),
            cursor: Cursor::default(),
            gate: Gate::new(paused),
            idle: AtomicBool::new(false),
            limited,
            limited_owner: AtomicBool::new(false),
        }
    }

    fn is_limited(&self) -> bool {
        self.limited.borrow().contains(&*self.name)
    }

    /// Makes the caller the queue's limited claimer if none is.
    fn own_limited(&self) -> bool {
        let took = self.limited_owner.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire);
        took.is_ok()
    }

    /// Returns when the queue is no longer limited.
    async fn unlimited(&self) {
        let mut rx = self.limited.clone();
        if rx.wait_for(|l| !l.contains(&*self.name)).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether the watcher's poll should probe this queue: a producer waits with nothing to
    /// claim, and the queue is neither paused nor limited (those wait on their own signals).
    fn wants_probe(&self) -> bool {
        self.idle.load(Ordering::Relaxed) && !self.is_paused() && !self.is_limited()
    }

    fn is_paused(&self) -> bool {
        self.gate.is_paused(&self.name)
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

/// The fetch stage: what a queue's producers and the job tasks they start use.
pub(crate) struct Producer<S> {
    pub db: Db,
    pub worker_id: Arc<str>,
    pub stats: Arc<WorkerStats>,
    pub running: Arc<Running>,
    pub executor: Arc<Executor<S>>,
    /// Where each job task hands its outcome; the channel closes when the last producer goes.
    pub completer: mpsc::Sender<Attempt>,
    pub batch_max: usize,
    /// Producers per queue (`fetch_concurrency`).
    pub producers: usize,
    pub poll_interval: Duration,
    pub cooldown: Duration,
    pub lease: Duration,
    /// Where the producers record their turns and successful claims.
    pub health: Arc<Marks>,
    /// Changes after each completion flush (a limited queue's running jobs may have finished).
    pub flushed: watch::Receiver<u64>,
    /// Where plain claims go when the worker has several queues (one statement for all of
    /// them); with one queue each claim is its own statement.
    pub batch: Option<Arc<ClaimBatch>>,
}

impl<S: Clone + Send + Sync + 'static> Producer<S> {
    /// Claims and starts jobs for `q` until `stop` fires.
    pub(crate) async fn run(self: Arc<Self>, q: Arc<QueueHandle>, stop: CancellationToken) {
        let mut poll = tokio::time::interval(self.poll_interval);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut retry = (Backoff::default(), Throttle::default());
        let mut backlog = true;
        // When to look before the cursor again after a keyset claim came back short.
        let mut recheck: Option<Instant> = None;
        // Set while a limited claim waits for a running job of its limit to complete.
        let (mut flushed, mut after_flush) = (self.flushed.clone(), false);
        // Whether a poll tick claims again (not while a rate's window is timed exactly).
        let mut tick_claims = true;
        let mut owner = false;
        while !stop.is_cancelled() {
            if q.is_limited() && !owner && !q.own_limited() {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = q.unlimited() => backlog = true,
                }
                continue;
            }
            owner = owner || q.is_limited();
            if q.is_paused() {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = q.gate.resumed(&q.name) => backlog = true,
                    at = poll.tick() => self.health.fetch_turned(at),
                }
                continue;
            }
            if backlog && q.free() > 0 {
                flushed.borrow_and_update();
                match self.fill(&q, &stop, &mut retry).await {
                    Fill::Again => {
                        (recheck, after_flush, tick_claims) = (None, false, true);
                        continue;
                    }
                    Fill::Wait { backlog: b, recheck: r, flushed: f, timed } => {
                        (backlog, recheck, after_flush, tick_claims) = (b, r, f, !timed);
                    }
                }
                if backlog {
                    continue;
                }
            }
            q.idle.store(!backlog, Ordering::Relaxed);
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = q.wake.notified() => backlog = true,
                () = q.released.notified(), if backlog => {}
                _ = flushed.changed(), if after_flush => {
                    after_flush = false;
                    backlog = true;
                }
                at = poll.tick() => {
                    // an idle plain queue is probed by the watcher's poll, which wakes it
                    backlog = backlog || (tick_claims && q.is_limited());
                    self.health.fetch_turned(at);
                }
                () = tokio::time::sleep_until(recheck.unwrap_or_else(Instant::now)), if recheck.is_some() => {
                    (recheck, tick_claims) = (None, true);
                    backlog = true;
                }
            }
        }
    }

    /// One claim into the free slots, its jobs started: claim again at once, or wait.
    async fn fill(
        self: &Arc<Self>,
        q: &Arc<QueueHandle>,
        stop: &CancellationToken,
        (backoff, throttle): &mut (Backoff, Throttle),
    ) -> Fill {
        let min_batch = (q.concurrency.min(self.batch_max) / 4).max(1);
        gather_slots(q, min_batch, self.cooldown, stop).await;
        if q.is_paused() {
            return Fill::Again; // paused while gathering: the loop waits for the resume
        }
        let max = self.claim_max(q);
        let mut want = q.reserve(max);
        if want == 0 {
            return Fill::Again; // another producer of this queue took the slots
        }
        match self.claim(q, &mut want, max).await {
            Ok(claim) => {
                backoff.reset();
                let (jobs, wait, begun) = match claim {
                    Claim::Plain(jobs, scan) => (jobs, Fill::short(q, scan), None),
                    Claim::Limited(l) => {
                        let wait = Fill::held_back(&l);
                        (l.jobs, wait, l.begun)
                    }
                };
                let filled = jobs.len() == want;
                q.unreserve(want - jobs.len());
                self.start_jobs(q, jobs, begun);
                if filled { Fill::Again } else { wait }
            }
            Err(e) => {
                q.unreserve(want);
                throttle.warn(
                    || tracing::warn!(queue = %q.name, error = %e, "fetch failed; retrying with backoff"),
                );
                tokio::select! { () = backoff.wait() => {}, () = stop.cancelled() => {} }
                Fill::Again
            }
        }
    }

    /// The most jobs one claim of `q` takes: `batch_max`, and for a plain queue at most its
    /// producers' share of its slots. A claim taking every free slot would leave the queue's
    /// other producers nothing to claim while its jobs run: the queue would fall back to one
    /// claim in flight, each claim waiting for the last one's jobs, and run at about half the
    /// rate of a queue whose producers alternate. A limited queue has one claimer for all
    /// its slots.
    fn claim_max(&self, q: &QueueHandle) -> usize {
        if q.is_limited() {
            return self.batch_max;
        }
        self.batch_max.min(q.concurrency.div_ceil(self.producers.max(1)))
    }

    /// Claims up to `want` jobs: through the limit if the queue has one, else in one
    /// statement (shared with the worker's other queues if it has several), from the cursor or
    /// the queue's start, moving the cursor.
    async fn claim(
        &self,
        q: &Arc<QueueHandle>,
        want: &mut usize,
        max: usize,
    ) -> Result<Claim, Arc<crate::Error>> {
        let want_now = *want;
        if q.is_limited() {
            let started = Instant::now();
            self.health.fetch_turned(started);
            let lease = lease_ms(self.lease);
            if let Some(l) = limited::claim(&self.db, &q.name, want_now, lease, &self.worker_id).await? {
                let ended = Instant::now();
                self.health.fetched(ended);
                self.stats.record_fetch(ended - started, l.jobs.len());
                return Ok(Claim::Limited(l));
            }
        }
        let started = Instant::now();
        let scan = q.cursor.plan(started);
        let after = scan.resume_key();
        let slot = q.wake.take_slot();
        self.health.fetch_turned(started);
        let jobs = match &self.batch {
            Some(batch) => batch.claim(q.clone(), want, max, after).await?,
            None => self.claim_alone(q, want_now, after, slot, started).await?,
        };
        let ended = Instant::now();
        self.health.fetched(ended);
        q.cursor.record(scan, started, ended, jobs.iter().map(ClaimedJob::key).max());
        Ok(Claim::Plain(jobs, scan))
    }

    /// The queue's claim as its own statement, timed for the worker's stats (a shared
    /// statement is timed by its claimer). Right after a wake that named one slot, a claim from
    /// the cursor reads that slot's table alone. A job made available elsewhere comes with a
    /// wake that names no slot (an insert into slot 0, the scheduler, a release, an operator),
    /// or else, like a job the rotator moved, is found as before by a claim over every slot: a
    /// full scan, the claim after any other wake, or the poll's probe of an idle queue.
    async fn claim_alone(
        &self,
        q: &QueueHandle,
        want: usize,
        after: Option<crate::db::ClaimKey>,
        slot: Option<i16>,
        started: Instant,
    ) -> crate::Result<Vec<ClaimedJob>> {
        let lease = lease_ms(self.lease);
        let (name, worker) = (&q.name, &self.worker_id);
        let jobs = self.db.job_get_available(name, want as i64, lease, worker, after, slot).await?;
        self.stats.record_fetch(started.elapsed(), jobs.len());
        Ok(jobs)
    }

    /// Starts a task per job; each holds `begun` (a limited claim's) until its handler begins.
    fn start_jobs(self: &Arc<Self>, q: &Arc<QueueHandle>, jobs: Vec<ClaimedJob>, begun: Option<StartMark>) {
        let jobs = jobs.into_iter().map(|job| (job.id, job.attempt, job));
        self.running.start_many(jobs, |job, kill| {
            let guard = SlotGuard { producer: self.clone(), q: q.clone(), id: job.id, kill: kill.clone() };
            let begun = begun.clone();
            let task = tokio::spawn(async move {
                let p = &guard.producer;
                let attempt = p.executor.execute(job, guard.q.name.clone(), kill, begun).await;
                match p.completer.send(attempt).await {
                    Ok(()) => guard.kill.hand_over(),
                    Err(_) => {
                        tracing::error!(
                            job_id = guard.id,
                            "completer stopped before this outcome was written"
                        )
                    }
                }
            });
            task.abort_handle()
        });
    }
}

/// What a claim took: from a plain queue (and how it scanned), or through a limit.
enum Claim {
    Plain(Vec<ClaimedJob>, Scan),
    Limited(limited::Limited),
}

/// What a producer does after a claim.
enum Fill {
    /// Claim again now.
    Again,
    /// Wait for a wake, freed slots (while `backlog`), a completion flush (while `flushed`),
    /// a poll tick (unless `timed`: `recheck` is when a limit's window frees), or the
    /// `recheck` time.
    Wait { backlog: bool, recheck: Option<Instant>, flushed: bool, timed: bool },
}

impl Fill {
    /// After a plain claim came back short: the queue is drained, or only from where the claim
    /// began. After a claim from the cursor the next rescan runs now if one is due, else when
    /// one is; after a recent rescan, the next full scan, so a job placed further back waits
    /// for no wake or poll tick; after a full scan, nothing is left.
    fn short(q: &QueueHandle, scan: Scan) -> Fill {
        let now = Instant::now();
        let due = match scan {
            Scan::After(_) => q.cursor.rescan_due_after(now),
            Scan::Recent(_) => q.cursor.full_due_after(now),
            Scan::Full => return Fill::Wait { backlog: false, recheck: None, flushed: false, timed: false },
        };
        // none due later: one is due now
        let (recheck, backlog) = (due, due.is_none());
        Fill::Wait { backlog, recheck, flushed: false, timed: false }
    }

    /// After a limited claim came back short: wait for a completion if a partition is at its
    /// concurrency, and for its window to move (a millisecond past) if one is at its rate.
    fn held_back(l: &limited::Limited) -> Fill {
        let past = Duration::from_millis(1);
        let recheck = l.rate_frees_in.map(|d| Instant::now() + d + past);
        Fill::Wait { backlog: false, recheck, flushed: l.at_concurrency, timed: recheck.is_some() }
    }
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

/// Frees the job's slot once its outcome is handed to the completer (which forgets the
/// attempt after writing it), or forgets the attempt at once if its task ended without one.
struct SlotGuard<S> {
    producer: Arc<Producer<S>>,
    q: Arc<QueueHandle>,
    id: i64,
    kill: Arc<Kill>,
}

impl<S> Drop for SlotGuard<S> {
    fn drop(&mut self) {
        if !self.kill.handed_over() {
            self.producer.running.finish(self.id);
        }
        self.q.release();
    }
}
