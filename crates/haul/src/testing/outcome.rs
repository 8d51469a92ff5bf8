//! What an attempt run by a test came to: the closed set of outcomes Haul records, with the
//! error that goes with each.

use crate::complete::EventOutcome;
use crate::complete::plan::Planned;
use crate::job::ErrorClass;
use std::time::Duration;

/// The outcome Haul records for an attempt a test ran: what the row becomes, after the
/// attempts left are counted (a failure on the last attempt is [`Performed::Discarded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Performed {
    /// Succeeded (the handler returned `Ok`, or completed the job in its own transaction).
    Completed,
    /// Failed with attempts left: runs again after `after`.
    Retried {
        /// How it failed: [`ErrorClass::Error`] for a returned error, [`ErrorClass::Panic`]
        /// for a panic, [`ErrorClass::Timeout`] past the timeout.
        class: ErrorClass,
        /// The error recorded (a panic's is `handler panicked: <message>`).
        error: String,
        /// The backoff chosen, or the handler's own delay.
        after: Duration,
    },
    /// Snoozed: runs again after this long without using an attempt.
    Snoozed(Duration),
    /// Cancelled by its handler, with this reason.
    Cancelled(String),
    /// The dead letter: the handler discarded it, its args did not decode, or it failed on
    /// its last attempt.
    Discarded {
        /// How it failed.
        class: ErrorClass,
        /// The error recorded.
        error: String,
    },
}

impl Performed {
    /// The outcome a planned row change stands for.
    pub(super) fn planned(p: &Planned) -> Self {
        let (class, error) = p.error.clone().map_or((None, None), |(c, e)| (Some(c), Some(e)));
        Self::committed(p.event, error, class)
    }

    /// The outcome an event reports, with the error class of the attempt's plan.
    pub(super) fn committed(outcome: EventOutcome, error: Option<String>, class: Option<ErrorClass>) -> Self {
        let class = class.unwrap_or(ErrorClass::Error);
        let error = error.unwrap_or_default();
        match outcome {
            EventOutcome::Completed => Performed::Completed,
            EventOutcome::Retrying { after } => Performed::Retried { class, error, after },
            EventOutcome::Snoozed(d) => Performed::Snoozed(d),
            EventOutcome::Cancelled => Performed::Cancelled(error),
            EventOutcome::Discarded => Performed::Discarded { class, error },
        }
    }

    /// Whether the attempt succeeded.
    pub fn is_completed(&self) -> bool {
        *self == Performed::Completed
    }
}
