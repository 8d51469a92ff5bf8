//! Stage 1, insert: a job to enqueue ([`NewJob`]), its options and its validation, done before
//! any SQL. The statement itself is `job_insert_many` in `db/job.rs`.

mod batch;
mod fan_out;
mod saga;
mod unique;
mod workflow;

pub(crate) use batch::build_batch;
pub(crate) use fan_out::build_fan_out;
pub use fan_out::{Batch, InsertedBatch};
pub(crate) use saga::plan_saga;
pub use saga::{InsertedSaga, Saga};
pub use unique::Inserted;
pub(crate) use unique::plan as plan_unique;
pub(crate) use workflow::plan_workflow;
pub use workflow::{InsertedWorkflow, Workflow};

use crate::error::{Error, Result};
use crate::job::{
    Job, MAX_ATTEMPTS_DEFAULT, PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN, QUEUE_DEFAULT, Unique,
};
use crate::names;
use crate::storable::{self, DELAY_MAX};
use chrono::Datelike;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::time::Duration;

/// Most tags one job may carry.
pub const TAGS_MAX: usize = 20;
/// Longest unique key, in bytes.
pub const UNIQUE_KEY_MAX: usize = 512;

/// What makes a job unique, resolved for the insert statement.
#[derive(Debug)]
pub(crate) struct UniqueSpec {
    pub key: String,
    /// The period in whole seconds; the database appends the current period's number.
    pub period: Option<i64>,
    /// [`UniqueStates`](crate::UniqueStates) bits.
    pub states: i32,
}

/// A job ready to insert: kind, JSON args and options.
///
/// Build one from a typed job with [`NewJob::new`] (its kind's defaults apply) or from a kind
/// name and JSON with [`NewJob::raw`]; override options with the `with_*` setters. Every
/// check runs before SQL, at insert time.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize)]
/// struct SendEmail { to: String }
/// impl haul::Job for SendEmail { const KIND: &'static str = "send_email"; }
///
/// let job = haul::NewJob::new(&SendEmail { to: "a@example.com".into() })
///     .with_queue("mail")
///     .with_priority(-1)
///     .with_delay(Duration::from_secs(60))
///     .with_tags(["welcome"]);
/// assert_eq!(job.kind(), "send_email");
/// let raw = haul::NewJob::raw("send_email", serde_json::json!({"to": "b@example.com"}));
/// assert_eq!(raw.queue(), "default");
/// ```
#[derive(Debug)]
pub struct NewJob {
    kind: Cow<'static, str>,
    queue: Cow<'static, str>,
    args: std::result::Result<String, serde_json::Error>,
    priority: i16,
    max_attempts: i16,
    run_at: Option<DateTime<Utc>>,
    delay: Option<Duration>,
    timeout: Option<Duration>,
    metadata: Option<String>,
    tags: Vec<String>,
    unique: Option<Unique>,
    unique_key: Option<String>,
}

impl NewJob {
    /// A typed job with its kind's queue, priority and max attempts.
    pub fn new<J: Job>(job: &J) -> Self {
        NewJob {
            kind: Cow::Borrowed(J::KIND),
            queue: Cow::Borrowed(J::QUEUE),
            args: serde_json::to_string(job),
            priority: J::PRIORITY,
            max_attempts: J::MAX_ATTEMPTS,
            unique: J::UNIQUE,
            ..Self::blank()
        }
    }

    /// A job by kind name and JSON args, with the global defaults (for CLIs, dashboards and
    /// other languages). The kind's handler decodes the args when the job runs.
    pub fn raw(kind: impl Into<String>, args: serde_json::Value) -> Self {
        NewJob { kind: Cow::Owned(kind.into()), args: serde_json::to_string(&args), ..Self::blank() }
    }

    fn blank() -> Self {
        NewJob {
            kind: Cow::Borrowed(""),
            queue: Cow::Borrowed(QUEUE_DEFAULT),
            args: Ok(String::new()),
            priority: PRIORITY_DEFAULT,
            max_attempts: MAX_ATTEMPTS_DEFAULT,
            run_at: None,
            delay: None,
            timeout: None,
            metadata: None,
            tags: Vec::new(),
            unique: None,
            unique_key: None,
        }
    }

    /// Unique as `unique` says, instead of as its kind says (see [`Unique`]).
    pub fn with_unique(mut self, unique: Unique) -> Self {
        self.unique = Some(unique);
        self
    }

    /// Unique by this key, given rather than derived (an idempotency key from a request, say).
    /// The key holds in the states and period of the kind's (or [`Self::with_unique`]'s)
    /// [`Unique`], else in [`UniqueStates::DEFAULT`](crate::UniqueStates::DEFAULT) for ever.
    ///
    /// ```
    /// let job = haul::NewJob::raw("charge", serde_json::json!({"order": 42}))
    ///     .with_unique_key("charge:order-42");
    /// assert_eq!(job.kind(), "charge");
    /// ```
    pub fn with_unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// The unique key, period (whole seconds) and states this job is inserted with, if any.
    pub(crate) fn unique_spec(&mut self, args: &str) -> Result<Option<UniqueSpec>> {
        let unique = self.unique.unwrap_or_else(Unique::by_kind);
        let key = match (self.unique_key.take(), &self.unique) {
            (Some(key), _) => key,
            (None, Some(u)) => u.key(&self.kind, args).unwrap_or_default(),
            (None, None) => return Ok(None),
        };
        if key.is_empty() || key.len() > UNIQUE_KEY_MAX {
            let reason = format!("unique key of {} bytes: give 1..={UNIQUE_KEY_MAX}", key.len());
            return Err(Error::invalid_option(&self.kind, reason));
        }
        let period = match unique.period.map(|p| p.as_secs()) {
            Some(0) => return Err(Error::invalid_option(&self.kind, "unique period under one second")),
            p => p.map(|s| s.min(DELAY_MAX.as_secs()) as i64),
        };
        Ok(Some(UniqueSpec { key, period, states: unique.states.bits() }))
    }

    /// Runs on this queue instead of the kind's.
    pub fn with_queue(mut self, queue: impl Into<Cow<'static, str>>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Priority from `-10` (first) to `10` (last).
    pub fn with_priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Attempts before the dead letter (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: i16) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Runs no earlier than `at` (compared with the database's clock).
    pub fn with_run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Runs no earlier than `delay` after the insert, by the database's clock.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Time limit of each attempt, instead of the kind's.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Metadata kept beside the args (trace ids, tenant...), readable by the handler.
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata.to_string());
        self
    }

    /// Tags for finding jobs later (at most 20; letters, digits, `_-.:`).
    pub fn with_tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The queue.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Checks every option, that PostgreSQL can store the args (JSON text) and metadata, and
    /// their size against `max_payload`.
    pub(crate) fn validate(&self, args: &str, max_payload: usize) -> Result<()> {
        names::validate_kind(&self.kind)?;
        names::validate_queue(&self.queue)?;
        let kind = self.kind.as_ref();
        if !(PRIORITY_MIN..=PRIORITY_MAX).contains(&self.priority) {
            let reason = format!("priority {} is outside -10..=10", self.priority);
            return Err(Error::invalid_option(kind, reason));
        }
        if self.max_attempts < 1 {
            return Err(Error::invalid_option(kind, "max_attempts must be at least 1"));
        }
        self.validate_timeout()?;
        self.validate_tags()?;
        self.validate_time()?;
        self.validate_storable(args)?;
        let size = args.len() + self.metadata.as_ref().map_or(0, String::len);
        if size > max_payload {
            return Err(Error::PayloadTooLarge { kind: kind.to_owned(), size, max: max_payload });
        }
        Ok(())
    }

    /// The args' JSON, or the error that kept them from encoding.
    pub(crate) fn take_args(&mut self) -> Result<String> {
        let args = std::mem::replace(&mut self.args, Ok(String::new()));
        args.map_err(|source| Error::Encode { kind: self.kind.to_string(), source })
    }

    fn validate_timeout(&self) -> Result<()> {
        match self.timeout {
            Some(t) if t.is_zero() || t.as_millis() > i32::MAX as u128 => {
                Err(Error::invalid_option(&self.kind, "timeout must be between 1 ms and about 24 days"))
            }
            _ => Ok(()),
        }
    }

    /// A run-at PostgreSQL's `timestamptz` holds, and a delay of at most [`DELAY_MAX`].
    fn validate_time(&self) -> Result<()> {
        if let Some(at) = self.run_at
            && !storable::YEARS.contains(&at.year())
        {
            let reason = format!("run_at {at} is outside PostgreSQL's range (4713 BC to 294276 AD)");
            return Err(Error::invalid_option(&self.kind, reason));
        }
        match self.delay {
            Some(d) if d > DELAY_MAX => {
                Err(Error::invalid_option(&self.kind, format!("delay {d:?} is over the 100-year maximum")))
            }
            _ => Ok(()),
        }
    }

    /// No NUL character in the args or the metadata, keys included.
    fn validate_storable(&self, args: &str) -> Result<()> {
        let unstorable = |what: &str| Error::Unstorable {
            kind: self.kind.to_string(),
            reason: format!(
                "its {what} hold a NUL character (\\u0000), which PostgreSQL cannot store in jsonb; \
                 remove it, or encode the data (e.g. base64)"
            ),
        };
        if storable::json_has_nul(args) {
            return Err(unstorable("args"));
        }
        match &self.metadata {
            Some(m) if storable::json_has_nul(m) => Err(unstorable("metadata")),
            _ => Ok(()),
        }
    }

    fn validate_tags(&self) -> Result<()> {
        if self.tags.len() > TAGS_MAX {
            return Err(Error::invalid_option(
                &self.kind,
                format!("{} tags, at most {TAGS_MAX}", self.tags.len()),
            ));
        }
        self.tags.iter().try_for_each(|t| names::validate_tag(t))
    }
}

/// Anything [`Client::insert`](crate::Client::insert) accepts: a typed [`Job`] or a [`NewJob`].
pub trait IntoNewJob {
    /// Converts into a [`NewJob`].
    fn into_new_job(self) -> NewJob;
}

impl<J: Job> IntoNewJob for J {
    fn into_new_job(self) -> NewJob {
        NewJob::new(&self)
    }
}

impl IntoNewJob for NewJob {
    fn into_new_job(self) -> NewJob {
        self
    }
}
