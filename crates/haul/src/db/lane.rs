//! Every statement on the jobs table's partitions, its lanes (migration 0005): the current
//! period, each lane's size and row versions, the reclaimer's check, move and truncate, and
//! the vacuumer's VACUUM. Every other statement addresses the parent, `jobs`.
//!
//! A new job's lane is the default of `jobs.lane`: `floor(epoch / PERIOD_S) % HOT_LANES` of
//! the database's clock when the row is made. The constants here must match it.

use super::Db;
use crate::error::{Error, Result};
use sqlx::{AssertSqlSafe, Row};
use std::time::Duration;

/// Hot lanes, taken in turn.
pub(crate) const HOT_LANES: u8 = 2;
/// Seconds each hot lane takes new jobs for, in turn.
pub(crate) const PERIOD_S: i64 = 3;
/// How long the reclaimer waits for a lane's lock before giving up: while it waits, every
/// statement on `jobs` queues behind it.
const LOCK_TIMEOUT: &str = "30ms";
/// Most rows moved to the cold lane per statement.
pub(crate) const MOVE_BATCH: i64 = 10_000;

/// The lane of a statement's new jobs: the column default, computed once per statement (as
/// an init plan) instead of once per row (measured: 3 µs a row).
pub(super) static NEW_JOB_LANE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "(SELECT (floor(date_part('epoch', clock_timestamp()) / {PERIOD_S})::bigint % {HOT_LANES})::smallint)"
    )
});

/// A partition of `jobs`: one of the hot lanes or the cold lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Lane {
    /// Takes new jobs in its period; truncated once drained.
    Hot(u8),
    /// Jobs moved out of the hot lanes (kept, dead, or scheduled for later); vacuumed.
    Cold,
}

impl Lane {
    /// The hot lane taking new jobs in `period` (seconds since the epoch / [`PERIOD_S`]).
    pub(crate) fn of_period(period: i64) -> Lane {
        Lane::Hot(period.rem_euclid(i64::from(HOT_LANES)) as u8)
    }

    /// The partition's table name (unqualified; always one of these fixed names).
    pub(crate) fn table(self) -> String {
        match self {
            Lane::Hot(n) => format!("jobs_lane_{n}"),
            Lane::Cold => "jobs_cold".into(),
        }
    }

    /// The value of `jobs.lane` in this partition.
    fn value(self) -> i16 {
        match self {
            Lane::Hot(n) => i16::from(n),
            Lane::Cold => -1,
        }
    }

    fn from_table(name: &str) -> Option<Lane> {
        match name {
            "jobs_cold" => Some(Lane::Cold),
            _ => name.strip_prefix("jobs_lane_")?.parse().ok().filter(|n| *n < HOT_LANES).map(Lane::Hot),
        }
    }
}

/// One lane's heap size and row versions, as the statistics last counted them (they lag by
/// up to a second).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneStats {
    pub lane: Lane,
    /// Heap bytes (0 once truncated).
    pub bytes: i64,
    /// Dead versions not yet vacuumed away.
    pub dead: i64,
    /// Live rows.
    pub live: i64,
    /// Versions ever made dead (updates plus deletes).
    pub churned: i64,
}

/// What [`Db::lane_truncate_if_empty`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truncate {
    /// The lane was empty and is truncated.
    Done,
    /// A row was found under the lock; nothing changed.
    NotEmpty,
    /// The lock was not had within [`LOCK_TIMEOUT`] (a transaction holds the lane).
    LockBusy,
}

const STATS: &str = r#"
SELECT c.relname::text, pg_relation_size(c.oid), coalesce(s.n_dead_tup, 0),
       coalesce(s.n_live_tup, 0), coalesce(s.n_tup_upd + s.n_tup_del, 0)
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE i.inhparent = '{schema}.jobs'::regclass
"#;

/// Finished jobs, and jobs not due for a while, of one hot lane go to the cold lane. Nothing
/// else locks such rows: workers touch running and available ones, the scheduler due ones.
const MOVE_TO_COLD: &str = r#"
WITH moved AS (
    UPDATE {schema}.jobs j SET lane = -1
    WHERE j.lane = $2 AND j.id = ANY(
        ARRAY(SELECT id FROM {schema}.jobs
              WHERE lane = $2 AND state IN ('completed', 'cancelled', 'discarded')
              LIMIT $3 FOR UPDATE SKIP LOCKED)
        || ARRAY(SELECT id FROM {schema}.jobs
                 WHERE lane = $2 AND state IN ('scheduled', 'retryable')
                   AND run_at > {now} + interval '10 seconds'
                 LIMIT $3 FOR UPDATE SKIP LOCKED))
    RETURNING 1
)
SELECT count(*) FROM moved
"#;

/// The oldest snapshot another session holds (its xmin, as text), which no VACUUM can clean
/// past; NULL when this role may not see every session's (it is not in `pg_read_all_stats`).
const XMIN_HORIZON: &str = r#"
SELECT CASE WHEN pg_has_role('pg_read_all_stats', 'MEMBER') THEN
    (SELECT backend_xmin::text FROM pg_stat_activity
     WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid()
     ORDER BY age(backend_xmin) DESC LIMIT 1)
END
"#;

impl Db {
    fn lane_table(&self, lane: Lane) -> String {
        format!("\"{}\".{}", self.schema(), lane.table())
    }

    /// The current period: seconds since the epoch / [`PERIOD_S`], by the database's clock.
    pub(crate) async fn lane_period_now(&self) -> Result<i64> {
        let sql = format!("SELECT floor(date_part('epoch', clock_timestamp()) / {PERIOD_S})::bigint");
        self.with_conn(async |c| sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(c).await).await
    }

    /// Every lane's size and row versions.
    pub(crate) async fn lane_stats(&self) -> Result<Vec<LaneStats>> {
        let sql = super::render(STATS, self.schema());
        let rows = self.with_conn(async |c| sqlx::query(AssertSqlSafe(sql)).fetch_all(c).await).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let name: String = r.try_get(0).map_err(|e| self.err(e))?;
            let Some(lane) = Lane::from_table(&name) else { continue };
            let get = |i| r.try_get::<i64, _>(i).map_err(|e| self.err(e));
            out.push(LaneStats { lane, bytes: get(1)?, dead: get(2)?, live: get(3)?, churned: get(4)? });
        }
        Ok(out)
    }

    /// Whether `lane` holds no live row, without a lock: its key from the newest row down (a
    /// backlog's newest job is live, so a lane still working off jobs answers at once).
    pub(crate) async fn lane_is_empty(&self, lane: Lane) -> Result<bool> {
        let check =
            format!("SELECT NOT EXISTS (SELECT 1 FROM {} ORDER BY id DESC LIMIT 1)", self.lane_table(lane));
        self.with_conn(async |c| sqlx::query_scalar(AssertSqlSafe(check)).fetch_one(c).await).await
    }

    /// Truncates `lane` if it is empty under an ACCESS EXCLUSIVE lock: no transaction can
    /// then be adding a row to it, and the check sees every committed row (through the key,
    /// whose dead entries the unlocked check just marked, so the lock is held briefly).
    pub(crate) async fn lane_truncate_if_empty(&self, lane: Lane) -> Result<Truncate> {
        let table = self.lane_table(lane);
        let settings = format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'");
        let lock = format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE");
        let check = format!("SELECT NOT EXISTS (SELECT 1 FROM {table} ORDER BY id DESC LIMIT 1)");
        let truncate = format!("TRUNCATE {table}");
        let res = self
            .with_conn(async |c| {
                let mut tx = sqlx::Connection::begin(c).await?;
                sqlx::raw_sql(AssertSqlSafe(settings)).execute(&mut *tx).await?;
                sqlx::raw_sql(AssertSqlSafe(lock)).execute(&mut *tx).await?;
                let empty: bool = sqlx::query_scalar(AssertSqlSafe(check)).fetch_one(&mut *tx).await?;
                if empty {
                    sqlx::raw_sql(AssertSqlSafe(truncate)).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(if empty { Truncate::Done } else { Truncate::NotEmpty })
            })
            .await;
        match res {
            Err(Error::Database(e))
                if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("55P03") =>
            {
                Ok(Truncate::LockBusy)
            }
            other => other,
        }
    }

    /// Moves up to [`MOVE_BATCH`] finished jobs and as many jobs not due within 10 s from a hot
    /// lane to the cold lane; returns how many moved.
    pub(crate) async fn lane_move_to_cold(&self, lane: Lane) -> Result<i64> {
        let sql = super::render(MOVE_TO_COLD, self.schema());
        let q = self.query(&sql).bind(lane.value()).bind(MOVE_BATCH);
        let row = self.with_conn(async |c| q.fetch_one(c).await).await?;
        row.try_get(0).map_err(|e| self.err(e))
    }

    /// The oldest snapshot's xmin among other sessions, if this role may see them all.
    pub(crate) async fn lane_xmin_horizon(&self) -> Result<Option<String>> {
        let q = sqlx::query_scalar(XMIN_HORIZON);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    /// Vacuums and analyzes `lanes` (skipping one another vacuum holds), lifting the session's
    /// statement timeout for it: a vacuum may take longer than a claim. The simple protocol:
    /// VACUUM cannot run inside a transaction block.
    pub(crate) async fn lane_vacuum(&self, lanes: &[Lane], limit: Duration) -> Result<()> {
        let tables: Vec<String> = lanes.iter().map(|l| self.lane_table(*l)).collect();
        let sql = format!("VACUUM (SKIP_LOCKED, ANALYZE) {}", tables.join(", "));
        let run = async |c: &mut sqlx::PgConnection| {
            sqlx::raw_sql("SET statement_timeout = 0").execute(&mut *c).await?;
            let done = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *c).await;
            sqlx::raw_sql("RESET statement_timeout").execute(&mut *c).await?;
            done.map(drop)
        };
        self.with_conn_limit(Some(limit), run).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_follow_the_period_and_name_their_tables() {
        assert_eq!(Lane::of_period(0), Lane::Hot(0));
        assert_eq!(Lane::of_period(7), Lane::Hot(1));
        assert_eq!(Lane::of_period(-1), Lane::Hot(1));
        for lane in [Lane::Hot(0), Lane::Hot(1), Lane::Cold] {
            assert_eq!(Lane::from_table(&lane.table()), Some(lane));
        }
        assert_eq!(Lane::from_table("jobs_lane_2"), None);
        assert_eq!(Lane::from_table("jobs"), None);
    }
}
