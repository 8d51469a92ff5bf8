//! Operators' statements on one job (get, cancel, retry, delete) and the counts per queue and
//! state, plus the cancel and retry fragments that `control`'s statements on many jobs share.

use super::columns::{IdState, LAST_ERROR, append_error, notify_cancelled, quoted, statement};
use crate::db::Db;
use crate::error::Result;
use crate::job::{AttemptError, ErrorClass, JobRow, JobState};
use crate::queue::QueueDepth;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, Row};
use std::sync::Arc;

const GET: &str = "SELECT * FROM {schema}.jobs WHERE id = $2";

const COUNT_BY_QUEUE_STATE: &str = r#"
SELECT queue, state, count(*) AS n FROM {schema}.jobs GROUP BY queue, state ORDER BY queue, state
"#;

/// `{cancel_set}`: a waiting job is cancelled at once; a running one keeps running with the
/// request recorded (the statement then notifies its holder on `{control}`). A statement using
/// it returns `{cancel_returning}` and selects `{notify_cancelled}` over those rows.
pub(super) const CANCEL_SET: &str = "state = CASE WHEN state = {running} THEN state ELSE {cancelled} END,
        finalized_at = CASE WHEN state = {running} THEN NULL ELSE {now} END,
        cancel_requested_at = {now},
        errors = CASE WHEN state = {running} THEN errors ELSE {append_error} END";

/// `{cancellable}`: the states a cancel applies to.
pub(super) const CANCELLABLE: &str = "state IN ({pending}, {scheduled}, {available}, {retryable}, {running})";

/// `{retry_set}`: available now. `{reset}` (a boolean expression) true gives the job its full
/// budget again counted from its current attempt; false keeps the budget, allowing one more
/// attempt if none is left. The attempt counter never goes back: it is the fence.
pub(super) const RETRY_SET: &str = "state = {available}, run_at = {now}, finalized_at = NULL,
        cancel_requested_at = NULL,
        max_attempts = CASE WHEN {reset} THEN least(attempt::int + max_attempts, 32767)
                            ELSE greatest(max_attempts, attempt + 1) END";

/// `{retryable_states}`: the states a retry applies to (never running: that attempt is live).
pub(super) const RETRYABLE: &str = "state IN ({scheduled}, {retryable}, {final})";

const CANCEL: &str = r#"
WITH c AS (
    UPDATE {schema}.jobs j SET {cancel_set}
    WHERE id = $2 AND {cancellable}
    RETURNING {cancel_returning}
)
SELECT id, state,
       (SELECT count(pg_notify('{control}', 'cancel:' || id)) FROM c WHERE state = {running}) AS notified,
       {notify_cancelled} AS told
FROM c
"#;

/// What a cancel's `UPDATE` returns: what the running job's worker and the leader's hooks need.
const CANCEL_RETURNING: &str = "j.id, j.kind, j.queue, j.attempt, j.state, {last_error}";

const RETRY: &str = r#"
WITH r AS (
    UPDATE {schema}.jobs SET {retry_set}
    WHERE id = $2 AND {retryable_states}
    RETURNING id, queue
)
SELECT r.id, pg_notify('{channel}', r.queue)::text FROM r
"#;

const DELETE: &str = "DELETE FROM {schema}.jobs WHERE id = $2 AND state <> {running} RETURNING id";

/// The rendered operators' statements for one schema.
pub(super) struct AdminSql {
    pub(super) get: Arc<str>,
    pub(super) count_by_queue_state: Arc<str>,
    pub(super) cancel: Arc<str>,
    pub(super) retry: Arc<str>,
    pub(super) delete: Arc<str>,
}

impl AdminSql {
    pub(super) fn new(schema: &str) -> Self {
        AdminSql {
            get: statement(GET, schema),
            count_by_queue_state: statement(COUNT_BY_QUEUE_STATE, schema),
            cancel: statement(&cancel_template(CANCEL, "$3::text"), schema),
            retry: statement(&retry_template(RETRY, "$3::bool"), schema),
            delete: statement(DELETE, schema),
        }
    }
}

/// `template` with the cancel fragments filled in; `reason` is the SQL of the recorded error.
pub(super) fn cancel_template(template: &str, reason: &str) -> String {
    // an operator's cancel records no worker: none held the attempt it ends
    let error = append_error(&quoted(ErrorClass::Cancel.as_str()), reason, false);
    template
        .replace("{cancel_set}", CANCEL_SET)
        .replace("{cancellable}", CANCELLABLE)
        .replace("{append_error}", &error)
        .replace("{cancel_returning}", &CANCEL_RETURNING.replace("{last_error}", LAST_ERROR))
        .replace("{notify_cancelled}", &notify_cancelled("c"))
}

/// `template` with the retry fragments filled in; `reset` is the SQL of the reset flag.
pub(super) fn retry_template(template: &str, reset: &str) -> String {
    template
        .replace("{retry_set}", RETRY_SET)
        .replace("{retryable_states}", RETRYABLE)
        .replace("{reset}", reset)
}

/// Whole rows (`SELECT *`), read by column name.
impl<'r> FromRow<'r, PgRow> for JobRow {
    fn from_row(r: &'r PgRow) -> sqlx::Result<Self> {
        let errors: Vec<Json<AttemptError>> = r.try_get("errors")?;
        Ok(JobRow {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            queue: r.try_get("queue")?,
            args: r.try_get("args")?,
            state: r.try_get("state")?,
            priority: r.try_get("priority")?,
            attempt: r.try_get("attempt")?,
            max_attempts: r.try_get("max_attempts")?,
            run_at: r.try_get("run_at")?,
            created_at: r.try_get("created_at")?,
            attempted_at: r.try_get("attempted_at")?,
            finalized_at: r.try_get("finalized_at")?,
            lease_expires_at: r.try_get("lease_expires_at")?,
            attempted_by: r.try_get("attempted_by")?,
            errors: errors.into_iter().map(|j| j.0).collect(),
            metadata: r.try_get("metadata")?,
            tags: r.try_get("tags")?,
            batch_id: r.try_get("batch_id")?,
        })
    }
}

/// One queue and state's row count.
#[derive(sqlx::FromRow)]
struct Counted {
    queue: String,
    state: JobState,
    n: i64,
}

impl Db {
    /// One job by id.
    pub(crate) async fn job_get(&self, id: i64) -> Result<Option<JobRow>> {
        let q = self.query_as(&self.inner.job.admin.get).bind(id);
        self.with_conn(async |c| q.fetch_optional(c).await).await
    }

    /// Row counts per queue and state.
    pub(crate) async fn job_count_by_queue_state(&self) -> Result<Vec<QueueDepth>> {
        let q = self.query_as::<Counted>(&self.inner.job.admin.count_by_queue_state);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(|r| QueueDepth { queue: r.queue, state: r.state, count: r.n }).collect())
    }

    /// Cancels a waiting job, or requests cancellation of a running one (and notifies its
    /// worker). Returns the job's state afterwards, `None` when no job could be cancelled.
    pub(crate) async fn job_cancel(&self, id: i64, reason: &str) -> Result<Option<JobState>> {
        let sql = &self.inner.job.admin.cancel;
        let cancel = move || async move {
            let q = self.query_as::<IdState>(sql).bind(id).bind(reason);
            self.with_conn(async |c| q.fetch_optional(c).await).await
        };
        Ok(self.retrying(cancel).await?.map(|r| r.state))
    }

    /// Makes a waiting or finished job available now: with one more attempt if none is left,
    /// or (`reset`) its full budget again.
    pub(crate) async fn job_retry(&self, id: i64, reset: bool) -> Result<bool> {
        let retry = move || async move {
            let q = self.query(&self.inner.job.admin.retry).bind(id).bind(reset);
            self.with_conn(async |c| q.fetch_optional(c).await).await
        };
        Ok(self.retrying(retry).await?.is_some())
    }

    /// Deletes a job that is not running.
    pub(crate) async fn job_delete(&self, id: i64) -> Result<bool> {
        let delete = move || async move {
            let q = self.query(&self.inner.job.admin.delete).bind(id);
            self.with_conn(async |c| q.fetch_optional(c).await).await
        };
        Ok(self.retrying(delete).await?.is_some())
    }
}
