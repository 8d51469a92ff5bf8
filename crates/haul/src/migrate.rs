//! Haul's schema migrations: numbered SQL files embedded in the library, applied in one
//! transaction under an advisory lock, so concurrent migrators are safe and re-running is a no-op.

use crate::db::Db;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};

pub use crate::db::{MIGRATIONS, Migration};

/// What [`Client::migrate`](crate::Client::migrate) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrateReport {
    /// Versions applied by this call (empty when the schema was up to date).
    pub applied: Vec<i32>,
    /// The schema's version afterwards.
    pub version: i32,
}

/// One known migration and whether the schema has it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MigrationState {
    /// Its number.
    pub version: i32,
    /// Its name.
    pub name: &'static str,
    /// When it was applied, if it was.
    pub applied_at: Option<DateTime<Utc>>,
}

/// Applies every missing migration in one transaction, under the schema's migration lock.
pub(crate) async fn up(db: &Db) -> Result<MigrateReport> {
    let mut tx = db.pool().begin().await.map_err(Error::Connection)?;
    match apply_missing(db, &mut tx).await {
        Ok(report) => {
            tx.commit().await.map_err(Error::Connection)?;
            Ok(report)
        }
        Err(e) => {
            // roll back now: an idle open transaction would hold its locks until reused
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn apply_missing(db: &Db, tx: &mut sqlx::PgConnection) -> Result<MigrateReport> {
    db.migration_lock_and_prepare(tx).await?;
    let done: Vec<i32> = db.migration_applied(tx).await?.iter().map(|m| m.version).collect();
    check_not_newer(db.schema(), &done)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        db.migration_apply(tx, m.version, m.name, m.sql).await?;
        applied.push(m.version);
    }
    let version = done.iter().chain(&applied).copied().max().unwrap_or(0);
    Ok(MigrateReport { applied, version })
}

/// Every known migration with its applied time, if any.
pub(crate) async fn status(db: &Db) -> Result<Vec<MigrationState>> {
    let mut conn = db.pool().acquire().await.map_err(Error::Connection)?;
    let done = db.migration_applied(&mut conn).await?;
    check_not_newer(db.schema(), &done.iter().map(|m| m.version).collect::<Vec<_>>())?;
    Ok(MIGRATIONS
        .iter()
        .map(|m| MigrationState {
            version: m.version,
            name: m.name,
            applied_at: done.iter().find(|d| d.version == m.version).map(|d| d.applied_at),
        })
        .collect())
}

/// Errors with [`Error::NotMigrated`] unless every known migration is applied.
pub(crate) async fn ensure_current(db: &Db) -> Result<()> {
    let states = status(db).await?;
    if states.iter().all(|s| s.applied_at.is_some()) {
        Ok(())
    } else {
        Err(Error::NotMigrated { schema: db.schema().to_owned() })
    }
}

/// The whole schema as one SQL script, for teams that run their own migration tool.
/// It records itself in Haul's bookkeeping table, so Haul sees the schema as current.
pub(crate) fn script(schema: &str) -> String {
    let last = MIGRATIONS.last().map_or(0, |m| m.version);
    let mut out = format!("-- Haul schema `{schema}`, migrations 1 to {last}\nBEGIN;\n");
    out.push_str(&crate::db::migration_script_prelude(schema));
    for m in MIGRATIONS {
        out.push_str(&format!("\n-- migration {} ({})\n", m.version, m.name));
        out.push_str(&crate::db::render(m.sql, schema));
        out.push_str(&crate::db::migration_script_record(schema, m.version, m.name));
    }
    out.push_str("COMMIT;\n");
    out
}

fn check_not_newer(schema: &str, done: &[i32]) -> Result<()> {
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    match done.iter().copied().max() {
        Some(found) if found > known => Err(Error::SchemaTooNew { schema: schema.to_owned(), found, known }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_migrations_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        files.sort();
        let embedded: Vec<String> =
            MIGRATIONS.iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
        assert_eq!(files, embedded);
        // versions ascend; a number reserved for another feature may be absent
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn script_quotes_the_schema_everywhere() {
        let s = script("select");
        assert!(s.contains("CREATE TABLE \"select\".jobs"));
        assert!(!s.contains("{schema}"));
    }
}
