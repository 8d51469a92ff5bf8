//! The jobs table's upkeep through the catalog: its dead row versions and size, the xmin
//! horizon no vacuum can clean past, and the statements that vacuum or compact it.

use super::{Db, render};
use crate::error::Result;
use sqlx::{AssertSqlSafe, PgConnection};
use std::sync::Arc;
use std::time::Duration;

/// Dead and live row versions, and row versions ever made dead (updates + deletes), as the
/// statistics last counted them, over every slot of the table (migration 0015).
const DEAD_TUPLES: &str = r#"
SELECT coalesce(sum(n_dead_tup), 0)::int8 AS dead, coalesce(sum(n_live_tup), 0)::int8 AS live,
       coalesce(sum(n_tup_upd + n_tup_del), 0)::int8 AS churned,
       coalesce(sum(pg_total_relation_size(relid)), 0)::int8 AS bytes
FROM pg_stat_user_tables
WHERE relid IN (SELECT relid FROM pg_partition_tree('{schema}.jobs') WHERE isleaf)
"#;

/// The oldest snapshot another session holds (its xmin, as text), which no VACUUM can clean
/// past; NULL when this role may not see every session's (it is not in `pg_read_all_stats`).
const XMIN_HORIZON: &str = r#"
SELECT CASE WHEN pg_has_role('pg_read_all_stats', 'MEMBER') THEN
    (SELECT backend_xmin::text FROM pg_stat_activity
     WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid()
     ORDER BY age(backend_xmin) DESC LIMIT 1)
END AS xmin
"#;

/// Run with the simple protocol: VACUUM cannot run inside a transaction block. ANALYZE too: a
/// queue table's size swings, and its statistics are what the claim's plan is chosen by.
const VACUUM: &str = "VACUUM (SKIP_LOCKED, ANALYZE) {schema}.jobs";

/// Cancels the other vacuums of the jobs table that this role may cancel (its own; every one,
/// autovacuum's too, for a superuser), so a compaction does not queue behind them.
const CANCEL_VACUUMS: &str = r#"
SELECT count(*) FILTER (WHERE pg_cancel_backend(v.pid)) AS cancelled
FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a USING (pid)
WHERE v.relid IN (SELECT relid FROM pg_partition_tree('{schema}.jobs')) AND v.pid <> pg_backend_pid()
  AND (a.usename = current_user OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
"#;

/// Rewrites the jobs table and its indexes with the live rows only (ACCESS EXCLUSIVE lock).
/// Without ANALYZE: statistics taken right after it would describe a nearly empty table that
/// refills within seconds (the worker's sessions do not trust statistics anyway,
/// [`WORKER_SESSION`](super::WORKER_SESSION)); the next plain vacuum analyzes.
const COMPACT: &str = "VACUUM (FULL) {schema}.jobs";

/// The rendered upkeep statements for one schema.
pub(super) struct VacuumSql {
    dead_tuples: Arc<str>,
    xmin_horizon: Arc<str>,
    vacuum: Arc<str>,
    cancel_vacuums: Arc<str>,
    compact: Arc<str>,
}

impl VacuumSql {
    pub(super) fn new(schema: &str) -> Self {
        VacuumSql {
            dead_tuples: render(DEAD_TUPLES, schema),
            xmin_horizon: render(XMIN_HORIZON, schema),
            vacuum: render(VACUUM, schema),
            cancel_vacuums: render(CANCEL_VACUUMS, schema),
            compact: render(COMPACT, schema),
        }
    }
}

/// The jobs table's row versions per the statistics (which lag by up to a second).
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct DeadTuples {
    /// Dead versions not yet vacuumed away.
    pub dead: i64,
    /// Live rows.
    pub live: i64,
    /// Versions ever made dead (updates plus deletes): the difference over an interval is how
    /// many died in it.
    pub churned: i64,
    /// The table's size on disk, indexes and TOAST included (bytes).
    pub bytes: i64,
}

impl Db {
    /// Dead and live row versions in the jobs table, per the statistics.
    pub(crate) async fn job_dead_tuples(&self) -> Result<DeadTuples> {
        let q = self.query_as(&self.inner.vacuum.dead_tuples);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    /// The oldest snapshot's xmin among other sessions, if this role may see them all.
    pub(crate) async fn job_xmin_horizon(&self) -> Result<Option<String>> {
        let q = sqlx::query_scalar(AssertSqlSafe(self.inner.vacuum.xmin_horizon.clone()));
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    /// Vacuums and analyzes the jobs table (skipping it if another vacuum holds it), lifting
    /// the session's statement timeout for it: a vacuum may take longer than a claim.
    pub(crate) async fn job_vacuum(&self, limit: Duration) -> Result<()> {
        let sql = AssertSqlSafe(self.inner.vacuum.vacuum.clone());
        let run = async |c: &mut PgConnection| {
            sqlx::raw_sql("SET statement_timeout = 0").execute(&mut *c).await?;
            let done = sqlx::raw_sql(sql).execute(&mut *c).await;
            sqlx::raw_sql("RESET statement_timeout").execute(&mut *c).await?;
            done.map(drop)
        };
        self.with_conn_limit(Some(limit), run).await
    }

    /// Compacts the jobs table: cancels the other vacuums of it this role may cancel, then
    /// rewrites it with its live rows only, waiting at most `lock_wait` for its lock (every
    /// statement on the table queues behind that wait, then behind the rewrite). Returns how
    /// many vacuums it cancelled.
    pub(crate) async fn job_compact(&self, limit: Duration, lock_wait: Duration) -> Result<i64> {
        let cancel = sqlx::query_scalar(AssertSqlSafe(self.inner.vacuum.cancel_vacuums.clone()));
        let compact = AssertSqlSafe(self.inner.vacuum.compact.clone());
        let lock = format!("SET statement_timeout = 0; SET lock_timeout = {}", lock_wait.as_millis().max(1));
        let run = async |c: &mut PgConnection| {
            sqlx::raw_sql(AssertSqlSafe(lock)).execute(&mut *c).await?;
            let done = async {
                let cancelled: i64 = cancel.fetch_one(&mut *c).await?;
                sqlx::raw_sql(compact).execute(&mut *c).await?;
                Ok(cancelled)
            }
            .await;
            sqlx::raw_sql("RESET statement_timeout; RESET lock_timeout").execute(&mut *c).await?;
            done
        };
        self.with_conn_limit(Some(limit), run).await
    }
}
