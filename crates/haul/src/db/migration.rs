//! The embedded migrations (numbered SQL files) and every statement on Haul's own bookkeeping
//! table, `migrations` (never the application's `_sqlx_migrations`), plus the lock that makes
//! concurrent migrators safe.

use super::{Db, render};
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};
use std::sync::Arc;

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; migrations apply in ascending order.
    pub version: i32,
    /// A short name.
    pub name: &'static str,
    /// The SQL, with `{schema}` standing for Haul's schema.
    pub sql: &'static str,
}

/// Every migration this build knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "jobs", sql: include_str!("../../migrations/0001_jobs.sql") },
    Migration {
        version: 2,
        name: "cancel_requests",
        sql: include_str!("../../migrations/0002_cancel_requests.sql"),
    },
    Migration { version: 3, name: "vacuum", sql: include_str!("../../migrations/0003_vacuum.sql") },
    Migration { version: 4, name: "no_truncate", sql: include_str!("../../migrations/0004_no_truncate.sql") },
    Migration { version: 5, name: "unique", sql: include_str!("../../migrations/0005_unique.sql") },
    Migration { version: 6, name: "queues", sql: include_str!("../../migrations/0006_queues.sql") },
    Migration { version: 7, name: "periodic", sql: include_str!("../../migrations/0007_periodic.sql") },
    Migration { version: 8, name: "stats", sql: include_str!("../../migrations/0008_stats.sql") },
    Migration { version: 9, name: "workflows", sql: include_str!("../../migrations/0009_workflows.sql") },
    Migration { version: 10, name: "limits", sql: include_str!("../../migrations/0010_limits.sql") },
    Migration {
        version: 11,
        name: "periodic_next",
        sql: include_str!("../../migrations/0011_periodic_next.sql"),
    },
    Migration {
        version: 12,
        name: "limit_starts_begun",
        sql: include_str!("../../migrations/0012_limit_starts_begun.sql"),
    },
    Migration {
        version: 13,
        name: "unique_key_c",
        sql: include_str!("../../migrations/0013_unique_key_c.sql"),
    },
    Migration {
        version: 14,
        name: "fetch_no_dedup",
        sql: include_str!("../../migrations/0014_fetch_no_dedup.sql"),
    },
    Migration { version: 15, name: "rotation", sql: include_str!("../../migrations/0015_rotation.sql") },
    Migration {
        version: 16,
        name: "cheaper_checks",
        sql: include_str!("../../migrations/0016_cheaper_checks.sql"),
    },
    Migration {
        version: 17,
        name: "domain_checks",
        sql: include_str!("../../migrations/0017_domain_checks.sql"),
    },
];

const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('haul.migrate'), hashtext('{schema}'))";
const CREATE_SCHEMA: &str = "CREATE SCHEMA IF NOT EXISTS {schema}";
const CREATE_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS {schema}.migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"#;
const APPLIED: &str = "SELECT version, applied_at FROM {schema}.migrations ORDER BY version";
const RECORD: &str = "INSERT INTO {schema}.migrations (version, name) VALUES ($1, $2)";
const TABLE_EXISTS: &str = "SELECT to_regclass('{schema}.migrations') IS NOT NULL AS present";

/// The rendered statements on `migrations` for one schema.
pub(super) struct MigrationSql {
    lock: Arc<str>,
    create_schema: Arc<str>,
    create_table: Arc<str>,
    applied: Arc<str>,
    record: Arc<str>,
    table_exists: Arc<str>,
}

impl MigrationSql {
    pub(super) fn new(schema: &str) -> Self {
        MigrationSql {
            // the lock key hashes the bare schema name
            lock: LOCK.replace("{schema}", schema).into(),
            create_schema: render(CREATE_SCHEMA, schema),
            create_table: render(CREATE_TABLE, schema),
            applied: render(APPLIED, schema),
            record: render(RECORD, schema),
            table_exists: render(TABLE_EXISTS, schema),
        }
    }
}

/// The bookkeeping statements that open a printed migration script (schema and table).
pub(crate) fn migration_script_prelude(schema: &str) -> String {
    format!("{};\n{};\n", render(CREATE_SCHEMA, schema), render(CREATE_TABLE, schema).trim())
}

/// The statement that records one migration in a printed script (literal values, no binds).
pub(crate) fn migration_script_record(schema: &str, version: i32, name: &str) -> String {
    let values = format!("VALUES ({version}, '{}')", name.replace('\'', "''"));
    format!("\n{};\n", render(RECORD, schema).replace("VALUES ($1, $2)", &values))
}

/// One applied migration, as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MigrationStatus {
    pub version: i32,
    pub applied_at: DateTime<Utc>,
}

/// Whether the bookkeeping table exists.
#[derive(sqlx::FromRow)]
struct Table {
    present: bool,
}

fn plain(sql: &Arc<str>) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(AssertSqlSafe(sql.clone()))
}

impl Db {
    /// Takes the migration lock for this schema until the transaction ends, then makes sure
    /// the schema and bookkeeping table exist.
    pub(crate) async fn migration_lock_and_prepare(&self, tx: &mut PgConnection) -> Result<()> {
        let sql = &self.inner.migration;
        for stmt in [&sql.lock, &sql.create_schema, &sql.create_table] {
            plain(stmt).execute(&mut *tx).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Applied migrations, oldest first; empty when the bookkeeping table does not exist.
    pub(crate) async fn migration_applied(&self, conn: &mut PgConnection) -> Result<Vec<MigrationStatus>> {
        let sql = &self.inner.migration;
        let table = sqlx::query_as::<_, Table>(AssertSqlSafe(sql.table_exists.clone()));
        if !table.fetch_one(&mut *conn).await.map_err(|e| self.err(e))?.present {
            return Ok(Vec::new());
        }
        let applied = sqlx::query_as(AssertSqlSafe(sql.applied.clone()));
        applied.fetch_all(&mut *conn).await.map_err(|e| self.err(e))
    }

    /// Runs one migration's SQL (many statements) and records it.
    pub(crate) async fn migration_apply(
        &self,
        tx: &mut PgConnection,
        version: i32,
        name: &str,
        sql_text: &str,
    ) -> Result<()> {
        let rendered = render(sql_text, self.schema()).to_string();
        sqlx::raw_sql(AssertSqlSafe(rendered)).execute(&mut *tx).await.map_err(|e| self.err(e))?;
        plain(&self.inner.migration.record)
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
