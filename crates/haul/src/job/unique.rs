//! Unique jobs: which jobs count as the same (a key derived from the kind, chosen args fields
//! and an optional period, or one given), and in which states the key stays taken. The
//! database enforces it with a partial unique index, never a read before the insert.

use super::JobState;
use std::time::Duration;

/// The states in which a unique key stays taken.
///
/// Always includes the states a job moves between by itself (scheduled, available, running,
/// retryable), so a job of the key can never collide with another on its own way; the others
/// (pending, completed, cancelled, discarded) are each a choice.
///
/// ```
/// use haul::{JobState, UniqueStates};
/// let states = UniqueStates::DEFAULT.with(JobState::Completed);
/// assert!(states.contains(JobState::Completed) && states.contains(JobState::Running));
/// assert!(!UniqueStates::DEFAULT.contains(JobState::Discarded));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniqueStates(i32);

impl UniqueStates {
    /// Every state in which the job is not finished: pending, scheduled, available, running,
    /// retryable. Once it completes, is cancelled or discarded, the key is free again.
    pub const DEFAULT: UniqueStates = UniqueStates(0)
        .with(JobState::Pending)
        .with(JobState::Scheduled)
        .with(JobState::Available)
        .with(JobState::Running)
        .with(JobState::Retryable);

    /// These states and `state`.
    pub const fn with(self, state: JobState) -> Self {
        UniqueStates(self.0 | bit(state))
    }

    /// Whether the key stays taken in `state`.
    pub const fn contains(self, state: JobState) -> bool {
        self.0 & bit(state) != 0
    }

    /// The bitmask stored in `unique_states` (the index's predicate decodes it the same way).
    pub(crate) const fn bits(self) -> i32 {
        self.0
    }
}

/// A state's bit in [`UniqueStates`]: the migration's index predicate uses the same numbers.
const fn bit(state: JobState) -> i32 {
    match state {
        JobState::Pending => 1,
        JobState::Scheduled => 2,
        JobState::Available => 4,
        JobState::Running => 8,
        JobState::Retryable => 16,
        JobState::Completed => 32,
        JobState::Cancelled => 64,
        JobState::Discarded => 128,
    }
}

/// How a kind's jobs are unique: what makes two jobs the same, for how long, in which states.
///
/// The key is the kind plus the chosen args fields' values (all args with
/// [`Unique::by_args`]`(&[])`), plus, with [`Unique::per`], the period of the database's clock
/// the insert falls in ("one per user per hour"). An insert whose key is taken inserts nothing
/// and reports the existing job's id.
///
/// ```
/// use haul::{Job, Unique};
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize)]
/// struct Digest { user_id: i64, style: String }
///
/// impl Job for Digest {
///     const KIND: &'static str = "digest";
///     // one digest per user per hour, whatever the style
///     const UNIQUE: Option<Unique> = Some(Unique::by_args(&["user_id"]).per(Duration::from_secs(3600)));
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unique {
    pub(crate) fields: Option<&'static [&'static str]>,
    pub(crate) period: Option<Duration>,
    pub(crate) states: UniqueStates,
}

impl Unique {
    /// One job of the kind at a time.
    pub const fn by_kind() -> Self {
        Unique { fields: None, period: None, states: UniqueStates::DEFAULT }
    }

    /// One job per value of these args fields (top-level names); `&[]` means all the args.
    pub const fn by_args(fields: &'static [&'static str]) -> Self {
        Unique { fields: Some(fields), period: None, states: UniqueStates::DEFAULT }
    }

    /// Unique within each `period` of the database's clock (aligned to the Unix epoch).
    pub const fn per(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// The states in which the key stays taken. Defaults to [`UniqueStates::DEFAULT`].
    pub const fn in_states(mut self, states: UniqueStates) -> Self {
        self.states = states;
        self
    }

    /// The key for a job of `kind` with `args` (JSON text); `None` if the args are not JSON.
    pub(crate) fn key(&self, kind: &str, args: &str) -> Option<String> {
        let Some(fields) = self.fields else { return Some(kind.to_owned()) };
        let args: serde_json::Value = serde_json::from_str(args).ok()?;
        if fields.is_empty() {
            return Some(format!("{kind}:{args}"));
        }
        let picked: Vec<&serde_json::Value> =
            fields.iter().map(|f| args.get(f).unwrap_or(&serde_json::Value::Null)).collect();
        Some(format!("{kind}:{}", serde_json::to_string(&picked).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_take_the_kind_and_the_chosen_fields_in_order() {
        let args = r#"{"user_id": 7, "style": "short", "n": [1, 2]}"#;
        assert_eq!(Unique::by_kind().key("digest", args).unwrap(), "digest");
        assert_eq!(Unique::by_args(&["user_id"]).key("digest", args).unwrap(), "digest:[7]");
        assert_eq!(Unique::by_args(&["style", "missing"]).key("d", args).unwrap(), r#"d:["short",null]"#);
        let all = Unique::by_args(&[]).key("d", args).unwrap();
        assert!(all.starts_with("d:{") && all.contains("\"user_id\":7"), "{all}");
    }

    #[test]
    fn the_default_states_are_the_unfinished_ones() {
        let d = UniqueStates::DEFAULT;
        assert_eq!(d.bits(), 1 | 2 | 4 | 8 | 16);
        assert!(
            !d.contains(JobState::Completed) && d.with(JobState::Completed).contains(JobState::Completed)
        );
    }
}
