//! Workflows as seen from outside: a fan-out batch's progress ([`BatchInfo`]) and the final
//! counts its callback receives ([`BatchResult`]), what a waiting job waits on
//! ([`WaitingOn`]), and the metadata keys that tell the completer a job has follow-ups.
//! Batches and workflows are inserted by `insert` and settled by `db::job::{flow, depend}`.

use crate::db::{BatchRow, SagaRow};
use crate::job::JobState;
use crate::queue::JobCounts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The metadata key naming a child's batch (`{"haul:batch": 12}`): the completer reads it from
/// the claimed row to settle the batch in the completing transaction. Plain jobs lack it.
pub(crate) const BATCH_KEY: &str = "haul:batch";
/// The metadata key marking a job other jobs wait on (`{"haul:dependents": true}`): the
/// completer settles its dependents in the completing transaction. Plain jobs lack it.
pub(crate) const DEPENDENTS_KEY: &str = "haul:dependents";

/// Whether a job's metadata (JSON text) marks it as waited on.
pub(crate) fn has_dependents(metadata: &str) -> bool {
    metadata.contains(DEPENDENTS_KEY)
}

/// The metadata key naming a saga step's saga and position (`{"haul:saga": {"id": 3,
/// "step": 0}}`): the completer settles the saga in the completing transaction.
pub(crate) const SAGA_KEY: &str = "haul:saga";

/// The saga named in a job's metadata (JSON text), if any.
pub(crate) fn saga_of(metadata: &str) -> Option<i64> {
    if !metadata.contains(SAGA_KEY) {
        return None;
    }
    let meta: serde_json::Map<String, serde_json::Value> = serde_json::from_str(metadata).ok()?;
    meta.get(SAGA_KEY)?.get("id")?.as_i64()
}

/// A job a waiting job waits on ([`Client::waits_on`](crate::Client::waits_on)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WaitingOn {
    /// The job waited on.
    pub id: i64,
    /// Its state; `None` once its row is gone (it completed and was deleted).
    pub state: Option<JobState>,
}

/// The metadata key under which a batch's callback job receives its [`BatchResult`].
pub(crate) const BATCH_RESULT_KEY: &str = "haul:batch_result";

/// The batch named in a job's metadata (JSON text), if any. Plain metadata is rejected by a
/// substring test before any parsing.
pub(crate) fn batch_of(metadata: &str) -> Option<i64> {
    if !metadata.contains(BATCH_KEY) {
        return None;
    }
    let meta: serde_json::Map<String, serde_json::Value> = serde_json::from_str(metadata).ok()?;
    meta.get(BATCH_KEY)?.as_i64()
}

/// How a batch's children ended, as its callback job receives it
/// ([`JobContext::batch_result`](crate::JobContext::batch_result)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchResult {
    /// The batch's id.
    pub batch: i64,
    /// Children that completed (a child whose row is gone counts here).
    pub completed: i64,
    /// Children that ended in the dead letter.
    pub discarded: i64,
    /// Children that were cancelled.
    pub cancelled: i64,
}

impl BatchResult {
    /// The result carried in a callback job's metadata (JSON text), if any.
    pub(crate) fn from_metadata(metadata: &str) -> Option<Self> {
        if !metadata.contains(BATCH_RESULT_KEY) {
            return None;
        }
        let mut meta: serde_json::Map<String, serde_json::Value> = serde_json::from_str(metadata).ok()?;
        serde_json::from_value(meta.remove(BATCH_RESULT_KEY)?).ok()
    }
}

/// A batch's progress ([`Client::batch`](crate::Client::batch)).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BatchInfo {
    /// The batch's id.
    pub id: i64,
    /// The job that fanned out, when a handler inserted the batch.
    pub parent_id: Option<i64>,
    /// Children inserted.
    pub total: i64,
    /// Children still stored, by state (completed children are deleted unless retained, so
    /// `total` minus the sum is the number completed and gone).
    pub states: JobCounts,
    /// The final counts, once every child has finished.
    pub result: Option<BatchResult>,
    /// The callback job inserted when the batch finished, if it has one.
    pub callback_id: Option<i64>,
    /// When the batch was inserted.
    pub created_at: DateTime<Utc>,
    /// When its last child finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl BatchInfo {
    /// Children not finished yet.
    pub fn waiting(&self) -> i64 {
        let s = &self.states;
        s.pending + s.scheduled + s.available + s.running + s.retryable
    }
}

impl From<BatchRow> for BatchInfo {
    fn from(r: BatchRow) -> Self {
        let mut states = JobCounts::default();
        for (state, n) in r.states.into_iter().zip(r.counts) {
            states.add(state, n);
        }
        let result = match (r.completed, r.discarded, r.cancelled) {
            (Some(c), Some(d), Some(x)) => Some(BatchResult {
                batch: r.id,
                completed: c.into(),
                discarded: d.into(),
                cancelled: x.into(),
            }),
            _ => None,
        };
        BatchInfo {
            id: r.id,
            parent_id: r.parent_id,
            total: r.total.into(),
            states,
            result,
            callback_id: r.callback_id,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// Where a saga is ([`SagaInfo::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SagaState {
    /// Its steps are running or waiting.
    Running,
    /// Every step completed.
    Completed,
    /// A step failed for good; its earlier steps' compensations are running or waiting.
    Compensating,
    /// A step failed for good and every compensation completed.
    Compensated,
}

/// A saga's progress ([`Client::saga`](crate::Client::saga)).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SagaInfo {
    /// The saga's id.
    pub id: i64,
    /// Where it is.
    pub state: SagaState,
    /// The steps in order, with their states (`None`: completed and deleted).
    pub steps: Vec<WaitingOn>,
    /// The step (from 0) that failed for good, if one did.
    pub failed_step: Option<i32>,
    /// The compensations inserted, in the order they run (last step first), with their states.
    pub compensations: Vec<WaitingOn>,
    /// When it was inserted.
    pub created_at: DateTime<Utc>,
    /// When its steps ended (all completed, or one failed for good).
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<SagaRow> for SagaInfo {
    fn from(r: SagaRow) -> Self {
        let pair = |ids: Vec<i64>, states: Vec<Option<JobState>>| -> Vec<WaitingOn> {
            ids.into_iter().zip(states).map(|(id, state)| WaitingOn { id, state }).collect()
        };
        let compensations = pair(r.compensation_ids, r.compensation_states);
        let gone_or_done = |w: &WaitingOn| matches!(w.state, None | Some(JobState::Completed));
        let state = match r.state.as_str() {
            "completed" => SagaState::Completed,
            "compensating" if compensations.iter().all(gone_or_done) => SagaState::Compensated,
            "compensating" => SagaState::Compensating,
            _ => SagaState::Running,
        };
        SagaInfo {
            id: r.id,
            state,
            steps: pair(r.step_ids, r.step_states),
            failed_step: r.failed_step,
            compensations,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_of_reads_only_the_key() {
        assert_eq!(batch_of(r#"{"haul:batch": 12, "tenant": "a"}"#), Some(12));
        assert_eq!(batch_of(r#"{"tenant": "a"}"#), None);
        assert_eq!(batch_of(r#"["haul:batch"]"#), None);
        assert_eq!(batch_of(r#"{"haul:batch": "x"}"#), None);
    }

    #[test]
    fn a_result_is_read_from_its_key() {
        let meta = r#"{"haul:batch_result": {"batch": 3, "completed": 8, "discarded": 1, "cancelled": 1}}"#;
        let r = BatchResult::from_metadata(meta).unwrap();
        assert_eq!((r.batch, r.completed, r.discarded, r.cancelled), (3, 8, 1, 1));
        assert_eq!(BatchResult::from_metadata("{}"), None);
    }
}
