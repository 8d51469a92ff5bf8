//! Moving long-lived jobs out of a rotating slot into slot 0 (migration 0015), so the slot can
//! be truncated: the jobs no claim will take soon (retrying or snoozed later than a few
//! seconds, kept final, waiting on others) and, half a span after the slot stopped taking
//! inserts, available jobs no worker has claimed. Running jobs stay: they finish where they are.

use super::columns::statement;
use crate::db::Db;
use crate::error::Result;
use std::sync::Arc;

/// Up to `$3` jobs of slot `$2` move to slot 0; available ones only if `$4`. Each pick reads
/// one partial index, so the worker's sessions (bitmap scans off) plan it without a scan of
/// the slot. Picks are locked, skipping the locked ones, and rechecked by the update: a job
/// claimed meanwhile stays.
const EVACUATE: &str = r#"
WITH due AS (
    SELECT id FROM {schema}.jobs WHERE slot = $2 AND state IN ({scheduled}, {retryable})
      AND run_at > {now} + interval '5 seconds' LIMIT $3 FOR UPDATE SKIP LOCKED
), finished AS (
    SELECT id FROM {schema}.jobs WHERE slot = $2 AND state IN ({final}) LIMIT $3 FOR UPDATE SKIP LOCKED
), waiting AS (
    SELECT id FROM {schema}.jobs WHERE slot = $2 AND state = {pending} LIMIT $3 FOR UPDATE SKIP LOCKED
), unclaimed AS (
    SELECT id FROM {schema}.jobs WHERE $4 AND slot = $2 AND state = {available}
    LIMIT $3 FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE {schema}.jobs j SET slot = 0
    WHERE j.slot = $2 AND j.state <> {running}
      AND j.id = ANY(ARRAY(SELECT id FROM due UNION ALL SELECT id FROM finished
                           UNION ALL SELECT id FROM waiting UNION ALL SELECT id FROM unclaimed))
    RETURNING 1
)
SELECT count(*) FROM moved
"#;

/// The rendered slot statements for one schema.
pub(super) struct SlotSql {
    pub(super) evacuate: Arc<str>,
}

impl SlotSql {
    pub(super) fn new(schema: &str) -> Self {
        SlotSql { evacuate: statement(EVACUATE, schema) }
    }
}

impl Db {
    /// Moves up to `limit` long-lived jobs of slot `slot` (available ones too when
    /// `available`) to slot 0; returns how many moved.
    pub(crate) async fn job_evacuate(&self, slot: i16, limit: i64, available: bool) -> Result<i64> {
        let q = self.query(&self.inner.job.slot.evacuate).bind(slot).bind(limit).bind(available);
        self.with_conn(async |c| sqlx::Row::try_get(&q.fetch_one(c).await?, 0)).await
    }
}
