//! Which worker holds which running jobs: the running rows read through the `jobs_lease`
//! partial index, at most a cap of them, grouped by worker and queue.

use super::columns::statement;
use crate::db::Db;
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The first `$2` running jobs, by worker and queue, with the earliest attempt's start.
const BY_WORKER: &str = r#"
SELECT attempted_by AS worker, queue, count(*) AS running, min(attempted_at) AS oldest
FROM (SELECT attempted_by, queue, attempted_at FROM {schema}.jobs WHERE state = {running} LIMIT $2) j
GROUP BY attempted_by, queue
ORDER BY attempted_by, queue
"#;

/// The rendered statements on running jobs for one schema.
pub(super) struct RunningSql {
    pub(super) by_worker: Arc<str>,
}

impl RunningSql {
    pub(super) fn new(schema: &str) -> Self {
        RunningSql { by_worker: statement(BY_WORKER, schema) }
    }
}

/// One worker's running jobs of one queue.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RunningRow {
    pub worker: Option<String>,
    pub queue: String,
    pub running: i64,
    pub oldest: Option<DateTime<Utc>>,
}

impl Db {
    /// Running jobs by worker and queue, of at most `cap` running rows read.
    pub(crate) async fn job_running_by_worker(&self, cap: i64) -> Result<Vec<RunningRow>> {
        let q = self.query_as(&self.inner.job.running.by_worker).bind(cap);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }
}
