//! The only code that speaks SQL: one module per table, each holding every statement on its
//! table (`job` split by concern; `stats` is the rollups table), plus `vacuum` for the jobs
//! table's upkeep through the catalog, `rotation` for the slot plain inserts go to (by the
//! clock) and the emptying of the other, `catalog` for what `doctor` reads there and `session`
//! for the worker's session settings; every statement rendered once for the configured schema.
//!
//! Every statement takes the clock shift as `$1`; `{now}` in a template reads that clock.

mod catalog;
mod job;
mod leader;
mod limit;
mod migration;
mod periodic;
mod queue;
mod rotation;
mod session;
mod stats;
#[cfg(test)]
mod testing;
mod vacuum;

pub(crate) use catalog::Setting;
pub(crate) use job::{
    Allowance, BatchRow, Bulk, ClaimKey, ClaimedJob, CompletionBatch, DepthRow, Edges, InsertBatch,
    JobSelection, JsonText, LimitedClaim, OldestRow, PartitionBy, QueueClaim, RescuedJob, RunningParts,
    SagaRow, UniqueIds, WORKER_SESSION,
};
pub(crate) use limit::Window;
pub use migration::{MIGRATIONS, Migration};
pub(crate) use migration::{migration_script_prelude, migration_script_record};
pub(crate) use periodic::{Seen, Tick};
pub(crate) use rotation::{Emptied, SLOT_MARK, SPAN, SlotTime};
pub(crate) use session::worker_options;
pub(crate) use stats::{MinuteSum, RollupBatch, RollupSum, StatsWindow};
#[cfg(test)]
pub(crate) use testing::{drop_test_schema, test_db};
pub(crate) use vacuum::DeadTuples;

use crate::clock::Clock;
use crate::error::{Error, map_db_error};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::{Query, QueryAs};
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;

/// A schema's rendered statements plus the pool and clock they run with. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    inner: Arc<DbInner>,
    pool: PgPool,
    /// Limit on each statement this handle runs on its pool (worker side); `None` for clients.
    timeout: Option<Duration>,
}

struct DbInner {
    schema: String,
    clock: Clock,
    catalog: catalog::CatalogSql,
    job: job::JobSql,
    leader: leader::LeaderSql,
    limit: limit::LimitSql,
    migration: migration::MigrationSql,
    periodic: periodic::PeriodicSql,
    queue: queue::QueueSql,
    rotation: rotation::RotationSql,
    stats: stats::StatsSql,
    vacuum: vacuum::VacuumSql,
}

impl Db {
    /// Renders every statement for `schema`, which must already be validated.
    pub(crate) fn new(pool: PgPool, schema: &str, clock: Clock) -> Self {
        let inner = DbInner {
            catalog: catalog::CatalogSql::new(schema),
            job: job::JobSql::new(schema),
            leader: leader::LeaderSql::new(schema),
            limit: limit::LimitSql::new(schema),
            migration: migration::MigrationSql::new(schema),
            periodic: periodic::PeriodicSql::new(schema),
            queue: queue::QueueSql::new(schema),
            rotation: rotation::RotationSql::new(schema),
            stats: stats::StatsSql::new(schema),
            vacuum: vacuum::VacuumSql::new(schema),
            schema: schema.to_owned(),
            clock,
        };
        Db { inner: Arc::new(inner), pool, timeout: None }
    }

    /// The same statements on another pool, each limited to `timeout` (a half-open connection
    /// then fails fast and is closed instead of hanging the worker).
    pub(crate) fn for_worker(&self, pool: PgPool, timeout: Duration) -> Self {
        Db { inner: self.inner.clone(), pool, timeout: Some(timeout) }
    }

    /// Runs `f` on a connection from the pool, under this handle's timeout. A connection whose
    /// statement timed out is closed, not returned: its state is unknown, and sqlx's return
    /// check would wait on it without a limit.
    pub(crate) async fn with_conn<T>(
        &self,
        f: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> Result<T, Error> {
        self.with_conn_limit(self.timeout, f).await
    }

    /// Runs `call`, and runs it again at once while it fails with a conflict, up to
    /// [`CONFLICT_TRIES`] times in all. For calls that run one statement, or one transaction,
    /// of their own: a conflict rolled it back whole. The rotator's moves cause them: a job moved
    /// to slot 0 (an `UPDATE` of `slot`, migration 0015) after a statement's snapshot and
    /// before the statement locks it fails that statement with a serialization error, and
    /// the statement run again finds the job where it went.
    pub(crate) async fn retrying<T, F, Fut>(&self, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut tries = 1;
        loop {
            match call().await {
                Err(Error::Conflict(e)) if tries < CONFLICT_TRIES => {
                    tracing::debug!(error = %e, "statement conflicted; running it again");
                    tries += 1;
                }
                res => return res,
            }
        }
    }

    /// [`Db::with_conn`] with another limit (`None`: none).
    pub(crate) async fn with_conn_limit<T>(
        &self,
        limit: Option<Duration>,
        f: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> Result<T, Error> {
        let acquire = self.pool.acquire();
        let Some(limit) = limit else {
            let mut conn = acquire.await.map_err(|e| self.err(e))?;
            return f(&mut conn).await.map_err(|e| self.err(e));
        };
        let conn = tokio::time::timeout(limit, acquire)
            .await
            .map_err(|_| Error::Timeout(limit))?
            .map_err(|e| self.err(e))?;
        self.run_limited(conn, limit, f).await
    }

    /// Runs `f` on `conn`, a connection already taken from the pool, under this handle's
    /// timeout, as [`Db::with_conn`] does.
    pub(crate) async fn on_conn<T>(
        &self,
        mut conn: PoolConnection<Postgres>,
        f: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> Result<T, Error> {
        match self.timeout {
            Some(limit) => self.run_limited(conn, limit, f).await,
            None => f(&mut conn).await.map_err(|e| self.err(e)),
        }
    }

    async fn run_limited<T>(
        &self,
        mut conn: PoolConnection<Postgres>,
        limit: Duration,
        f: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> Result<T, Error> {
        let res = tokio::time::timeout(limit, f(&mut conn)).await;
        match res {
            Ok(r) => r.map_err(|e| self.err(e)),
            Err(_) => {
                conn.close_on_drop();
                Err(Error::Timeout(limit))
            }
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn schema(&self) -> &str {
        &self.inner.schema
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The NOTIFY channel on which inserts announce their queues.
    pub(crate) fn insert_channel(&self) -> String {
        insert_channel(&self.inner.schema)
    }

    /// The NOTIFY channel that carries requests to workers (`cancel:<id>`, `pause:<queue>`,
    /// `resume:<queue>`).
    pub(crate) fn control_channel(&self) -> String {
        control_channel(&self.inner.schema)
    }

    /// Starts a statement and binds the clock shift as `$1`.
    fn query<'q>(&self, sql: &Arc<str>) -> Query<'q, Postgres, PgArguments> {
        sqlx::query(AssertSqlSafe(sql.clone())).bind(self.inner.clock.shift_micros())
    }

    /// [`Db::query`] whose rows decode into `T` (by column name).
    fn query_as<'q, T>(&self, sql: &Arc<str>) -> QueryAs<'q, Postgres, T, PgArguments>
    where
        T: for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_as(AssertSqlSafe(sql.clone())).bind(self.inner.clock.shift_micros())
    }

    fn err(&self, e: sqlx::Error) -> Error {
        map_db_error(e, &self.inner.schema)
    }
}

/// How many times [`Db::retrying`] runs a call that keeps conflicting: a move conflicts with
/// one run only, since the next run's snapshot sees where the job went.
const CONFLICT_TRIES: u32 = 3;

/// The channel inserts and the scheduler notify, per schema so schemas do not hear each other.
pub(crate) fn insert_channel(schema: &str) -> String {
    format!("{schema}_jobs")
}

/// The channel that carries requests to workers, per schema.
pub(crate) fn control_channel(schema: &str) -> String {
    format!("{schema}_control")
}

/// Replaces `{schema}` with the quoted schema name and `{now}` with the shifted clock.
pub(crate) fn render(template: &str, schema: &str) -> Arc<str> {
    template
        .replace("{schema}", &format!("\"{schema}\""))
        .replace("{now}", "(now() + $1 * interval '1 microsecond')")
        .replace("{channel}", &insert_channel(schema))
        .replace("{control}", &control_channel(schema))
        .into()
}
