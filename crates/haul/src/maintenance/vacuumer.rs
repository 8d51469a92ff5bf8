//! The vacuumer: vacuums the jobs table when dead row versions pile up. Every job leaves
//! three (insert, claim, completion); autovacuum visits a database at most once a minute,
//! and in that minute a busy queue's table bloats and its fetch slows (measured: 700 MiB/min
//! and a runaway backlog at 30k jobs/s; flat at ~75 MiB with a vacuum every few seconds).
//!
//! The vacuum runs in a task of its own, so a long one never delays the leader's lease or the
//! rescuer. A vacuum that removes less than half of the dead versions it was started for (the
//! dead versions after it, less those that died while it ran) is futile: a transaction (or a
//! replication slot, or a prepared transaction) holds the xmin horizon back, and vacuuming
//! again only scans the table for nothing. The vacuumer then waits twice as long before each
//! next try, up to [`FUTILE_WAIT_MAX`], and says so — unless it can see the oldest snapshot (a
//! role in `pg_read_all_stats`): then it tries again at the first tick after that snapshot is
//! gone.

use crate::config::VACUUM_DEAD_MIN;
use crate::error::Error;
use crate::service::Throttle;
use crate::worker::Core;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Longest a vacuum may run before the vacuumer gives up on it.
const VACUUM_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest wait after futile vacuums.
pub(crate) const FUTILE_WAIT_MAX: Duration = Duration::from_secs(20);

/// What one vacuum did: dead versions before, and those of them it left behind with the oldest
/// snapshot then seen.
type Done = (i64, Result<(i64, Option<String>), Error>);

/// Futile vacuums in a row, when the next try may start, and the oldest snapshot they met.
struct Futile {
    count: u32,
    until: Instant,
    horizon: Option<String>,
}

/// The vacuumer's state between ticks.
#[derive(Default)]
pub(super) struct Vacuumer {
    disabled: bool,
    running: Option<JoinHandle<Done>>,
    futile: Option<Futile>,
}

impl Vacuumer {
    /// Takes in a finished vacuum, then starts one if dead versions exceed both
    /// [`VACUUM_DEAD_MIN`] and a fifth of live rows (and no futile wait is on).
    pub(super) async fn run(&mut self, core: &Arc<Core>, throttle: &mut Throttle) {
        if let Some(task) = self.running.take_if(|t| t.is_finished()) {
            match task.await {
                Ok(done) => self.finished(done, core.config.vacuum_interval, throttle),
                Err(e) => tracing::error!(error = %e, "vacuum task failed"),
            }
        }
        if self.disabled || self.running.is_some() || self.waiting(core).await {
            return;
        }
        let before = match core.db.job_dead_tuples().await {
            Ok(counts) => counts,
            Err(e) => {
                return throttle.warn(|| tracing::warn!(error = %e, "vacuumer could not read statistics"));
            }
        };
        let dead = before.dead;
        if dead < VACUUM_DEAD_MIN.max(before.live / 5) {
            return;
        }
        let core = core.clone();
        self.running = Some(tokio::spawn(async move {
            let after = async {
                core.db.job_vacuum(VACUUM_TIMEOUT).await?;
                let after = core.db.job_dead_tuples().await?;
                let left = left_behind(dead, before.churned, after.dead, after.churned);
                let horizon =
                    if left.saturating_mul(2) < dead { None } else { core.db.job_xmin_horizon().await? };
                Ok((left, horizon))
            };
            (dead, after.await)
        }));
    }

    /// Whether a futile wait is on: its time is not up and the oldest snapshot it met (if
    /// visible) is still there.
    async fn waiting(&self, core: &Core) -> bool {
        let Some(f) = &self.futile else { return false };
        if Instant::now() >= f.until {
            return false;
        }
        let Some(met) = &f.horizon else { return true };
        !matches!(core.db.job_xmin_horizon().await, Ok(now) if now.as_ref() != Some(met))
    }

    fn finished(&mut self, (before, result): Done, interval: Duration, throttle: &mut Throttle) {
        match result {
            Ok((after, _)) if after.saturating_mul(2) < before => {
                tracing::debug!(before, after, "vacuumed the jobs table");
                self.futile = None;
            }
            Ok((after, horizon)) => {
                let count = self.futile.as_ref().map_or(0, |f| f.count) + 1;
                let wait = futile_wait(interval, count);
                self.futile = Some(Futile { count, until: Instant::now() + wait, horizon });
                throttle.warn(|| {
                    tracing::warn!(
                        before,
                        after,
                        wait_s = wait.as_secs_f64(),
                        "vacuum could not remove the jobs table's dead row versions: a long transaction, replication slot or prepared transaction holds the xmin horizon back"
                    )
                });
            }
            Err(Error::Database(e))
                if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501") =>
            {
                self.disabled = true;
                tracing::warn!(
                    "vacuumer off: this role may not VACUUM the jobs table (make it the table's owner); autovacuum alone may let a busy queue's table bloat"
                );
            }
            Err(e) => throttle.warn(|| tracing::warn!(error = %e, "vacuum of the jobs table failed")),
        }
    }
}

impl Drop for Vacuumer {
    /// A leader stepping down or stopping does not leave its vacuum running unwatched.
    fn drop(&mut self) {
        if let Some(task) = &self.running {
            task.abort();
        }
    }
}

/// Of `before` dead versions when a vacuum started, how many it left: the dead versions after
/// it, less those that died while it ran (a busy queue makes ~3 per job, 120,000/s at 40k
/// jobs/s, so a vacuum of a few seconds ends with more dead versions than it started with).
fn left_behind(before: i64, churned_before: i64, after: i64, churned_after: i64) -> i64 {
    let died_meanwhile = churned_after.saturating_sub(churned_before).max(0);
    after.saturating_sub(died_meanwhile).clamp(0, before.max(0))
}

/// The wait after `futile` futile vacuums in a row: the interval, doubled each time, capped.
fn futile_wait(interval: Duration, futile: u32) -> Duration {
    interval.saturating_mul(1 << futile.min(16)).min(FUTILE_WAIT_MAX.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_that_died_while_the_vacuum_ran_do_not_make_it_futile() {
        // 100k dead at the start; 300k died during it; 310k dead after: it removed ~90k
        assert_eq!(left_behind(100_000, 1_000_000, 310_000, 1_300_000), 10_000);
        // a held horizon: nothing removed, nothing new died
        assert_eq!(left_behind(100_000, 1_000_000, 100_000, 1_000_000), 100_000);
        // statistics lagging behind: never more than it started with, never below zero
        assert_eq!(left_behind(100_000, 1_000_000, 500_000, 1_000_000), 100_000);
        assert_eq!(left_behind(100_000, 1_000_000, 0, 1_300_000), 0);
    }

    #[test]
    fn futile_vacuums_back_off_doubling_up_to_the_cap() {
        let i = Duration::from_secs(5);
        assert_eq!(futile_wait(i, 1), Duration::from_secs(10));
        assert_eq!(futile_wait(i, 2), Duration::from_secs(20));
        assert_eq!(futile_wait(i, 9), FUTILE_WAIT_MAX);
        assert_eq!(
            futile_wait(Duration::from_secs(60), 3),
            Duration::from_secs(60),
            "never below the interval"
        );
    }
}

#[cfg(test)]
mod db_tests {
    use crate::db::Db;

    #[tokio::test]
    async fn the_oldest_snapshot_of_another_session_is_seen() {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap();
        let db = Db::new(pool.clone(), "ht_horizon", crate::Clock::database());
        let mut holder = pool.acquire().await.unwrap();
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1").execute(&mut *holder).await.unwrap();
        let held: String =
            sqlx::query_scalar("SELECT backend_xmin::text FROM pg_stat_activity WHERE pid = $1")
                .bind(
                    sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                        .fetch_one(&mut *holder)
                        .await
                        .unwrap(),
                )
                .fetch_one(&pool)
                .await
                .unwrap();
        let oldest = db.job_xmin_horizon().await.unwrap().expect("a superuser sees every snapshot");
        let older_or_same: bool = sqlx::query_scalar("SELECT age($1::text::xid) >= age($2::text::xid)")
            .bind(&oldest)
            .bind(&held)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(older_or_same, "the oldest ({oldest}) is at least as old as the held snapshot ({held})");
        sqlx::raw_sql("COMMIT").execute(&mut *holder).await.unwrap();
    }
}
