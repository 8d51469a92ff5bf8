//! The fixture of the crate's database tests: a pool on the test database and a freshly
//! migrated schema, built with `db`'s own statements (so `db` needs nothing from `migrate`).

use super::{Db, MIGRATIONS};
use crate::Clock;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// A pool on the test database (`DATABASE_URL`, else the local server) and a freshly migrated
/// schema named `{prefix}_{random}`, for tests inside the crate.
pub(crate) async fn test_db(prefix: &str) -> (PgPool, Db, String) {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap();
    let schema = format!("{prefix}_{:08x}", fastrand::u32(..));
    let db = Db::new(pool.clone(), &schema, Clock::database());
    migrate(&db).await;
    (pool, db, schema)
}

/// Drops a schema [`test_db`] made, with everything in it.
pub(crate) async fn drop_test_schema(pool: &PgPool, schema: &str) {
    let sql = format!("DROP SCHEMA \"{schema}\" CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
}

/// Applies every embedded migration in one transaction, as `migrate::up` does on a new schema.
async fn migrate(db: &Db) {
    let mut tx = db.pool().begin().await.unwrap();
    db.migration_lock_and_prepare(&mut tx).await.unwrap();
    for m in MIGRATIONS {
        db.migration_apply(&mut tx, m.version, m.name, m.sql).await.unwrap();
    }
    tx.commit().await.unwrap();
}
