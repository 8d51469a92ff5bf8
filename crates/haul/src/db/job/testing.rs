//! The statements only the `testing` helpers run: every job of one kind (what a test sees was
//! enqueued, inside its own transaction if it passes one), one waiting job claimed by id (to
//! run it inline), and the scheduled and retryable jobs of some queues made available now.

use super::claim::{ClaimedJob, JsonText};
use super::columns::statement;
use crate::db::Db;
use crate::error::Result;
use crate::job::JobRow;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use std::sync::Arc;

/// Every job of kind `$2`, oldest first, in any state.
const LIST_BY_KIND: &str = "SELECT * FROM {schema}.jobs WHERE kind = $2 ORDER BY id";

/// Job `$2`, if it is of kind `$3` and waiting, claimed as `job_get_available` claims: running,
/// its next attempt, leased for `$4` ms to worker `$5`.
const CLAIM_ONE: &str = r#"
UPDATE {schema}.jobs j
SET state = {running}, attempt = j.attempt + 1, attempted_at = {now},
    lease_expires_at = {now} + $4 * interval '1 millisecond', attempted_by = $5
WHERE j.id = $2 AND j.kind = $3 AND j.state IN ({scheduled}, {available}, {retryable})
RETURNING j.id, j.slot, j.kind, j.queue, j.args::text AS args, j.attempt, j.max_attempts, j.priority,
          j.timeout_ms, j.metadata::text AS metadata, j.created_at, j.run_at,
          j.attempted_at AS claimed_at
"#;

/// Scheduled and retryable jobs of the queues `$2` (NULL: every queue) made available now,
/// whenever they were due.
const AVAILABLE_NOW: &str = r#"
WITH made AS (
    UPDATE {schema}.jobs SET state = {available}, run_at = least(run_at, {now})
    WHERE state IN ({scheduled}, {retryable}) AND ($2::text[] IS NULL OR queue = ANY($2))
    RETURNING id
)
SELECT count(*) AS made FROM made
"#;

/// The rendered testing statements for one schema.
pub(super) struct TestingSql {
    pub(super) list_by_kind: Arc<str>,
    pub(super) claim_one: Arc<str>,
    pub(super) available_now: Arc<str>,
}

impl TestingSql {
    pub(super) fn new(schema: &str) -> Self {
        TestingSql {
            list_by_kind: statement(LIST_BY_KIND, schema),
            claim_one: statement(CLAIM_ONE, schema),
            available_now: statement(AVAILABLE_NOW, schema),
        }
    }
}

/// The row `CLAIM_ONE` returns.
#[derive(sqlx::FromRow)]
struct ClaimedOne {
    id: i64,
    slot: i16,
    kind: String,
    queue: String,
    args: String,
    attempt: i16,
    max_attempts: i16,
    priority: i16,
    timeout_ms: Option<i32>,
    metadata: String,
    created_at: DateTime<Utc>,
    run_at: DateTime<Utc>,
    claimed_at: DateTime<Utc>,
}

/// How many jobs `AVAILABLE_NOW` made available.
#[derive(sqlx::FromRow)]
struct Made {
    made: i64,
}

impl Db {
    /// Every job of `kind`, oldest first, through `ex` (a test's own transaction sees the jobs
    /// it inserted and has not committed).
    pub(crate) async fn job_list_by_kind<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        kind: &str,
    ) -> Result<Vec<JobRow>> {
        let q = self.query_as::<JobRow>(&self.inner.job.testing.list_by_kind).bind(kind);
        q.fetch_all(ex).await.map_err(|e| self.err(e))
    }

    /// Claims job `id` for `worker` if it is of `kind` and waiting (scheduled, available or
    /// retryable); returns it with its queue.
    pub(crate) async fn job_claim_one(
        &self,
        id: i64,
        kind: &str,
        lease_ms: i64,
        worker: &str,
    ) -> Result<Option<(ClaimedJob, String)>> {
        let sql = &self.inner.job.testing.claim_one;
        let q = self.query_as::<ClaimedOne>(sql).bind(id).bind(kind).bind(lease_ms).bind(worker);
        let row = self.with_conn(async |c| q.fetch_optional(c).await).await?;
        Ok(row.map(|r| {
            let job = ClaimedJob {
                id: r.id,
                slot: r.slot,
                kind: r.kind,
                args: JsonText(r.args),
                attempt: r.attempt,
                max_attempts: r.max_attempts,
                priority: r.priority,
                timeout_ms: r.timeout_ms,
                metadata: JsonText(r.metadata),
                created_at: r.created_at,
                run_at: r.run_at,
                claimed_at: r.claimed_at,
            };
            (job, r.queue)
        }))
    }

    /// Makes the scheduled and retryable jobs of `queues` (`None`: every queue) available now;
    /// returns how many.
    pub(crate) async fn job_available_now(&self, queues: Option<&[String]>) -> Result<i64> {
        let q = self.query_as::<Made>(&self.inner.job.testing.available_now).bind(queues);
        Ok(self.with_conn(async |c| q.fetch_one(c).await).await?.made)
    }
}
