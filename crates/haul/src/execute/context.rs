//! What a handler receives besides its args: the job's facts, the shared state, a client for
//! follow-up jobs, and the token that says stop.

use crate::attempts::Kill;
use crate::client::Client;
use crate::db::JsonText;
use crate::error::Error;
use crate::insert::{Batch, InsertedBatch};
use crate::workflow::BatchResult;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::{PgExecutor, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// The facts of the attempt being run.
#[derive(Debug)]
pub(crate) struct JobInfo {
    pub id: i64,
    /// The slot of `jobs` it runs in (fenced statements name it, so no other slot is searched).
    pub slot: i16,
    pub kind: Arc<str>,
    pub queue: Arc<str>,
    pub attempt: i16,
    pub max_attempts: i16,
    pub priority: i16,
    pub created_at: DateTime<Utc>,
    /// From when it was due (`run_at`) until the claim took it.
    pub queue_wait: std::time::Duration,
    pub metadata: JsonText,
    /// Set once the handler completed the job inside its own transaction.
    pub completed_in_tx: AtomicBool,
}

/// A handler's view of its job and the worker: typed shared state (like axum's `State`), the
/// job's id, attempt and metadata, a [`Client`] for follow-up jobs, and a cancellation token.
///
/// ```
/// use haul::{JobContext, JobError, Job};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone)]
/// struct AppState { greeting: &'static str }
///
/// #[derive(Serialize, Deserialize)]
/// struct Greet { name: String }
/// impl Job for Greet { const KIND: &'static str = "greet"; }
///
/// async fn greet(ctx: JobContext<AppState>, job: Greet) -> Result<(), JobError> {
///     tracing::info!(job_id = ctx.id(), attempt = ctx.attempt(), "{}, {}", ctx.state().greeting, job.name);
///     if ctx.is_cancelled() {
///         return Err(JobError::retry("stopping: the worker is shutting down"));
///     }
///     Ok(())
/// }
/// ```
pub struct JobContext<S> {
    state: S,
    info: Arc<JobInfo>,
    client: Client,
    /// The attempt's stop signals; the handler's token is made there on first use.
    kill: Arc<Kill>,
    keep_completed: bool,
}

impl<S> JobContext<S> {
    pub(crate) fn new(
        state: S,
        info: Arc<JobInfo>,
        client: Client,
        kill: Arc<Kill>,
        keep_completed: bool,
    ) -> Self {
        JobContext { state, info, client, kill, keep_completed }
    }

    /// The worker's shared state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The job's id.
    pub fn id(&self) -> i64 {
        self.info.id
    }

    /// The job's kind.
    pub fn kind(&self) -> &str {
        &self.info.kind
    }

    /// The queue it runs on.
    pub fn queue(&self) -> &str {
        &self.info.queue
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> i16 {
        self.info.attempt
    }

    /// Attempts allowed in all.
    pub fn max_attempts(&self) -> i16 {
        self.info.max_attempts
    }

    /// True when a failure now sends the job to the dead letter.
    pub fn is_last_attempt(&self) -> bool {
        self.info.attempt >= self.info.max_attempts
    }

    /// The job's priority.
    pub fn priority(&self) -> i16 {
        self.info.priority
    }

    /// When the job was inserted.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.info.created_at
    }

    /// The job's metadata decoded into `T`.
    pub fn metadata<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.info.metadata.0)
    }

    /// A client on the worker's schema, for follow-up jobs.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The worker's pool.
    pub fn pool(&self) -> &PgPool {
        self.client.pool()
    }

    /// Fires when the handler should stop: timeout, shutdown, or a cancel request.
    pub fn cancellation(&self) -> &CancellationToken {
        self.kill.token()
    }

    /// Whether the handler has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.kill.is_cancelled()
    }

    /// Inserts a fan-out ([`Batch`]) through `executor` (the handler's transaction, or
    /// [`JobContext::pool`]), recording this job as its parent. The batch's callback runs once
    /// every child has finished.
    ///
    /// ```no_run
    /// # use haul::{Batch, JobContext, JobError, NewJob};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Album { id: i64, images: Vec<i64> }
    /// # impl haul::Job for Album { const KIND: &'static str = "album"; }
    /// async fn album(ctx: JobContext<()>, job: Album) -> Result<(), JobError> {
    ///     let resize = job.images.iter().map(|i| NewJob::raw("resize", serde_json::json!({ "image": i })));
    ///     let done = NewJob::raw("album_ready", serde_json::json!({ "album": job.id }));
    ///     let mut tx = ctx.pool().begin().await?;
    ///     ctx.fan_out(&mut *tx, Batch::new(resize).with_callback(done)).await?;
    ///     ctx.complete_in(&mut *tx).await?;
    ///     tx.commit().await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn fan_out<'c>(
        &self,
        executor: impl PgExecutor<'c>,
        batch: Batch,
    ) -> Result<InsertedBatch, Error> {
        self.client.insert_batch_tx(executor, batch.with_parent(self.info.id)).await
    }

    /// In a batch's callback job: how the batch's children ended. `None` in any other job.
    pub fn batch_result(&self) -> Option<BatchResult> {
        BatchResult::from_metadata(&self.info.metadata.0)
    }

    /// Completes this job inside the handler's own transaction, so its database writes and
    /// its completion commit together: exactly-once effects for database-only work.
    ///
    /// Call it last, just before `commit`, then return `Ok(())`. It is fenced like every
    /// completion: if this attempt is no longer the running one (it was rescued, released or
    /// cancelled) it returns [`Error::NotRunning`] and the transaction must be rolled back.
    ///
    /// ```no_run
    /// # use haul::{JobContext, JobError};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Credit { account: i64, cents: i64 }
    /// # impl haul::Job for Credit { const KIND: &'static str = "credit"; }
    /// async fn credit(ctx: JobContext<()>, job: Credit) -> Result<(), JobError> {
    ///     let mut tx = ctx.pool().begin().await?;
    ///     sqlx::query("UPDATE accounts SET cents = cents + $1 WHERE id = $2")
    ///         .bind(job.cents).bind(job.account).execute(&mut *tx).await?;
    ///     ctx.complete_in(&mut *tx).await?; // fenced: errors if this attempt was rescued
    ///     tx.commit().await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn complete_in<'c>(&self, executor: impl PgExecutor<'c>) -> Result<(), Error> {
        let (id, attempt, slot) = (self.info.id, self.info.attempt, self.info.slot);
        let db = self.client.db();
        let done = db.job_complete_many(executor, &[id], &[attempt], &[slot], self.keep_completed).await?;
        if done.is_empty() {
            return Err(Error::NotRunning { id, attempt });
        }
        self.info.completed_in_tx.store(true, Ordering::Release);
        Ok(())
    }
}
