//! The states a job moves through (drawn in `docs/state_machine.md`).

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};
use std::fmt;
use std::str::FromStr;

/// Where a job is in its life. Stored as text in the `state` column.
///
/// ```
/// use haul::JobState;
/// assert_eq!("discarded".parse::<JobState>().unwrap(), JobState::Discarded);
/// assert!(JobState::Discarded.is_final());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Waiting on other jobs (workflows); not fetched.
    Pending,
    /// Waiting for its `run_at`; the scheduler makes it available.
    Scheduled,
    /// Ready to be claimed by a worker.
    Available,
    /// Claimed by a worker, under a lease.
    Running,
    /// Failed an attempt; waits for its backoff, then becomes available.
    Retryable,
    /// Finished successfully (kept only when completed retention is on).
    Completed,
    /// Stopped on purpose, by the handler or an operator.
    Cancelled,
    /// The dead letter: attempts exhausted, or a permanent error. Keeps every attempt's error.
    Discarded,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 8] = [
        JobState::Pending,
        JobState::Scheduled,
        JobState::Available,
        JobState::Running,
        JobState::Retryable,
        JobState::Completed,
        JobState::Cancelled,
        JobState::Discarded,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Scheduled => "scheduled",
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
            JobState::Discarded => "discarded",
        }
    }

    /// True for states a job never leaves on its own: completed, cancelled, discarded.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Cancelled | JobState::Discarded)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown job state `{s}` (one of: {})", known.join(", "))
        })
    }
}

/// Bound and read as `text` (its [`as_str`](JobState::as_str) name), so a statement binding a
/// state has the parameter types, and so the plans, it has when binding the name.
impl Type<Postgres> for JobState {
    fn type_info() -> PgTypeInfo {
        <str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <str as Type<Postgres>>::compatible(ty)
    }
}

impl PgHasArrayType for JobState {
    fn array_type_info() -> PgTypeInfo {
        <&str as PgHasArrayType>::array_type_info()
    }

    fn array_compatible(ty: &PgTypeInfo) -> bool {
        <&str as PgHasArrayType>::array_compatible(ty)
    }
}

impl Encode<'_, Postgres> for JobState {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode(self.as_str(), buf)
    }

    fn size_hint(&self) -> usize {
        self.as_str().len()
    }
}

impl<'r> Decode<'r, Postgres> for JobState {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(<&str as Decode<Postgres>>::decode(value)?.parse()?)
    }
}
