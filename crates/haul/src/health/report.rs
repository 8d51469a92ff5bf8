//! What a health check reports: the worker's state, the age of each signal, the problems
//! found, and the liveness and readiness they add up to.

use super::marks::Ages;
use serde::{Serialize, Serializer};
use std::time::Duration;

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[repr(u8)]
pub enum WorkerState {
    /// Built; [`Worker::run`](crate::Worker::run) has not been called.
    Built,
    /// `run` checks the schema and reads the paused queues; nothing is claimed yet.
    Starting,
    /// Claiming and running jobs.
    Running,
    /// Shutdown has begun: no new claims; running jobs finish, are cancelled, or are released.
    Draining,
    /// `run` has returned (or failed, or was dropped): the worker does nothing more.
    Stopped,
}

impl WorkerState {
    pub(crate) fn from_u8(n: u8) -> Self {
        [Self::Built, Self::Starting, Self::Running, Self::Draining]
            .into_iter()
            .find(|s| *s as u8 == n)
            .unwrap_or(Self::Stopped)
    }
}

/// A reason a worker is not ready, or not live. See [`Health`] for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthProblem {
    /// The worker is built or starting, not yet claiming.
    NotStarted,
    /// Shutdown has begun.
    Draining,
    /// The worker has stopped. Breaks liveness.
    Stopped,
    /// No producer has started a claim or seen a poll tick for longer than the stall limit.
    /// Breaks liveness.
    FetchStalled,
    /// The heartbeat's timer has not fired for longer than the stall limit. Breaks liveness.
    HeartbeatStalled,
    /// No worker statement, and no LISTEN message or check, has had an answer from the
    /// database for longer than the silence limit.
    DatabaseSilent,
}

impl HealthProblem {
    /// Whether this problem makes the worker not live (a restart would help), as opposed to
    /// only not ready.
    pub fn breaks_liveness(self) -> bool {
        matches!(self, Self::Stopped | Self::FetchStalled | Self::HeartbeatStalled)
    }
}

/// A worker's health at one moment, from [`HealthHandle::check`](crate::HealthHandle::check).
///
/// The rules, with the limits of [`WorkerConfig::health_stall_after`](crate::WorkerConfig::health_stall_after)
/// and [`WorkerConfig::health_silence_after`](crate::WorkerConfig::health_silence_after):
///
/// - **live** ([`Health::is_live`]) unless the worker has stopped, or, while it runs, a
///   producer loop has not turned (started a claim or seen a poll tick) within the stall limit,
///   or, while it runs or drains, the heartbeat's timer has not fired within it. A database
///   outage alone never makes a worker not live: its loops keep turning and retrying, and a
///   restart would not bring the database back. A worker not yet started counts as live.
/// - **ready** ([`Health::is_ready`]) only while it runs (started, not draining), is live, and
///   the database answered one of its statements (a claim, a heartbeat, an election, a read of
///   the paused queues) or its LISTEN connection within the silence limit.
///
/// Serialized (for a health endpoint), ages are seconds with millisecond precision, `null`
/// where the signal never happened, and `live` and `ready` are included.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The worker's id, as stored in `attempted_by`.
    pub worker: String,
    /// Where the worker is in its life.
    pub state: WorkerState,
    live: bool,
    ready: bool,
    /// Why the worker is not ready (empty when it is), in a fixed order.
    pub problems: Vec<HealthProblem>,
    /// Since a producer last started a claim or saw a poll tick (any of the worker's queues).
    #[serde(serialize_with = "secs")]
    pub fetch_loop_age: Option<Duration>,
    /// Since a claim statement, or the poll that probes the idle queues for jobs, last
    /// succeeded (whether or not it found jobs).
    #[serde(serialize_with = "secs")]
    pub fetch_age: Option<Duration>,
    /// Since the heartbeat's timer last fired.
    #[serde(serialize_with = "secs")]
    pub heartbeat_loop_age: Option<Duration>,
    /// Since a heartbeat statement last succeeded; `None` until a running job's lease was half
    /// used (short jobs finish before they need one).
    #[serde(serialize_with = "secs")]
    pub heartbeat_age: Option<Duration>,
    /// Since the database last answered any of the worker's statements or its listener.
    #[serde(serialize_with = "secs")]
    pub database_age: Option<Duration>,
    /// The LISTEN connection; `None` for a poll-only worker.
    pub listener: Option<ListenerHealth>,
    /// Whether this worker holds the maintenance leadership (always false with maintenance off).
    pub leader: bool,
}

/// The state of a worker's LISTEN connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ListenerHealth {
    /// Whether the connection is up and listening.
    pub up: bool,
    /// Since it last connected, was lost, or was re-established; `None` before the first try.
    #[serde(serialize_with = "secs")]
    pub changed_age: Option<Duration>,
    /// Since a notification last arrived or the connection last answered its check.
    #[serde(serialize_with = "secs")]
    pub heard_age: Option<Duration>,
}

/// The limits the rules of [`Health`] apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub stall_after: Duration,
    pub silence_after: Duration,
}

impl Health {
    /// Whether the worker's loops are turning: see the rules on [`Health`].
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Whether the worker is running and hears from the database: see the rules on [`Health`].
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Applies the rules to the marks' `ages`.
    pub(crate) fn judge(worker: &str, ages: Ages, limits: Limits) -> Health {
        let problems = problems(&ages, limits);
        let live = !problems.iter().any(|p| p.breaks_liveness());
        Health {
            worker: worker.to_owned(),
            state: ages.state,
            live,
            ready: problems.is_empty(),
            problems,
            fetch_loop_age: ages.fetch_turn,
            fetch_age: ages.fetch_ok,
            heartbeat_loop_age: ages.beat_turn,
            heartbeat_age: ages.beat_ok,
            database_age: ages.database,
            listener: ages.listener.map(|(up, changed_age, heard_age)| ListenerHealth {
                up,
                changed_age,
                heard_age,
            }),
            leader: ages.leader,
        }
    }
}

fn problems(ages: &Ages, limits: Limits) -> Vec<HealthProblem> {
    use HealthProblem as P;
    let past = |age: Option<Duration>, limit: Duration| age.is_none_or(|a| a > limit);
    let (running, draining) = (ages.state == WorkerState::Running, ages.state == WorkerState::Draining);
    let mut found = Vec::new();
    match ages.state {
        WorkerState::Built | WorkerState::Starting => found.push(P::NotStarted),
        WorkerState::Draining => found.push(P::Draining),
        WorkerState::Stopped => found.push(P::Stopped),
        WorkerState::Running => {}
    }
    if running && past(ages.fetch_turn, limits.stall_after) {
        found.push(P::FetchStalled);
    }
    if (running || draining) && past(ages.beat_turn, limits.stall_after) {
        found.push(P::HeartbeatStalled);
    }
    if running && past(ages.database, limits.silence_after) {
        found.push(P::DatabaseSilent);
    }
    found
}

fn secs<S: Serializer>(age: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match age {
        Some(d) => s.serialize_f64(d.as_millis() as f64 / 1000.0),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthProblem as P;

    const LIMITS: Limits =
        Limits { stall_after: Duration::from_secs(60), silence_after: Duration::from_secs(15) };

    fn ages(state: WorkerState) -> Ages {
        let s = |n| Some(Duration::from_secs(n));
        Ages {
            state,
            fetch_turn: s(1),
            fetch_ok: s(1),
            beat_turn: s(1),
            beat_ok: None,
            database: s(1),
            listener: Some((true, s(30), s(2))),
            leader: true,
        }
    }

    fn judge(ages: Ages) -> (bool, bool, Vec<HealthProblem>) {
        let h = Health::judge("w", ages, LIMITS);
        (h.is_live(), h.is_ready(), h.problems)
    }

    #[test]
    fn a_running_worker_that_hears_the_database_is_live_and_ready() {
        assert_eq!(judge(ages(WorkerState::Running)), (true, true, vec![]));
    }

    #[test]
    fn only_a_running_worker_is_ready_and_only_a_stopped_one_is_not_live() {
        assert_eq!(judge(ages(WorkerState::Built)), (true, false, vec![P::NotStarted]));
        assert_eq!(judge(ages(WorkerState::Starting)), (true, false, vec![P::NotStarted]));
        assert_eq!(judge(ages(WorkerState::Draining)), (true, false, vec![P::Draining]));
        assert_eq!(judge(ages(WorkerState::Stopped)), (false, false, vec![P::Stopped]));
    }

    #[test]
    fn a_silent_database_costs_readiness_only_and_a_stalled_loop_costs_liveness() {
        let silent = Ages { database: Some(Duration::from_secs(16)), ..ages(WorkerState::Running) };
        assert_eq!(judge(silent), (true, false, vec![P::DatabaseSilent]));
        let stalled = Ages { fetch_turn: Some(Duration::from_secs(61)), ..ages(WorkerState::Running) };
        assert_eq!(judge(stalled), (false, false, vec![P::FetchStalled]));
        let beat = Ages { beat_turn: Some(Duration::from_secs(61)), ..ages(WorkerState::Draining) };
        assert_eq!(judge(beat), (false, false, vec![P::Draining, P::HeartbeatStalled]));
        let fetch = Ages { fetch_turn: Some(Duration::from_secs(61)), ..ages(WorkerState::Draining) };
        assert_eq!(judge(fetch), (true, false, vec![P::Draining]), "a draining worker no longer claims");
    }

    #[test]
    fn ages_serialize_as_seconds() {
        let json = serde_json::to_value(Health::judge("w", ages(WorkerState::Running), LIMITS)).unwrap();
        assert_eq!(json["state"], "running");
        assert_eq!((json["live"].clone(), json["ready"].clone()), (true.into(), true.into()));
        assert_eq!(json["fetch_age"], 1.0);
        assert_eq!(json["heartbeat_age"], serde_json::Value::Null);
        assert_eq!(json["listener"]["changed_age"], 30.0);
    }

    #[test]
    fn states_round_trip_through_their_byte() {
        use WorkerState as S;
        for s in [S::Built, S::Starting, S::Running, S::Draining, S::Stopped] {
            assert_eq!(WorkerState::from_u8(s as u8), s);
        }
    }
}
