//! Where the stages record that they turned or that a statement succeeded: one atomic per
//! signal, each a coarse timestamp (milliseconds since the worker was built). A stage writes
//! where it already holds the time or does not run per job, so the hot path takes no lock
//! and no extra clock read.

use super::WorkerState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use tokio::time::{Duration, Instant};

/// One signal's latest time: milliseconds since the origin plus one; zero means never.
#[derive(Debug, Default)]
struct Mark(AtomicU64);

impl Mark {
    /// Moves the mark to `at` unless a later time is already recorded.
    fn set(&self, origin: Instant, at: Instant) {
        let ms = at.saturating_duration_since(origin).as_millis();
        self.0.fetch_max(u64::try_from(ms).unwrap_or(u64::MAX - 1) + 1, Ordering::Relaxed);
    }

    /// When the mark was last set, as milliseconds since the origin.
    fn get(&self) -> Option<u64> {
        self.0.load(Ordering::Relaxed).checked_sub(1)
    }
}

/// What the stages record for [`HealthHandle::check`](super::HealthHandle::check).
#[derive(Debug)]
pub(crate) struct Marks {
    origin: Instant,
    state: AtomicU8,
    /// A producer started a claim or its poll tick fired.
    fetch_turn: Mark,
    /// A claim statement succeeded.
    fetch_ok: Mark,
    /// The heartbeat's tick fired.
    beat_turn: Mark,
    /// A heartbeat statement succeeded.
    beat_ok: Mark,
    /// Another worker statement succeeded (election, pause read).
    db_ok: Mark,
    /// Whether the worker listens at all (not poll-only).
    listens: bool,
    listener_up: AtomicBool,
    /// The LISTEN connection came up, went down or was re-established.
    listener_changed: Mark,
    /// A notification arrived or a liveness check of the LISTEN connection succeeded.
    listener_heard: Mark,
    leader: AtomicBool,
}

/// The recorded marks at one instant, as ages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ages {
    pub state: WorkerState,
    pub fetch_turn: Option<Duration>,
    pub fetch_ok: Option<Duration>,
    pub beat_turn: Option<Duration>,
    pub beat_ok: Option<Duration>,
    /// The youngest of every statement's and the listener's answers.
    pub database: Option<Duration>,
    /// `None` when poll-only.
    pub listener: Option<(bool, Option<Duration>, Option<Duration>)>,
    pub leader: bool,
}

impl Marks {
    /// Marks for a worker built now; `listens` is false for a poll-only worker.
    pub(crate) fn new(listens: bool) -> Self {
        Marks {
            origin: Instant::now(),
            state: AtomicU8::new(WorkerState::Built as u8),
            fetch_turn: Mark::default(),
            fetch_ok: Mark::default(),
            beat_turn: Mark::default(),
            beat_ok: Mark::default(),
            db_ok: Mark::default(),
            listens,
            listener_up: AtomicBool::new(false),
            listener_changed: Mark::default(),
            listener_heard: Mark::default(),
            leader: AtomicBool::new(false),
        }
    }

    pub(crate) fn set_state(&self, state: WorkerState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// A guard that records [`WorkerState::Stopped`] when the run it lives in ends, by a
    /// return, an error or being dropped.
    pub(crate) fn stop_on_drop(self: &Arc<Self>) -> StopOnDrop {
        StopOnDrop(self.clone())
    }

    /// The runtime loops start: they count as just turned.
    pub(crate) fn start_loops(&self) {
        let now = Instant::now();
        self.fetch_turn.set(self.origin, now);
        self.beat_turn.set(self.origin, now);
    }

    /// A producer started a claim, or its poll tick fired, at `at`.
    pub(crate) fn fetch_turned(&self, at: Instant) {
        self.fetch_turn.set(self.origin, at);
    }

    /// A claim statement, or the idle queues' probe, succeeded at `at`.
    pub(crate) fn fetched(&self, at: Instant) {
        self.fetch_ok.set(self.origin, at);
    }

    /// The heartbeat's tick fired at `at`.
    pub(crate) fn beat_turned(&self, at: Instant) {
        self.beat_turn.set(self.origin, at);
    }

    /// A heartbeat statement succeeded.
    pub(crate) fn beat_ok(&self) {
        self.beat_ok.set(self.origin, Instant::now());
    }

    /// Another worker statement (an election, a read of the paused queues) succeeded.
    pub(crate) fn db_answered(&self) {
        self.db_ok.set(self.origin, Instant::now());
    }

    /// The LISTEN connection (re)connected (`true`), or is down (`false`), as of now. A
    /// connect always counts as a change; a failure only when it was up (or on the first try).
    pub(crate) fn listener(&self, up: bool) {
        let now = Instant::now();
        let was = self.listener_up.swap(up, Ordering::Relaxed);
        if up || was || self.listener_changed.get().is_none() {
            self.listener_changed.set(self.origin, now);
        }
        if up {
            self.listener_heard.set(self.origin, now);
        }
    }

    /// A notification arrived, or the LISTEN connection answered its check.
    pub(crate) fn listener_heard(&self) {
        self.listener_heard.set(self.origin, Instant::now());
    }

    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Every mark as its age now.
    pub(crate) fn ages(&self) -> Ages {
        let now = u64::try_from(Instant::now().saturating_duration_since(self.origin).as_millis())
            .unwrap_or(u64::MAX);
        let age = |m: &Mark| m.get().map(|at| Duration::from_millis(now.saturating_sub(at)));
        let heard = age(&self.listener_heard).filter(|_| self.listens);
        let answers = [age(&self.fetch_ok), age(&self.beat_ok), age(&self.db_ok), heard];
        Ages {
            state: WorkerState::from_u8(self.state.load(Ordering::Acquire)),
            fetch_turn: age(&self.fetch_turn),
            fetch_ok: age(&self.fetch_ok),
            beat_turn: age(&self.beat_turn),
            beat_ok: age(&self.beat_ok),
            database: answers.into_iter().flatten().min(),
            listener: self
                .listens
                .then(|| (self.listener_up.load(Ordering::Relaxed), age(&self.listener_changed), heard)),
            leader: self.leader.load(Ordering::Relaxed),
        }
    }
}

/// Records [`WorkerState::Stopped`] (and the listener down) when dropped.
pub(crate) struct StopOnDrop(Arc<Marks>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.listener_up.store(false, Ordering::Relaxed);
        self.0.leader.store(false, Ordering::Relaxed);
        self.0.set_state(WorkerState::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn marks_keep_the_latest_time_and_age_with_the_clock() {
        let marks = Marks::new(true);
        assert_eq!(marks.ages().fetch_ok, None);
        let t1 = Instant::now() + Duration::from_millis(300);
        let t0 = Instant::now() + Duration::from_millis(100);
        tokio::time::advance(Duration::from_millis(500)).await;
        marks.fetched(t1);
        marks.fetched(t0); // an earlier claim finishing late does not move the mark back
        assert_eq!(marks.ages().fetch_ok, Some(Duration::from_millis(200)));
        assert_eq!(marks.ages().database, Some(Duration::from_millis(200)));
        marks.listener(true);
        let ages = marks.ages();
        assert_eq!(ages.database, Some(Duration::ZERO), "the listener's connect is an answer");
        assert_eq!(ages.listener, Some((true, Some(Duration::ZERO), Some(Duration::ZERO))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_listener_changes_when_it_connects_or_is_lost_not_on_each_failed_retry() {
        let marks = Marks::new(true);
        marks.listener(false);
        assert_eq!(marks.ages().listener, Some((false, Some(Duration::ZERO), None)), "the first try");
        marks.listener(true);
        tokio::time::advance(Duration::from_secs(1)).await;
        marks.listener(false);
        tokio::time::advance(Duration::from_secs(1)).await;
        marks.listener(false); // a failed reconnect
        let since = Some(Duration::from_secs(1));
        assert_eq!(marks.ages().listener, Some((false, since, Some(Duration::from_secs(2)))));
    }

    #[test]
    fn stopping_is_recorded_however_the_run_ends() {
        let marks = Arc::new(Marks::new(true));
        let guard = marks.stop_on_drop();
        marks.set_state(WorkerState::Running);
        drop(guard);
        assert_eq!(marks.ages().state, WorkerState::Stopped);
    }

    #[test]
    fn a_poll_only_worker_reports_no_listener() {
        let marks = Marks::new(false);
        marks.listener_heard();
        assert_eq!(marks.ages().listener, None);
        assert_eq!(marks.ages().database, None);
    }
}
