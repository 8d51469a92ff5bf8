//! A job as stored: the full row, and the error history kept on it.

use super::JobState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One row of the jobs table, as returned by queries such as
/// [`Client::get`](crate::Client::get) and [`Client::dead_letters`](crate::Client::dead_letters).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct JobRow {
    /// 64-bit id, unique for the schema's lifetime.
    pub id: i64,
    /// The job kind.
    pub kind: String,
    /// The queue it runs on.
    pub queue: String,
    /// The args as JSON.
    pub args: serde_json::Value,
    /// Current state.
    pub state: JobState,
    /// Priority: lower runs first.
    pub priority: i16,
    /// Attempts started so far.
    pub attempt: i16,
    /// Attempts allowed before the dead letter.
    pub max_attempts: i16,
    /// When it is due (scheduled time, or next retry).
    pub run_at: DateTime<Utc>,
    /// When it was inserted.
    pub created_at: DateTime<Utc>,
    /// When the latest attempt started.
    pub attempted_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finalized_at: Option<DateTime<Utc>>,
    /// While running: when the lease runs out unless a heartbeat extends it.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker that ran the latest attempt.
    pub attempted_by: Option<String>,
    /// Every failed attempt's error, oldest first.
    pub errors: Vec<AttemptError>,
    /// Caller's metadata.
    pub metadata: serde_json::Value,
    /// Tags.
    pub tags: Vec<String>,
    /// The fan-out batch it belongs to ([`Client::batch`](crate::Client::batch)), if any.
    pub batch_id: Option<i64>,
}

/// How an attempt ended badly, as recorded in the row's error history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// The handler returned an error (retried per policy).
    Error,
    /// The handler panicked.
    Panic,
    /// The attempt ran past its timeout.
    Timeout,
    /// The args did not decode into the handler's type (permanent).
    Decode,
    /// No handler is registered for the kind in the worker that fetched it.
    UnknownKind,
    /// The handler asked to discard the job.
    Discard,
    /// The job was cancelled by its handler or an operator.
    Cancel,
    /// The worker holding the job stopped heartbeating; the job was rescued.
    Rescued,
    /// The database refused to record the attempt's own outcome; this failure stands in for it.
    Unrecorded,
}

impl ErrorClass {
    /// The name stored in the error history.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Error => "error",
            ErrorClass::Panic => "panic",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Decode => "decode",
            ErrorClass::UnknownKind => "unknown_kind",
            ErrorClass::Discard => "discard",
            ErrorClass::Cancel => "cancel",
            ErrorClass::Rescued => "rescued",
            ErrorClass::Unrecorded => "unrecorded",
        }
    }
}

/// One failed attempt, kept forever on the row (the dead-letter history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttemptError {
    /// Database time of the failure.
    pub at: DateTime<Utc>,
    /// Which attempt failed (1-based).
    pub attempt: i16,
    /// How it failed.
    pub class: ErrorClass,
    /// The error's message.
    pub error: String,
    /// The worker that ran the attempt (`None` when no worker held it, e.g. an operator's
    /// cancel of a waiting job).
    #[serde(default)]
    pub worker: Option<String>,
}
