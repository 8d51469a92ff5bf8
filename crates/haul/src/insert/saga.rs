//! A [`Saga`]: steps that run one after the other, each with an optional compensation; the
//! steps are inserted as a chain with the saga row in one statement, the compensations kept
//! on the row until a step fails for good.

use super::fan_out::job_row;
use super::{IntoNewJob, NewJob, build_batch};
use crate::db::InsertBatch;
use crate::error::{Error, Result};
use crate::workflow::DEPENDENTS_KEY;
use serde_json::Value;

/// Steps that run one after the other, each once the one before it completed, each with an
/// optional compensation: a job that undoes it.
///
/// When a step fails for good (discarded, or cancelled), the steps after it are cancelled and
/// the compensations of the steps that completed before it run, last step first, each once
/// the one before it completed. Each compensation is an ordinary job: durable, retried by its
/// own policy. One that fails for good stops the rollback there (the rest are cancelled,
/// saying why), for an operator to look at. Everything lives in the jobs table and the saga's
/// row, written by the transaction that ends each step: a worker killed mid-saga loses
/// nothing, and another carries on once the rescuer returns its job.
///
/// ```
/// use haul::{NewJob, Saga};
/// let job = |kind: &str| NewJob::raw(kind, serde_json::json!({ "order": 42 }));
/// let saga = Saga::new()
///     .step_with_compensation(job("reserve_inventory"), job("release_inventory"))
///     .step_with_compensation(job("charge_card"), job("refund_card"))
///     .step(job("confirm_order"));
/// assert_eq!(saga.len(), 3);
/// ```
#[derive(Debug, Default)]
pub struct Saga {
    steps: Vec<(NewJob, Option<NewJob>)>,
}

impl Saga {
    /// A saga with no steps yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A step with nothing to undo.
    pub fn step(mut self, job: impl IntoNewJob) -> Self {
        self.steps.push((job.into_new_job(), None));
        self
    }

    /// A step, and the job that undoes it if a later step fails for good.
    pub fn step_with_compensation(mut self, job: impl IntoNewJob, compensation: impl IntoNewJob) -> Self {
        self.steps.push((job.into_new_job(), Some(compensation.into_new_job())));
        self
    }

    /// Steps in the saga.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether it has no steps (such a saga is refused at insert).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// A saga as inserted: its id and its steps' job ids, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InsertedSaga {
    /// The saga's id ([`Client::saga`](crate::Client::saga) reports its state).
    pub id: i64,
    /// The steps' job ids, in order.
    pub steps: Vec<i64>,
}

/// A saga ready for its statement.
pub(crate) struct PlannedSaga {
    pub steps: InsertBatch,
    /// One compensation row or null per step, as a JSON array.
    pub compensations: String,
}

/// Validates `saga` before any SQL and marks every step but the last as waited on.
pub(crate) fn plan_saga(saga: Saga, max_steps: usize, max_payload: usize) -> Result<PlannedSaga> {
    let n = saga.steps.len();
    if n == 0 {
        return Err(Error::invalid_option("saga", "a saga needs at least one step"));
    }
    if n > max_steps {
        return Err(Error::FanOutTooLarge { children: n, max: max_steps });
    }
    let mut steps = Vec::with_capacity(n);
    let mut compensations = Vec::with_capacity(n);
    for (i, (job, comp)) in saga.steps.into_iter().enumerate() {
        let all = std::iter::once(&job).chain(&comp);
        if let Some(j) = all.clone().find(|j| j.unique.is_some() || j.unique_key.is_some()) {
            return Err(Error::invalid_option(&j.kind, "saga steps and compensations cannot be unique jobs"));
        }
        if let Some(j) = all.clone().find(|j| j.run_at.is_some()) {
            return Err(Error::invalid_option(&j.kind, "a saga step or compensation takes no run_at"));
        }
        steps.push(object_metadata(job, i + 1 < n)?);
        let comp = comp.map(|c| object_metadata(c, false)).transpose()?;
        compensations.push(comp.map(|c| job_row(c, max_payload)).transpose()?.unwrap_or(Value::Null));
    }
    let compensations = Value::Array(compensations).to_string();
    Ok(PlannedSaga { steps: build_batch(steps, max_payload)?, compensations })
}

/// `job` with metadata that is a JSON object, marked as waited on when `waited_on`.
fn object_metadata(mut job: NewJob, waited_on: bool) -> Result<NewJob> {
    let meta = job.metadata.as_deref().unwrap_or("{}");
    let mut map: serde_json::Map<String, Value> = serde_json::from_str(meta)
        .map_err(|_| Error::invalid_option(&job.kind, "in a saga, a job's metadata must be a JSON object"))?;
    if waited_on {
        map.insert(DEPENDENTS_KEY.into(), true.into());
    }
    job.metadata = Some(Value::Object(map).to_string());
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: &str) -> NewJob {
        NewJob::raw(kind, serde_json::json!({}))
    }

    #[test]
    fn steps_are_chained_and_compensations_kept_in_order() {
        let saga = Saga::new().step_with_compensation(job("a"), job("undo_a")).step(job("b")).step(job("c"));
        let p = plan_saga(saga, 10, 1024).unwrap();
        let marked: Vec<bool> = p
            .steps
            .metadata
            .iter()
            .map(|m| m.as_deref().is_some_and(|m| m.contains(DEPENDENTS_KEY)))
            .collect();
        assert_eq!(marked, [true, true, false]);
        let comps: Vec<Value> = serde_json::from_str(&p.compensations).unwrap();
        assert_eq!(
            (comps[0]["kind"].as_str(), comps[1].is_null(), comps[2].is_null()),
            (Some("undo_a"), true, true)
        );
    }

    #[test]
    fn an_empty_or_oversized_saga_is_refused() {
        assert!(plan_saga(Saga::new(), 10, 1024).is_err());
        let long = (0..11).fold(Saga::new(), |s, _| s.step(job("a")));
        assert!(matches!(plan_saga(long, 10, 1024), Err(Error::FanOutTooLarge { .. })));
    }
}
