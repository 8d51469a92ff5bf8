//! What an operator sees of a queue ([`QueueInfo`]): whether it is paused, its global limit,
//! and how many of its jobs are in each state. A queue is listed if it has a row (a worker ran it, or an operator
//! paused or resumed it) or any job.

use crate::job::JobState;
use crate::limit::{Limit, QueueLimit};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// How many jobs one queue holds in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueDepth {
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: JobState,
    /// Jobs in it.
    pub count: i64,
}

/// One queue: its paused state and its jobs per state. See [`Client::queues`](crate::Client::queues).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct QueueInfo {
    /// The queue's name.
    pub name: String,
    /// Whether workers are kept from claiming its jobs.
    pub paused: bool,
    /// When it was paused (database time), while it is.
    pub paused_at: Option<DateTime<Utc>>,
    /// When its row was created; `None` for a queue known only from its jobs.
    pub created_at: Option<DateTime<Utc>>,
    /// Its global limit, if it has one.
    pub limit: Option<Limit>,
    /// Its jobs in each state.
    pub counts: JobCounts,
}

/// Every queue with counts read at a bounded cost, from
/// [`Client::queue_summary`](crate::Client::queue_summary).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct QueueSummary {
    /// The queues, by name, as [`Client::queues`](crate::Client::queues) lists them.
    pub queues: Vec<QueueInfo>,
    /// States whose counts are estimates (empty: every count is exact).
    pub estimated: Vec<JobState>,
}

/// How many jobs are in each state.
///
/// ```
/// use haul::{JobCounts, JobState};
/// let counts = JobCounts::default();
/// assert_eq!((counts.get(JobState::Available), counts.total()), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct JobCounts {
    /// Waiting on other jobs.
    pub pending: i64,
    /// Waiting for their time.
    pub scheduled: i64,
    /// Ready to be claimed.
    pub available: i64,
    /// Claimed by a worker.
    pub running: i64,
    /// Waiting for their backoff.
    pub retryable: i64,
    /// Finished (kept only under a completed retention).
    pub completed: i64,
    /// Stopped on purpose.
    pub cancelled: i64,
    /// The dead letter.
    pub discarded: i64,
}

impl JobCounts {
    /// The jobs in `state`.
    pub fn get(&self, state: JobState) -> i64 {
        let mut copy = *self;
        *copy.slot(state)
    }

    /// The jobs in every state.
    pub fn total(&self) -> i64 {
        JobState::ALL.iter().map(|s| self.get(*s)).sum()
    }

    /// Adds `n` jobs in `state`.
    pub(crate) fn add(&mut self, state: JobState, n: i64) {
        *self.slot(state) += n;
    }

    fn slot(&mut self, state: JobState) -> &mut i64 {
        match state {
            JobState::Pending => &mut self.pending,
            JobState::Scheduled => &mut self.scheduled,
            JobState::Available => &mut self.available,
            JobState::Running => &mut self.running,
            JobState::Retryable => &mut self.retryable,
            JobState::Completed => &mut self.completed,
            JobState::Cancelled => &mut self.cancelled,
            JobState::Discarded => &mut self.discarded,
        }
    }
}

impl QueueInfo {
    /// A queue with a row and no jobs counted yet.
    pub(crate) fn from_row(
        name: String,
        paused_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
    ) -> Self {
        let paused = paused_at.is_some();
        let counts = JobCounts::default();
        QueueInfo { name, paused, paused_at, created_at: Some(created_at), limit: None, counts }
    }

    fn without_row(name: String) -> Self {
        let counts = JobCounts::default();
        QueueInfo { name, paused: false, paused_at: None, created_at: None, limit: None, counts }
    }
}

/// The queues with rows plus those known only from their jobs, each with its counts from
/// `depths` (queue, state, jobs), by name.
pub(crate) fn with_depths(
    rows: Vec<QueueInfo>,
    depths: impl IntoIterator<Item = (String, JobState, i64)>,
) -> Vec<QueueInfo> {
    let mut queues: BTreeMap<String, QueueInfo> = rows.into_iter().map(|q| (q.name.clone(), q)).collect();
    for (queue, state, n) in depths {
        let q = queues.entry(queue).or_insert_with_key(|name| QueueInfo::without_row(name.clone()));
        *q.counts.slot(state) += n;
    }
    queues.into_values().collect()
}

/// `queues` (by name) with each one's limit, plus any limited queue not among them.
pub(crate) fn with_limits(queues: Vec<QueueInfo>, limits: Vec<QueueLimit>) -> Vec<QueueInfo> {
    let mut queues: BTreeMap<String, QueueInfo> = queues.into_iter().map(|q| (q.name.clone(), q)).collect();
    for l in limits {
        let q = queues.entry(l.queue).or_insert_with_key(|name| QueueInfo::without_row(name.clone()));
        q.limit = Some(l.limit);
    }
    queues.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(queue: &str, state: JobState, count: i64) -> (String, JobState, i64) {
        (queue.into(), state, count)
    }

    #[test]
    fn queues_without_rows_are_listed_from_their_jobs_by_name() {
        let paused = QueueInfo::from_row("b".into(), Some(Utc::now()), Utc::now());
        let depths = vec![depth("a", JobState::Available, 3), depth("a", JobState::Running, 1)];
        let list = with_depths(vec![paused], depths);
        let names: Vec<_> = list.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!((list[0].paused, list[0].created_at, list[0].counts.total()), (false, None, 4));
        assert_eq!(list[0].counts.get(JobState::Running), 1);
        assert!(list[1].paused && list[1].counts.total() == 0);
    }
}
