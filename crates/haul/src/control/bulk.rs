//! The bulk actions on filtered jobs, what each applies to, and the report of one run.

use super::JobFilter;
use crate::db::{Bulk, JobSelection};
use crate::error::{Error, Result};
use crate::job::JobState;

/// What becomes of a retried job's attempts.
///
/// The attempt counter itself never goes back: it is the fence that keeps a stale worker's
/// result of an earlier attempt from landing on the new one. Backoff after a failure keeps
/// counting from it too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAttempts {
    /// Attempts made stay counted: a job with attempts left keeps them, one with none left
    /// gets one more. The default.
    #[default]
    Keep,
    /// The job gets its full budget again: as many attempts from now as its `max_attempts`
    /// allowed when it was inserted (capped at 32,767 in all).
    Reset,
}

/// An operator's action on every job a [`JobFilter`] picks
/// ([`Control::run`](crate::Control::run), [`Control::count`](crate::Control::count)).
/// None touches a running job's row except through its fenced path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkAction {
    /// Scheduled, retryable and finished jobs become available now; running and pending jobs
    /// are skipped, and so is a job whose unique key another job holds meanwhile.
    Retry(RetryAttempts),
    /// Waiting jobs are cancelled at once; each running one is asked to stop (the request is
    /// recorded on its row and its worker notified, as [`Client::cancel`](crate::Client::cancel)).
    Cancel,
    /// Every job but running ones is deleted.
    Delete,
    /// [`Retry`](BulkAction::Retry) of the dead letters (discarded jobs) only.
    Redrive(RetryAttempts),
    /// Finished jobs (completed, cancelled, discarded) are deleted.
    Purge,
}

impl BulkAction {
    /// The statement and its checked bind values for `filter`.
    pub(crate) fn plan(self, filter: &JobFilter) -> Result<(Bulk, JobSelection)> {
        let reason = "cancelled by an operator".to_owned();
        match self {
            BulkAction::Retry(a) => Ok((Bulk::Retry { reset: reset(a) }, filter.selection(None)?)),
            BulkAction::Cancel => Ok((Bulk::Cancel { reason }, filter.selection(None)?)),
            BulkAction::Delete => Ok((Bulk::Delete, filter.selection(None)?)),
            BulkAction::Redrive(a) => {
                only_states(filter, &[JobState::Discarded], "redrive")?;
                Ok((Bulk::Retry { reset: reset(a) }, filter.selection(Some(vec![JobState::Discarded]))?))
            }
            BulkAction::Purge => {
                let finals: Vec<_> = JobState::ALL.into_iter().filter(|s| s.is_final()).collect();
                only_states(filter, &finals, "purge")?;
                Ok((Bulk::Purge, filter.selection(None)?))
            }
        }
    }
}

fn reset(a: RetryAttempts) -> bool {
    a == RetryAttempts::Reset
}

/// Refuses a filter naming a state `action` never applies to (it would silently match nothing).
fn only_states(filter: &JobFilter, allowed: &[JobState], action: &str) -> Result<()> {
    match filter.states().iter().find(|s| !allowed.contains(s)) {
        None => Ok(()),
        Some(s) => {
            let allowed: Vec<_> = allowed.iter().map(|s| s.as_str()).collect();
            Err(Error::InvalidFilter(format!(
                "{action} applies to {} jobs only, not {s}",
                allowed.join(", ")
            )))
        }
    }
}

/// What a bulk action did, or (from [`Control::count`](crate::Control::count)) would do now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BulkReport {
    /// Jobs changed or deleted.
    pub changed: u64,
    /// Running jobs whose workers were asked to stop them (cancel only).
    pub requested: u64,
    /// Statements run, each its own transaction over at most one batch (0 for a count).
    pub batches: u64,
}

impl BulkReport {
    pub(crate) fn add(&mut self, changed: i64, requested: i64) {
        self.changed += changed.max(0) as u64;
        self.requested += requested.max(0) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_and_purge_refuse_states_they_never_touch() {
        let running = JobFilter::new().with_state(JobState::Running);
        for action in [BulkAction::Redrive(RetryAttempts::Keep), BulkAction::Purge] {
            let e = action.plan(&running).unwrap_err().to_string();
            assert!(e.contains("not running"), "{e}");
        }
        let (_, sel) = BulkAction::Redrive(RetryAttempts::Keep).plan(&JobFilter::new()).unwrap();
        assert_eq!(sel.states, Some(vec![JobState::Discarded]));
        assert!(BulkAction::Purge.plan(&JobFilter::new().with_state(JobState::Completed)).is_ok());
    }
}
