//! The fixture of the crate's database tests: a pool on the test database and a freshly
//! migrated schema, built from the migration files with `db`'s own statements (so `db` needs
//! nothing from `migrate`).

use super::Db;
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

/// Applies every file of `migrations/` in name order (`0001_jobs.sql`: version 1, `jobs`) in
/// one transaction, as `migrate::up` applies its embedded copies (whose tests check that they
/// are these files, in this order).
async fn migrate(db: &Db) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut tx = db.pool().begin().await.unwrap();
    db.migration_lock_and_prepare(&mut tx).await.unwrap();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap();
        let (version, name) = stem.split_once('_').unwrap();
        let sql = std::fs::read_to_string(&path).unwrap();
        db.migration_apply(&mut tx, version.parse().unwrap(), name, &sql).await.unwrap();
    }
    tx.commit().await.unwrap();
}
