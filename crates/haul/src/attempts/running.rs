//! The attempts this worker holds: running, or finished with their outcome waiting in the
//! completer. Their leases to heartbeat, their cancellation tokens, the kill switch for a
//! cancel request or a lost lease, and the abort handles that shutdown uses when handlers
//! will not stop.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

/// Why an attempt is being stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillReason {
    /// An operator asked to cancel the job.
    Cancelled,
    /// The lease was lost: the job was rescued and may run elsewhere.
    LeaseLost,
}

/// One attempt's stop signals, in the attempt's one `Arc`. The kill switch remembers the
/// first reason given and wakes the attempt's executor. The handler's cancellation (timeout,
/// shutdown, or the kill) is a flag; its `CancellationToken` is made only if the handler asks
/// for it, since most never do and a token per job is a measurable share of the worker's CPU.
/// Also where the job's task notes that its outcome went to the completer (no lock on the map).
#[derive(Debug, Default)]
pub(crate) struct Kill {
    fired: Notify,
    reason: OnceLock<KillReason>,
    handed_over: AtomicBool,
    cancelled: AtomicBool,
    token: OnceLock<CancellationToken>,
}

impl Kill {
    /// Notes that the attempt's outcome went to the completer: it is still heartbeated (the
    /// write may wait out an outage), no longer abortable or releasable.
    pub(crate) fn hand_over(&self) {
        self.handed_over.store(true, Ordering::Release);
    }

    pub(crate) fn handed_over(&self) -> bool {
        self.handed_over.load(Ordering::Acquire)
    }

    pub(crate) fn reason(&self) -> Option<KillReason> {
        self.reason.get().copied()
    }

    /// Asks the handler to stop (cooperatively): sets the flag, fires the token if made.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst); // pairs with `token`: one of the two sees the other's write
        if let Some(token) = self.token.get() {
            token.cancel();
        }
    }

    /// Whether the handler has been asked to stop.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The handler's cancellation token, made on first use (already fired if asked before).
    pub(crate) fn token(&self) -> &CancellationToken {
        let token = self.token.get_or_init(CancellationToken::new);
        fence(Ordering::SeqCst);
        if self.is_cancelled() {
            token.cancel();
        }
        token
    }

    /// Resolves once the attempt is killed (at once if it already was).
    pub(crate) async fn fired(&self) {
        loop {
            let woken = self.fired.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.reason().is_some() {
                return;
            }
            woken.await;
        }
    }

    fn fire(&self, reason: KillReason) {
        let _ = self.reason.set(reason);
        self.fired.notify_waiters();
    }
}

struct Entry {
    attempt: i16,
    /// When the lease was last set (claim or heartbeat), by this process's clock.
    renewed: Instant,
    kill: Arc<Kill>,
    abort: Option<AbortHandle>,
}

impl Entry {
    fn new(attempt: i16, renewed: Instant) -> (Entry, Arc<Kill>) {
        let kill = Arc::new(Kill::default());
        (Entry { attempt, renewed, kill: kill.clone(), abort: None }, kill)
    }
}

/// Running attempts by job id. Hashed with foldhash, not SipHash: the ids come from our own
/// table (no untrusted keys), and this map is looked up several times per job.
#[derive(Default)]
pub(crate) struct Running {
    map: Mutex<HashMap<i64, Entry>>,
    emptied: Notify,
}

impl Running {
    /// Tracks a new attempt; returns the kill switch its executor watches.
    #[cfg(haul_bench)] // only bench_support tracks one attempt at a time
    pub(crate) fn insert(&self, id: i64, attempt: i16) -> Arc<Kill> {
        let (entry, kill) = Entry::new(attempt, Instant::now());
        self.lock().insert(id, entry);
        kill
    }

    /// Tracks a claim's attempts under one lock, starting each one's task with `start` (given
    /// its kill switch) while the lock is held, so a task that ends at once finds its entry.
    /// `start` returns the task's abort handle.
    pub(crate) fn start_many<J>(
        &self,
        jobs: impl ExactSizeIterator<Item = (i64, i16, J)>,
        mut start: impl FnMut(J, Arc<Kill>) -> AbortHandle,
    ) {
        let now = Instant::now();
        let mut map = self.lock();
        map.reserve(jobs.len());
        for (id, attempt, job) in jobs {
            let (mut entry, kill) = Entry::new(attempt, now);
            entry.abort = Some(start(job, kill));
            map.insert(id, entry);
        }
    }

    /// Forgets an attempt (its outcome was written, or it never got one); true if tracked.
    pub(crate) fn finish(&self, id: i64) -> bool {
        self.finish_many([id]) == 1
    }

    /// Forgets attempts whose outcomes the completer has written; returns how many were tracked.
    /// The entries are dropped after the lock is released (their tokens and handles take
    /// locks of their own), so the claim starting the next jobs does not wait on it.
    pub(crate) fn finish_many(&self, ids: impl IntoIterator<Item = i64>) -> usize {
        let removed: Vec<Entry> = {
            let mut map = self.lock();
            let removed: Vec<Entry> = ids.into_iter().filter_map(|id| map.remove(&id)).collect();
            if map.is_empty() {
                self.emptied.notify_waiters();
            }
            removed
        };
        removed.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Ids and attempts whose lease was set more than `older_than` ago, sorted by id, for the
    /// heartbeat: short jobs finish long before their lease needs renewing and are skipped.
    pub(crate) fn leases_due(&self, older_than: Duration) -> (Vec<i64>, Vec<i16>) {
        let now = Instant::now();
        let due = self
            .lock()
            .iter()
            .filter(|(_, e)| now - e.renewed >= older_than)
            .map(|(id, e)| (*id, e.attempt))
            .collect();
        sorted(due)
    }

    /// Records that these leases were just extended.
    pub(crate) fn renewed(&self, ids: impl IntoIterator<Item = i64>, at: Instant) {
        let mut map = self.lock();
        for id in ids {
            if let Some(e) = map.get_mut(&id) {
                e.renewed = at;
            }
        }
    }

    /// Stops one attempt for `reason`; false if it is not running here.
    pub(crate) fn kill(&self, id: i64, reason: KillReason) -> bool {
        self.lock().get(&id).map(|e| e.kill.fire(reason)).is_some()
    }

    /// Fires every running job's cancellation token (shutdown: cooperative only).
    pub(crate) fn cancel_all(&self) {
        self.lock().values().for_each(|e| e.kill.cancel());
    }

    /// Aborts every handler still running and returns their attempts, to release.
    pub(crate) fn abort_all(&self) -> (Vec<i64>, Vec<i16>) {
        let map = self.lock();
        let stuck = map.iter().filter(|(_, e)| !e.kill.handed_over());
        stuck.clone().filter_map(|(_, e)| e.abort.as_ref()).for_each(AbortHandle::abort);
        sorted(stuck.map(|(id, e)| (*id, e.attempt)).collect())
    }

    /// Waits until nothing is running.
    pub(crate) async fn wait_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            tokio::pin!(emptied);
            emptied.as_mut().enable();
            if self.len() == 0 {
                return;
            }
            emptied.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Id-ordered columns: batch statements then lock rows in one order and cannot deadlock.
fn sorted(mut leases: Vec<(i64, i16)>) -> (Vec<i64>, Vec<i16>) {
    leases.sort_unstable();
    leases.into_iter().unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_token_fires_whether_made_before_or_after_the_cancel() {
        let early = Kill::default();
        let token = early.token().clone();
        assert!(!token.is_cancelled() && !early.is_cancelled());
        early.cancel();
        assert!(token.is_cancelled() && early.is_cancelled());

        let late = Kill::default();
        late.cancel();
        assert!(late.is_cancelled());
        assert!(late.token().is_cancelled(), "a token made after the cancel starts fired");
    }

    #[tokio::test]
    async fn fired_resolves_on_a_kill_and_at_once_after_one() {
        let kill = Arc::new(Kill::default());
        let waiter = tokio::spawn({
            let kill = kill.clone();
            async move { kill.fired().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        kill.fire(KillReason::LeaseLost);
        waiter.await.unwrap();
        kill.fired().await; // already fired: returns at once
        kill.fire(KillReason::Cancelled);
        assert_eq!(kill.reason(), Some(KillReason::LeaseLost), "the first reason stays");
        assert!(!kill.is_cancelled(), "a kill alone does not cancel; the executor does that");
    }
}
