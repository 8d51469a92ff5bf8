//! What an attempt's outcome does to its row: the target state, the delay before it runs
//! again, the error to append, and the event to publish once it commits.

use super::event::{EventOutcome, JobEvent};
use crate::db::CompletionBatch;
use crate::execute::{Attempt, Outcome};
use crate::hooks::{Ended, RecordedBy, Transition};
use crate::job::{ErrorClass, JobState};
use crate::stats::Counted;
use crate::workflow::{batch_of, has_dependents, saga_of};
use std::time::Duration;

/// One row change, ready for the batch.
pub(crate) struct Planned {
    /// False when the handler already completed the job in its own transaction.
    pub write: bool,
    pub state: JobState,
    pub delay: Option<Duration>,
    pub refund: bool,
    pub error: Option<(ErrorClass, String)>,
    pub event: EventOutcome,
}

impl Planned {
    /// The event for this outcome, given the state the row actually ended in (a requested
    /// cancellation turns a failure into `cancelled`).
    pub(crate) fn outcome_in(&self, state: JobState) -> EventOutcome {
        match state {
            JobState::Cancelled => EventOutcome::Cancelled,
            _ => self.event,
        }
    }

    pub(crate) fn counted(outcome: EventOutcome) -> Counted {
        match outcome {
            EventOutcome::Completed => Counted::Completed,
            EventOutcome::Retrying { .. } => Counted::Retried,
            EventOutcome::Snoozed(_) => Counted::Snoozed,
            EventOutcome::Cancelled => Counted::Cancelled,
            EventOutcome::Discarded => Counted::Discarded,
        }
    }

    pub(crate) fn event(&self, a: &Attempt, outcome: EventOutcome) -> JobEvent {
        JobEvent {
            id: a.info.id,
            kind: a.info.kind.clone(),
            queue: a.info.queue.clone(),
            attempt: a.info.attempt,
            outcome,
            run_time: a.run_time,
            queue_wait: a.info.queue_wait,
            error: self.error.as_ref().map(|(_, e)| e.clone()),
        }
    }
}

impl Planned {
    /// What the hooks are told of this outcome, once committed in `outcome`.
    pub(crate) fn transition(&self, a: &Attempt, outcome: EventOutcome) -> (Transition, Ended) {
        let job = Transition {
            id: a.info.id,
            kind: a.info.kind.clone(),
            queue: a.info.queue.clone(),
            attempt: a.info.attempt,
            run_time: Some(a.run_time),
            queue_wait: Some(a.info.queue_wait),
            error: self.error.clone(),
            by: RecordedBy::Worker,
        };
        let ended = match outcome {
            EventOutcome::Completed => Ended::Completed,
            EventOutcome::Retrying { after } => Ended::Retrying(after),
            EventOutcome::Snoozed(d) => Ended::Snoozed(d),
            EventOutcome::Cancelled => Ended::Cancelled,
            EventOutcome::Discarded => {
                let on_purpose = matches!(self.error, Some((ErrorClass::Discard | ErrorClass::Decode, _)));
                Ended::Discarded { failed: !on_purpose }
            }
        };
        (job, ended)
    }
}

/// Decides the row change for an attempt: retries while attempts remain, then the dead letter.
pub(crate) fn plan(a: &Attempt) -> Planned {
    plan_outcome(a, &a.outcome)
}

/// The most bytes of the database's reason kept in a stand-in failure.
const REFUSAL_MAX_BYTES: usize = 2048;

/// The stand-in for an outcome the database refused to store: a failed attempt (retried while
/// attempts remain) whose error names the outcome it replaces and the database's reason.
pub(crate) fn refused(a: &Attempt, was: &Planned, why: &str) -> Planned {
    let why = crate::storable::text(why, REFUSAL_MAX_BYTES);
    let error = format!("Haul could not record this attempt's outcome ({}): {why}", was.state.as_str());
    plan_outcome(a, &Outcome::Failed { class: ErrorClass::Unrecorded, error, after: None })
}

fn plan_outcome(a: &Attempt, outcome: &Outcome) -> Planned {
    let last = a.info.attempt >= a.info.max_attempts;
    match outcome {
        Outcome::Completed => planned(JobState::Completed, None, None, EventOutcome::Completed),
        Outcome::CompletedInTx => {
            Planned { write: false, ..planned(JobState::Completed, None, None, EventOutcome::Completed) }
        }
        Outcome::Snoozed(d) => Planned {
            refund: true,
            ..planned(JobState::Scheduled, Some(*d), None, EventOutcome::Snoozed(*d))
        },
        Outcome::Cancelled(r) => {
            planned(JobState::Cancelled, None, Some((ErrorClass::Cancel, r.clone())), EventOutcome::Cancelled)
        }
        Outcome::Discarded { class, error } => {
            planned(JobState::Discarded, None, Some((*class, error.clone())), EventOutcome::Discarded)
        }
        Outcome::Failed { class, error, .. } if last => {
            let error =
                format!("{error} (attempt {} of {}: no attempts left)", a.info.attempt, a.info.max_attempts);
            planned(JobState::Discarded, None, Some((*class, error)), EventOutcome::Discarded)
        }
        Outcome::Failed { class, error, after } => {
            let wait = after.unwrap_or_else(|| a.retry.backoff(a.info.attempt));
            let event = EventOutcome::Retrying { after: wait };
            planned(JobState::Retryable, Some(wait), Some((*class, error.clone())), event)
        }
    }
}

fn planned(
    state: JobState,
    delay: Option<Duration>,
    error: Option<(ErrorClass, String)>,
    event: EventOutcome,
) -> Planned {
    Planned { write: true, state, delay, refund: false, error, event }
}

/// Lays planned changes out as the columns of one statement.
pub(crate) fn to_batch(attempts: &[Attempt], plans: &[Planned]) -> CompletionBatch {
    let mut b = CompletionBatch::default();
    for (a, p) in attempts.iter().zip(plans).filter(|(_, p)| p.write) {
        b.ids.push(a.info.id);
        b.attempts.push(a.info.attempt);
        b.slots.push(a.info.slot);
        b.states.push(p.state);
        b.delays_us.push(p.delay.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)));
        b.refunds.push(p.refund);
        b.classes.push(p.error.as_ref().map(|(c, _)| c.as_str()));
        b.errors.push(p.error.as_ref().map(|(_, e)| e.clone()));
    }
    // every member of a batch, written here or completed in its handler's transaction
    b.settle = attempts.iter().filter_map(|a| batch_of(&a.info.metadata.0)).collect();
    b.settle.sort_unstable();
    b.settle.dedup();
    let waited_on = attempts.iter().filter(|a| has_dependents(&a.info.metadata.0));
    b.release = waited_on.map(|a| a.info.id).collect();
    b.sagas = attempts.iter().filter_map(|a| saga_of(&a.info.metadata.0)).collect();
    b.sagas.sort_unstable();
    b.sagas.dedup();
    b
}
