//! The only code that speaks SQL: one module per table, each holding every statement on its
//! table, rendered once for the configured schema.
//!
//! Every statement takes the clock shift as `$1`; `{now}` in a template reads that clock.

mod job;
mod leader;
mod migration;

pub(crate) use job::{ClaimedJob, CompletionBatch, InsertBatch, JsonText};

use crate::clock::Clock;
use crate::error::{Error, map_db_error};
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, PgPool};
use std::sync::Arc;

/// A schema's rendered statements plus the pool and clock they run with. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    pool: PgPool,
    schema: String,
    clock: Clock,
    job: job::JobSql,
    leader: leader::LeaderSql,
    migration: migration::MigrationSql,
}

impl Db {
    /// Renders every statement for `schema`, which must already be validated.
    pub(crate) fn new(pool: PgPool, schema: &str, clock: Clock) -> Self {
        let inner = DbInner {
            job: job::JobSql::new(schema),
            leader: leader::LeaderSql::new(schema),
            migration: migration::MigrationSql::new(schema),
            pool,
            schema: schema.to_owned(),
            clock,
        };
        Db { inner: Arc::new(inner) }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.inner.pool
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

    /// Starts a statement and binds the clock shift as `$1`.
    fn query(&self, sql: &Arc<str>) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(AssertSqlSafe(sql.clone())).bind(self.inner.clock.shift_micros())
    }

    fn err(&self, e: sqlx::Error) -> Error {
        map_db_error(e, &self.inner.schema)
    }
}

/// The channel inserts and the scheduler notify, per schema so schemas do not hear each other.
pub(crate) fn insert_channel(schema: &str) -> String {
    format!("{schema}_jobs")
}

/// Replaces `{schema}` with the quoted schema name and `{now}` with the shifted clock.
pub(crate) fn render(template: &str, schema: &str) -> Arc<str> {
    template
        .replace("{schema}", &format!("\"{schema}\""))
        .replace("{now}", "(now() + $1 * interval '1 microsecond')")
        .replace("{channel}", &insert_channel(schema))
        .into()
}
