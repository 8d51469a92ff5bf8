//! Haul's typed errors: one enum for every failure a caller can see, and the one place
//! (`map_db_error`) that turns driver errors into it.

use std::time::Duration;

/// Result alias used throughout Haul.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when calling Haul.
///
/// Messages say what to do next. Match on the variant, not the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema, queue, kind or tag name is not acceptable; nothing was sent to the database.
    #[error("invalid {what} `{name}`: {reason}")]
    InvalidName {
        /// What the name is for: "schema", "queue", "kind" or "tag".
        what: &'static str,
        /// The rejected name (truncated to 80 characters).
        name: String,
        /// Why it was rejected and what is allowed.
        reason: &'static str,
    },

    /// A job's args (plus metadata) exceed the configured cap; nothing was inserted.
    #[error(
        "job `{kind}` has a {size}-byte payload, over the {max}-byte cap: store large data \
         elsewhere and enqueue a reference to it (or raise the cap with \
         ClientConfig::with_max_payload_bytes)"
    )]
    PayloadTooLarge {
        /// The job kind.
        kind: String,
        /// Size of args plus metadata, in bytes of JSON.
        size: usize,
        /// The configured cap.
        max: usize,
    },

    /// A fan-out ([`Batch`](crate::Batch)) has more children than the client allows; nothing
    /// was inserted.
    #[error(
        "a batch of {children} children is over the fan-out cap of {max}: split the work into \
         several batches (or raise the cap with ClientConfig::with_fan_out_max)"
    )]
    FanOutTooLarge {
        /// Children in the refused batch.
        children: usize,
        /// The configured cap.
        max: usize,
    },

    /// A job option is out of range (priority, max attempts, a tag list...).
    #[error("invalid option for job `{kind}`: {reason}")]
    InvalidOption {
        /// The job kind.
        kind: String,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// Args could not be serialized to JSON.
    #[error("could not encode the args of job `{kind}` as JSON: {source}")]
    Encode {
        /// The job kind.
        kind: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },

    /// A client or worker setting is out of range; nothing was started.
    #[error("invalid setting {setting}: {reason}")]
    InvalidConfig {
        /// The setter of the bad setting, e.g. `WorkerConfig::with_lease`.
        setting: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// A job's args or metadata hold a value PostgreSQL cannot store (a NUL character,
    /// `\u0000`); nothing was sent to the database, and the caller's transaction is unharmed.
    #[error("job `{kind}` cannot be stored: {reason}")]
    Unstorable {
        /// The job kind.
        kind: String,
        /// What cannot be stored and where.
        reason: String,
    },

    /// A job filter or page asks for something no job can match or no listing can give;
    /// nothing was sent to the database.
    #[error("invalid job filter: {0}")]
    InvalidFilter(String),

    /// The worker was configured inconsistently (two handlers for one kind, no queue, ...).
    #[error("invalid worker configuration: {0}")]
    InvalidWorker(String),

    /// A periodic schedule is not acceptable (a bad cron expression, an interval under a
    /// second, a bad name); the worker was not built.
    #[error("invalid periodic schedule `{schedule}`: {reason}")]
    InvalidPeriodic {
        /// The cron expression or interval, as given.
        schedule: String,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// A queue limit is out of range or bounds nothing; nothing was stored.
    #[error("invalid limit for queue `{queue}`: {reason}")]
    InvalidLimit {
        /// The queue.
        queue: String,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// No job has this id (or it is not in a state the operation applies to).
    #[error("job {id} not found{detail}")]
    JobNotFound {
        /// The id looked up.
        id: i64,
        /// Extra context, e.g. " in a retryable state"; may be empty.
        detail: &'static str,
    },

    /// A workflow's steps wait on each other in a circle; nothing was inserted.
    #[error("workflow steps wait on each other in a cycle ({}): no step could ever start", steps.join(" → "))]
    WorkflowCycle {
        /// The steps on the cycle, each waiting on the next, the first repeated at the end.
        steps: Vec<String>,
    },

    /// No batch has this id.
    #[error("batch {id} not found")]
    BatchNotFound {
        /// The id looked up.
        id: i64,
    },

    /// No saga has this id.
    #[error("saga {id} not found")]
    SagaNotFound {
        /// The id looked up.
        id: i64,
    },

    /// A fenced write found that this attempt is no longer the running one: the job was
    /// rescued, released or cancelled meanwhile. Roll back whatever the write was part of.
    #[error(
        "job {id} attempt {attempt} is no longer running (rescued, released or cancelled): \
         roll back this transaction"
    )]
    NotRunning {
        /// The job.
        id: i64,
        /// The attempt that tried to write.
        attempt: i16,
    },

    /// Haul's tables are missing in this schema.
    #[error(
        "Haul's tables are missing in schema `{schema}`: run the migrations first \
         (`haul migrate up --schema {schema}`, or Client::migrate)"
    )]
    NotMigrated {
        /// The schema that was used.
        schema: String,
    },

    /// The database has migrations this version of Haul does not know.
    #[error(
        "schema `{schema}` is at migration {found}, newer than this Haul knows ({known}): \
         upgrade Haul before running it against this database"
    )]
    SchemaTooNew {
        /// The schema that was used.
        schema: String,
        /// Highest version applied in the database.
        found: i32,
        /// Highest version this build embeds.
        known: i32,
    },

    /// The database could not be reached, or the connection dropped mid-statement.
    ///
    /// Nothing the call was doing is known to have been applied, unless it was inside a
    /// transaction that the caller then committed.
    #[error("database connection failed (is PostgreSQL up and DATABASE_URL right?): {0}")]
    Connection(#[source] sqlx::Error),

    /// The database aborted the statement for a deadlock or a serialization conflict; running
    /// it again is safe.
    #[error("database conflict (deadlock or serialization failure); safe to retry: {0}")]
    Conflict(#[source] sqlx::Error),

    /// The database canceled the statement (its `statement_timeout`, or an operator); running
    /// it again is safe.
    #[error("database canceled the statement (statement timeout or an operator); safe to retry: {0}")]
    Canceled(#[source] sqlx::Error),

    /// A statement ran longer than its timeout.
    #[error("database statement timed out after {0:?}")]
    Timeout(Duration),

    /// Any other database error.
    #[error(transparent)]
    Database(sqlx::Error),
}

impl Error {
    /// True for failures that a later attempt may not hit (connection loss, timeouts, deadlocks).
    ///
    /// ```
    /// let e = haul::Error::Timeout(std::time::Duration::from_secs(1));
    /// assert!(e.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Connection(_) | Error::Timeout(_) | Error::Conflict(_) | Error::Canceled(_))
    }

    pub(crate) fn invalid_option(kind: &str, reason: impl Into<String>) -> Self {
        Error::InvalidOption { kind: kind.to_owned(), reason: reason.into() }
    }
}

/// Turns a driver error into a Haul error. `schema` names the schema in "not migrated" hints.
pub(crate) fn map_db_error(err: sqlx::Error, schema: &str) -> Error {
    use sqlx::Error as E;
    match err {
        E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::Protocol(_) | E::Tls(_) => Error::Connection(err),
        E::Database(ref db) if db.code().is_some_and(|c| c.starts_with("08")) => Error::Connection(err),
        E::Database(ref db) => match db.code().as_deref() {
            // undefined_table / invalid_schema_name: the migrations have not run.
            Some("42P01") | Some("3F000") => Error::NotMigrated { schema: schema.to_owned() },
            // admin_shutdown, crash_shutdown, cannot_connect_now (the server is going away, or
            // not back yet), too_many_connections
            Some("57P01") | Some("57P02") | Some("57P03") | Some("53300") => Error::Connection(err),
            // deadlock_detected, serialization_failure
            Some("40P01") | Some("40001") => Error::Conflict(err),
            // query_canceled: statement_timeout, or an operator's pg_cancel_backend
            Some("57014") => Error::Canceled(err),
            _ => Error::Database(err),
        },
        _ => Error::Database(err),
    }
}
