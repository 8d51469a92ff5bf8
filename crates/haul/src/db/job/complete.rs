//! Finishing attempts, fenced (see `columns`): successes deleted or kept as completed, and
//! mixed outcomes (retry, snooze, cancel, discard, complete) written in one statement.

use super::Query;
use super::columns::{IdState, Ids, append_error, statement};
use crate::db::Db;
use crate::db::rotation::SLOTS;
use crate::error::Result;
use crate::job::JobState;
use sqlx::PgExecutor;
use std::sync::Arc;

/// The completion statements return the applied ids as one array, in id order: one row to
/// send and decode instead of one per job.
const COMPLETE_DELETE_MANY: &str = r#"
WITH done AS (
    DELETE FROM {schema}.{jobs} j
    USING {fence_batch}
    WHERE {fence}
    RETURNING j.id
)
SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids FROM done
"#;

const COMPLETE_KEEP_MANY: &str = r#"
WITH done AS (
    UPDATE {schema}.{jobs} j
    SET state = {completed}, finalized_at = {now}, lease_expires_at = NULL
    FROM {fence_batch}
    WHERE {fence}
    RETURNING j.id
)
SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids FROM done
"#;

/// A failure of an attempt whose cancellation was requested ends the job `cancelled`.
const SET_STATE_IF_RUNNING_MANY: &str = r#"
WITH d AS MATERIALIZED (
    SELECT * FROM unnest($2::bigint[], $3::smallint[], $4::text[], $5::bigint[], $6::bool[],
                         $7::text[], $8::text[], {running_column})
      AS d(id, attempt, state, delay_us, refund, class, error, running)
),
del AS (
    DELETE FROM {schema}.jobs j USING d
    WHERE $9 AND d.state = {completed}
      AND {fence}
    RETURNING j.id
),
upd AS (
    UPDATE {schema}.jobs j SET
        state = CASE WHEN j.cancel_requested_at IS NOT NULL AND d.state IN ({retryable}, {scheduled})
                     THEN {cancelled} ELSE d.state END,
        attempt = CASE WHEN d.refund THEN j.attempt - 1 ELSE j.attempt END,
        run_at = CASE WHEN d.delay_us IS NULL THEN j.run_at
                      ELSE {now} + d.delay_us * interval '1 microsecond' END,
        finalized_at = CASE WHEN d.state IN ({final})
                              OR j.cancel_requested_at IS NOT NULL THEN {now} END,
        lease_expires_at = NULL,
        errors = CASE WHEN d.error IS NULL THEN j.errors
                      ELSE {append_error} END
    FROM d
    WHERE NOT ($9 AND d.state = {completed})
      AND {fence}
    RETURNING j.id, j.state
)
SELECT id, {completed} AS state FROM del UNION ALL SELECT id, state FROM upd
"#;

/// The rendered completion statements for one schema.
pub(super) struct CompleteSql {
    pub(super) delete_many: InSlot,
    pub(super) keep_many: InSlot,
    pub(super) set_state_if_running_many: Arc<str>,
}

impl CompleteSql {
    pub(super) fn new(schema: &str) -> Self {
        let error = append_error("d.class", "d.error", true);
        CompleteSql {
            delete_many: InSlot::new(COMPLETE_DELETE_MANY, schema),
            keep_many: InSlot::new(COMPLETE_KEEP_MANY, schema),
            set_state_if_running_many: statement(
                &SET_STATE_IF_RUNNING_MANY.replace("{append_error}", &error),
                schema,
            ),
        }
    }
}

/// A completion statement in two forms: straight on one slot's table, for jobs all in that
/// slot (the plan then holds that table alone, where through the parent every id would be
/// looked up in every slot), and through the parent, for any.
pub(super) struct InSlot {
    /// On `jobs_0` to `jobs_2`, by slot.
    pub(super) one: [Arc<str>; SLOTS],
    pub(super) any: Arc<str>,
}

impl InSlot {
    fn new(template: &str, schema: &str) -> Self {
        InSlot {
            one: std::array::from_fn(|n| {
                statement(&template.replace("{jobs}", &format!("jobs_{n}")), schema)
            }),
            any: statement(&template.replace("{jobs}", "jobs"), schema),
        }
    }

    /// The statement for jobs in `slots`: the slot's own if they share one.
    fn pick(&self, slots: &[i16]) -> &Arc<str> {
        let one = one_slot(slots).and_then(|s| usize::try_from(s).ok()).and_then(|s| self.one.get(s));
        one.unwrap_or(&self.any)
    }
}

/// The slot every job of `slots` is in, if they share one.
fn one_slot(slots: &[i16]) -> Option<i16> {
    let (first, rest) = slots.split_first()?;
    rest.iter().all(|s| s == first).then_some(*first)
}

/// Outcomes to write in one fenced statement, as columns.
#[derive(Debug, Default)]
pub(crate) struct CompletionBatch {
    pub ids: Vec<i64>,
    pub attempts: Vec<i16>,
    /// Each job's slot (as claimed).
    pub slots: Vec<i16>,
    pub states: Vec<JobState>,
    pub delays_us: Vec<Option<i64>>,
    pub refunds: Vec<bool>,
    pub classes: Vec<Option<&'static str>>,
    pub errors: Vec<Option<String>>,
    /// The batches of the jobs in this flush that belong to one (sorted, distinct): settled
    /// in the completing transaction. Empty for plain jobs, which then pay nothing for batches.
    pub settle: Vec<i64>,
    /// The jobs in this flush that others wait on: their dependents are settled in the
    /// completing transaction. Empty for plain jobs.
    pub release: Vec<i64>,
    /// The sagas of the saga steps in this flush (sorted, distinct): settled in the
    /// completing transaction, after the steps waiting on them. Empty for plain jobs.
    pub sagas: Vec<i64>,
}

impl CompletionBatch {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn all_completed(&self) -> bool {
        self.states.iter().all(|s| *s == JobState::Completed)
    }
}

impl Db {
    /// Finishes successful attempts (delete, or mark completed when `keep`), fenced, through
    /// any executor (the handler's own transaction for transactional completion).
    /// Returns the ids whose attempt was still the running one.
    pub(crate) async fn job_complete_many<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        ids: &[i64],
        attempts: &[i16],
        slots: &[i16],
        keep: bool,
    ) -> Result<Vec<i64>> {
        let q = self.complete_query(ids, attempts, slots, keep);
        let done = q.fetch_one(ex).await.map_err(|e| self.err(e))?;
        Ok(done.ids)
    }

    /// [`Db::job_complete_many`] on the pool, under the statement timeout.
    pub(crate) async fn job_complete_many_pooled(
        &self,
        ids: &[i64],
        attempts: &[i16],
        slots: &[i16],
        keep: bool,
    ) -> Result<Vec<i64>> {
        let q = self.complete_query(ids, attempts, slots, keep);
        Ok(self.with_conn(async |c| q.fetch_one(c).await).await?.ids)
    }

    fn complete_query<'q>(
        &self,
        ids: &'q [i64],
        attempts: &'q [i16],
        slots: &[i16],
        keep: bool,
    ) -> Query<'q, Ids> {
        let sql = &self.inner.job.complete;
        let sql = if keep { &sql.keep_many } else { &sql.delete_many };
        self.query_as(sql.pick(slots)).bind(ids).bind(attempts)
    }

    /// Writes mixed outcomes in one fenced statement; returns the applied ids with the state
    /// each row ended in.
    pub(crate) async fn job_set_state_if_running_many(
        &self,
        b: &CompletionBatch,
        keep_completed: bool,
    ) -> Result<Vec<(i64, JobState)>> {
        let q = self.set_state_query(b, keep_completed);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(|r| (r.id, r.state)).collect())
    }

    fn set_state_query<'q>(&self, b: &'q CompletionBatch, keep_completed: bool) -> Query<'q, IdState> {
        self.query_as::<IdState>(&self.inner.job.complete.set_state_if_running_many)
            .bind(&b.ids)
            .bind(&b.attempts)
            .bind(&b.states)
            .bind(&b.delays_us)
            .bind(&b.refunds)
            .bind(&b.classes)
            .bind(&b.errors)
            .bind(!keep_completed)
    }

    /// Writes the outcomes of `b` as [`Db::job_set_state_if_running_many`] (or
    /// [`Db::job_complete_many`] when all succeeded), settles `b.settle`'s batches and the jobs
    /// waiting on `b.release`, in one transaction: a batch finishes, and a waiting job is
    /// released or cancelled, in the transaction that finishes its last child or dependency.
    pub(crate) async fn job_finish_settling(
        &self,
        b: &CompletionBatch,
        keep_completed: bool,
    ) -> Result<Vec<(i64, JobState)>> {
        self.retrying(move || self.finish_settling_once(b, keep_completed)).await
    }

    async fn finish_settling_once(
        &self,
        b: &CompletionBatch,
        keep_completed: bool,
    ) -> Result<Vec<(i64, JobState)>> {
        self.with_conn(async |c| {
            let mut tx = sqlx::Connection::begin(c).await?;
            let applied = if b.len() == 0 {
                Vec::new()
            } else if b.all_completed() {
                let done = self
                    .complete_query(&b.ids, &b.attempts, &b.slots, keep_completed)
                    .fetch_one(&mut *tx)
                    .await?;
                done.ids.into_iter().map(|id| (id, JobState::Completed)).collect()
            } else {
                let rows = self.set_state_query(b, keep_completed).fetch_all(&mut *tx).await?;
                rows.into_iter().map(|r| (r.id, r.state)).collect()
            };
            if !b.settle.is_empty() {
                self.batch_settle_in(&mut tx, &b.settle).await?;
            }
            if !b.release.is_empty() {
                self.pending_settle_in(&mut tx, &b.release).await?;
            }
            if !b.sagas.is_empty() {
                self.saga_settle_in(&mut tx, &b.sagas).await?;
            }
            tx.commit().await?;
            Ok(applied)
        })
        .await
    }
}
