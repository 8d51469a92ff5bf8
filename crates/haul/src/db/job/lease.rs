//! The leases of held attempts, fenced (see `columns`): extended by the heartbeat, or given
//! back (the attempt released unfinished, its queue notified).

use super::columns::{Ids, notify_each_queue, statement};
use crate::db::Db;
use crate::error::Result;
use std::sync::Arc;

/// Returns each held id with whether its cancellation was requested (so poll-only workers
/// hear of it within a beat).
const HEARTBEAT_MANY: &str = r#"
UPDATE {schema}.jobs j
SET lease_expires_at = {now} + $4 * interval '1 millisecond'
FROM {fence_batch}
WHERE {fence}
RETURNING j.id, j.cancel_requested_at IS NOT NULL AS cancel_requested
"#;

const RELEASE_MANY: &str = r#"
WITH rel AS (
    UPDATE {schema}.jobs j
    SET state = {available}, attempt = j.attempt - 1, lease_expires_at = NULL
    FROM {fence_batch}
    WHERE {fence}
    RETURNING j.id, j.queue
)
SELECT coalesce((SELECT array_agg(id) FROM rel), '{}') AS ids,
       {notify_queues} AS notified
"#;

/// The rendered lease statements for one schema.
pub(super) struct LeaseSql {
    pub(super) heartbeat_many: Arc<str>,
    pub(super) release_many: Arc<str>,
}

impl LeaseSql {
    pub(super) fn new(schema: &str) -> Self {
        let release = RELEASE_MANY.replace("{notify_queues}", &notify_each_queue("rel"));
        LeaseSql {
            heartbeat_many: statement(HEARTBEAT_MANY, schema),
            release_many: statement(&release, schema),
        }
    }
}

/// A held attempt whose lease was extended.
#[derive(sqlx::FromRow)]
struct Held {
    id: i64,
    cancel_requested: bool,
}

impl Db {
    /// Extends the leases of running attempts; returns the ids still held, each with whether
    /// its cancellation was requested.
    pub(crate) async fn job_heartbeat_many(
        &self,
        ids: &[i64],
        attempts: &[i16],
        lease_ms: i64,
    ) -> Result<Vec<(i64, bool)>> {
        let sql = &self.inner.job.lease.heartbeat_many;
        let q = self.query_as::<Held>(sql).bind(ids).bind(attempts).bind(lease_ms);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(|h| (h.id, h.cancel_requested)).collect())
    }

    /// Puts unfinished attempts back to `available` without using up an attempt.
    pub(crate) async fn job_release_many(&self, ids: &[i64], attempts: &[i16]) -> Result<Vec<i64>> {
        let q = self.query_as::<Ids>(&self.inner.job.lease.release_many).bind(ids).bind(attempts);
        Ok(self.with_conn(async |c| q.fetch_one(c).await).await?.ids)
    }
}
