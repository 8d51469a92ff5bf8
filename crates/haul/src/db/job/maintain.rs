//! The maintenance leader's statements on jobs: making due jobs available, rescuing jobs whose
//! lease expired, and deleting finalized jobs past their retention.

use super::columns::{append_error, notify_each_queue, quoted, statement};
use crate::db::Db;
use crate::error::Result;
use crate::job::{ErrorClass, JobState};
use chrono::{DateTime, Utc};
use std::sync::Arc;

const SCHEDULE_DUE: &str = r#"
WITH made AS (
    UPDATE {schema}.jobs j SET state = {available}
    WHERE j.id = ANY(ARRAY(
        SELECT id FROM {schema}.jobs
        WHERE state IN ({scheduled}, {retryable}) AND run_at <= {now}
        ORDER BY run_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING j.queue
)
SELECT (SELECT count(*) FROM made) AS made,
       {notify_queues} AS notified
"#;

/// Expired leases at or after `$3` (the previous round's cutoff; NULL scans from the start),
/// so a round does not step over the lease-index entries of jobs long finished. Returns the
/// cutoff with each rescued job's id, new state, kind, queue, attempt and the error recorded.
const RESCUE_MANY: &str = r#"
WITH rescued AS (
    UPDATE {schema}.jobs j SET
        state = CASE WHEN j.cancel_requested_at IS NOT NULL THEN {cancelled}
                     WHEN j.attempt >= j.max_attempts THEN {discarded} ELSE {retryable} END,
        finalized_at = CASE WHEN j.cancel_requested_at IS NOT NULL OR j.attempt >= j.max_attempts
                            THEN {now} END,
        run_at = {now},
        lease_expires_at = NULL,
        errors = {append_error}
    WHERE j.id = ANY(ARRAY(
        SELECT id FROM {schema}.jobs
        WHERE state = {running} AND lease_expires_at < {now}
          AND lease_expires_at >= coalesce($3::timestamptz, '-infinity')
        ORDER BY lease_expires_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING j.id, j.state::text AS state, j.kind::text AS kind, j.queue::text AS queue,
              j.attempt::smallint AS attempt, j.errors[cardinality(j.errors)]->>'error' AS error
)
SELECT {now} AS cutoff, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(state), '{}') AS states,
       coalesce(array_agg(kind), '{}') AS kinds, coalesce(array_agg(queue), '{}') AS queues,
       coalesce(array_agg(attempt), '{}') AS attempts, coalesce(array_agg(error), '{}') AS errors
FROM rescued
"#;

/// The rescued attempt's error: which worker stopped heartbeating, and when its lease expired.
const RESCUE_ERROR: &str = "'worker ' || coalesce(j.attempted_by, '?')
            || ' stopped heartbeating; its lease expired at ' || j.lease_expires_at::text";

/// The `IN` list matches `jobs_finalized`'s predicate, so a generic plan (where `$2` is unknown)
/// can still use that index instead of scanning the table.
const DELETE_FINALIZED_BEFORE: &str = r#"
DELETE FROM {schema}.jobs j
WHERE j.id = ANY(ARRAY(
    SELECT id FROM {schema}.jobs
    WHERE state IN ({final}) AND state = $2
      AND finalized_at < {now} - $3 * interval '1 second'
    ORDER BY finalized_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
))
"#;

/// The rendered maintenance statements for one schema.
pub(super) struct MaintainSql {
    pub(super) schedule_due: Arc<str>,
    pub(super) rescue_many: Arc<str>,
    pub(super) delete_finalized_before: Arc<str>,
}

impl MaintainSql {
    pub(super) fn new(schema: &str) -> Self {
        let schedule = SCHEDULE_DUE.replace("{notify_queues}", &notify_each_queue("made"));
        let rescued = append_error(&quoted(ErrorClass::Rescued.as_str()), RESCUE_ERROR, true);
        MaintainSql {
            schedule_due: statement(&schedule, schema),
            rescue_many: statement(&RESCUE_MANY.replace("{append_error}", &rescued), schema),
            delete_finalized_before: statement(DELETE_FINALIZED_BEFORE, schema),
        }
    }
}

/// How many jobs the scheduler made available.
#[derive(sqlx::FromRow)]
struct Made {
    made: i64,
}

/// One rescue round: its cutoff, and the rescued jobs (one entry per column).
#[derive(sqlx::FromRow)]
struct Rescued {
    cutoff: DateTime<Utc>,
    ids: Vec<i64>,
    states: Vec<JobState>,
    kinds: Vec<String>,
    queues: Vec<String>,
    attempts: Vec<i16>,
    errors: Vec<Option<String>>,
}

/// A job the rescuer changed: the attempt whose lease expired, and the state it ended in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RescuedJob {
    pub id: i64,
    pub state: JobState,
    pub kind: String,
    pub queue: String,
    pub attempt: i16,
    pub error: String,
}

impl Rescued {
    fn jobs(self) -> Vec<RescuedJob> {
        let cols = self.ids.into_iter().zip(self.states).zip(self.kinds).zip(self.queues);
        let rows = cols.zip(self.attempts).zip(self.errors);
        rows.map(|(((((id, state), kind), queue), attempt), error)| RescuedJob {
            id,
            state,
            kind,
            queue,
            attempt,
            error: error.unwrap_or_default(),
        })
        .collect()
    }
}

impl Db {
    /// Makes up to `limit` due scheduled/retryable jobs available; returns how many.
    pub(crate) async fn job_schedule_due(&self, limit: i64) -> Result<i64> {
        let q = self.query_as::<Made>(&self.inner.job.maintain.schedule_due).bind(limit);
        Ok(self.with_conn(async |c| q.fetch_one(c).await).await?.made)
    }

    /// Returns up to `limit` running jobs with expired leases to retryable (or discarded, or
    /// cancelled when that was requested).
    pub(crate) async fn job_rescue_many(
        &self,
        limit: i64,
        floor: Option<DateTime<Utc>>,
    ) -> Result<(DateTime<Utc>, Vec<RescuedJob>)> {
        let q = self.query_as::<Rescued>(&self.inner.job.maintain.rescue_many).bind(limit).bind(floor);
        let r = self.with_conn(async |c| q.fetch_one(c).await).await?;
        Ok((r.cutoff, r.jobs()))
    }

    /// Deletes up to `limit` rows in `state` finalized more than `age_s` seconds ago.
    pub(crate) async fn job_delete_finalized_before(
        &self,
        state: JobState,
        age_s: f64,
        limit: i64,
    ) -> Result<u64> {
        let sql = &self.inner.job.maintain.delete_finalized_before;
        let q = self.query(sql).bind(state).bind(age_s).bind(limit);
        let done = self.with_conn(async |c| q.execute(c).await).await?;
        Ok(done.rows_affected())
    }
}
