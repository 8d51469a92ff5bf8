//! [`JobFilter`]: which jobs an operator's listing or bulk action applies to.

use crate::db::JobSelection;
use crate::error::{Error, Result};
use crate::job::JobState;
use crate::names;
use crate::storable::DELAY_MAX;
use std::time::Duration;

/// Which jobs a listing or a bulk action applies to: every condition given must hold, and a
/// filter with none ([`JobFilter::new`]) matches every job.
///
/// A job's age runs from when it reached a final state (completed, cancelled, discarded), or
/// from when it was inserted while it has not: `with_older_than(7 days)` on dead letters means
/// "discarded more than 7 days ago", on available jobs "waiting for more than 7 days".
///
/// ```
/// use haul::{JobFilter, JobState};
/// use std::time::Duration;
///
/// let filter = JobFilter::new()
///     .with_queue("mail")
///     .with_state(JobState::Discarded)
///     .with_newer_than(Duration::from_secs(24 * 3600))
///     .with_tag("customer:42");
/// assert!(filter.validate().is_ok());
/// assert!(JobFilter::new().with_kind("no spaces allowed").validate().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    queue: Option<String>,
    kind: Option<String>,
    states: Vec<JobState>,
    older_than: Option<Duration>,
    newer_than: Option<Duration>,
    tag: Option<String>,
}

impl JobFilter {
    /// A filter that matches every job.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only jobs of this queue.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Only jobs of this kind.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Only jobs in this state; called again, in any of the states given.
    pub fn with_state(mut self, state: JobState) -> Self {
        if !self.states.contains(&state) {
            self.states.push(state);
        }
        self
    }

    /// Only jobs in one of these states (added to any given before).
    pub fn with_states(self, states: impl IntoIterator<Item = JobState>) -> Self {
        states.into_iter().fold(self, JobFilter::with_state)
    }

    /// Only jobs older than `age` (see the type's doc for what age means).
    pub fn with_older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }

    /// Only jobs at most `age` old.
    pub fn with_newer_than(mut self, age: Duration) -> Self {
        self.newer_than = Some(age);
        self
    }

    /// Only jobs carrying this tag.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// The states asked for; empty: every state.
    pub fn states(&self) -> &[JobState] {
        &self.states
    }

    /// True when no condition is set, so the filter matches every job.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the filter without running it: names as [`names`](crate::names) rules them,
    /// ages up to 100 years, and an age window that some job can fall in.
    pub fn validate(&self) -> Result<()> {
        self.queue.as_deref().map_or(Ok(()), names::validate_queue)?;
        self.kind.as_deref().map_or(Ok(()), names::validate_kind)?;
        self.tag.as_deref().map_or(Ok(()), names::validate_tag)?;
        for age in [self.older_than, self.newer_than].into_iter().flatten() {
            if age > DELAY_MAX {
                return Err(Error::InvalidFilter(format!("an age of {age:?} is over the 100-year limit")));
            }
        }
        if let (Some(older), Some(newer)) = (self.older_than, self.newer_than)
            && older >= newer
        {
            return Err(Error::InvalidFilter(format!(
                "no job is both older than {older:?} and newer than {newer:?}: \
                 the older-than age must be the smaller one"
            )));
        }
        Ok(())
    }

    /// The checked bind values, with `states` in place of the filter's own when given.
    pub(crate) fn selection(&self, states: Option<Vec<JobState>>) -> Result<JobSelection> {
        self.validate()?;
        let own = (!self.states.is_empty()).then(|| self.states.clone());
        Ok(JobSelection {
            queue: self.queue.clone(),
            kind: self.kind.clone(),
            states: states.or(own),
            older_than_s: self.older_than.map(|d| d.as_secs_f64()),
            newer_than_s: self.newer_than.map(|d| d.as_secs_f64()),
            tag: self.tag.clone(),
        })
    }
}
