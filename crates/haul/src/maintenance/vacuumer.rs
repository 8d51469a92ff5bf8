//! The vacuumer: vacuums the jobs table when dead row versions pile up, and, where the
//! application opted in, compacts it after a held xmin horizon let it bloat. Every job leaves
//! two dead versions (the claim's update and the completion's delete; three if it is kept
//! finished and deleted later); autovacuum visits a database at most once a minute, and in
//! that time a busy queue's table bloats and its fetch slows.
//!
//! The vacuum runs in a task of its own, so a long one never delays a maintenance round. A
//! vacuum that removes less than half of the dead versions it was started for (the dead
//! versions after it, less those that died while it ran) is futile: a transaction (or a
//! replication slot, or a prepared transaction) holds the xmin horizon back, and vacuuming
//! again only scans the table for nothing. The vacuumer then waits twice as long before each
//! next try, up to [`FUTILE_WAIT_MAX`], and says so — unless it can see the oldest snapshot (a
//! role in `pg_read_all_stats`): then it does not vacuum again while that snapshot lasts,
//! watches it every [`HORIZON_POLL`], and acts as soon as it is gone.
//!
//! While the horizon is held the table grows, and a plain VACUUM never gives the space back.
//! When the hold ends with the table at least [`COMPACT_GROWTH`] times its size after the last
//! good vacuum (and [`COMPACT_MIN_BYTES`] over it), the vacuumer acts on the worker's
//! [`Compaction`] setting: by default it only says, once per hold, how to compact the table at
//! a quiet time, because `VACUUM FULL` holds a lock that every insert of the application waits
//! for. With [`Compaction::VacuumFull`] it compacts itself: it cancels the other vacuums of the
//! table it may cancel, waits at most [`COMPACT_LOCK_WAIT`] for the lock, and if that fails
//! does not try again until the next hold.

use super::{Lead, Round};
use crate::config::{Compaction, VACUUM_DEAD_MIN};
use crate::db::{Db, DeadTuples};
use crate::error::Error;
use crate::service::Throttle;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Longest a vacuum may run before the vacuumer gives up on it.
const VACUUM_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest wait after futile vacuums.
pub(crate) const FUTILE_WAIT_MAX: Duration = Duration::from_secs(20);
/// How often the vacuumer looks at a held horizon it can see.
pub(crate) const HORIZON_POLL: Duration = Duration::from_millis(250);
/// The growth, over the size after the last good vacuum, that makes a compaction worth it...
const COMPACT_GROWTH: i64 = 2;
/// ...when it is at least this many bytes.
const COMPACT_MIN_BYTES: i64 = 32 << 20;
/// Longest a compaction waits for its lock (statements on the table queue behind the wait).
const COMPACT_LOCK_WAIT: Duration = Duration::from_secs(1);

/// What one vacuum did: dead versions before, and after it: those of them it left behind, the
/// table's size, and the oldest snapshot then seen.
type Done = (i64, Result<(i64, i64, Option<String>), Error>);

/// Futile vacuums in a row, when the next try may start, and the oldest snapshot they met.
struct Futile {
    count: u32,
    until: Instant,
    horizon: Option<String>,
}

/// What a futile wait says now.
#[derive(PartialEq)]
enum Wait {
    /// No wait is on (none, or, where the snapshot cannot be seen, its time is up).
    Off,
    /// The snapshot the futile vacuums met is still there (or it cannot be seen and the time
    /// is not up).
    On,
    /// The snapshot the futile vacuums met is gone.
    Released,
}

/// A compaction under way: the table's size before it.
struct Compacting {
    task: JoinHandle<Result<Compacted, Error>>,
    before: i64,
}

/// What a compaction did: vacuums it cancelled, how long it took, the table after it.
struct Compacted {
    cancelled: i64,
    took: Duration,
    after: DeadTuples,
}

/// The vacuumer stage: the database, its settings, and its state between rounds.
pub(crate) struct Vacuumer {
    pub db: Db,
    pub interval: Duration,
    pub compaction: Compaction,
    pub state: State,
    pub throttle: Throttle,
}

impl Round for Vacuumer {
    /// The wait before the next round: short while a held horizon is watched.
    fn period(&self) -> Duration {
        if self.state.watching() { HORIZON_POLL } else { self.interval }
    }

    /// One round; see [`State::run`].
    async fn round(&mut self, _: Lead) {
        let ctx = Ctx { db: &self.db, interval: self.interval, compaction: self.compaction };
        self.state.run(&ctx, &mut self.throttle).await;
    }
}

/// What a round of the vacuumer's state reads.
struct Ctx<'a> {
    db: &'a Db,
    interval: Duration,
    compaction: Compaction,
}

/// The vacuumer's state between rounds.
#[derive(Default)]
pub(crate) struct State {
    disabled: bool,
    running: Option<JoinHandle<Done>>,
    compacting: Option<Compacting>,
    futile: Option<Futile>,
    /// The table's size after the last good vacuum that ended no futile streak.
    base_bytes: Option<i64>,
    /// A good vacuum just ended a futile streak: see whether the table needs compacting.
    streak_ended: bool,
}

impl State {
    /// Whether a held horizon is being watched (rounds then come every [`HORIZON_POLL`]).
    fn watching(&self) -> bool {
        self.futile.as_ref().is_some_and(|f| f.horizon.is_some())
    }

    /// Takes in a finished vacuum or compaction; compacts the table (or says how to) if a hold
    /// ended with it grown; else starts a vacuum if dead versions exceed both
    /// [`VACUUM_DEAD_MIN`] and a fifth of live rows (and no futile wait is on).
    async fn run(&mut self, ctx: &Ctx<'_>, throttle: &mut Throttle) {
        self.take_finished(ctx, throttle).await;
        if self.disabled || self.compacting.is_some() {
            return;
        }
        let wait = self.wait(ctx.db).await;
        if wait == Wait::On {
            return;
        }
        let before = match ctx.db.job_dead_tuples().await {
            Ok(counts) => counts,
            Err(e) => {
                return throttle.warn(|| tracing::warn!(error = %e, "vacuumer could not read statistics"));
            }
        };
        if (wait == Wait::Released || std::mem::take(&mut self.streak_ended)) && self.grown(before.bytes) {
            return self.compact(ctx, before.bytes);
        }
        if wait == Wait::Released {
            self.futile = None; // the snapshot is gone: nothing left to watch
        }
        if self.running.is_some() {
            return;
        }
        let dead = before.dead;
        if dead < VACUUM_DEAD_MIN.max(before.live / 5) {
            return;
        }
        let db = ctx.db.clone();
        self.running = Some(tokio::spawn(async move {
            let after = async {
                db.job_vacuum(VACUUM_TIMEOUT).await?;
                let after = db.job_dead_tuples().await?;
                let left = left_behind(dead, before.churned, after.dead, after.churned);
                let horizon =
                    if left.saturating_mul(2) < dead { None } else { db.job_xmin_horizon().await? };
                Ok((left, after.bytes, horizon))
            };
            (dead, after.await)
        }));
    }

    /// Whether the table is at least [`COMPACT_GROWTH`] times (and [`COMPACT_MIN_BYTES`] over)
    /// its size after the last good vacuum.
    fn grown(&self, bytes: i64) -> bool {
        self.base_bytes.is_some_and(|base| {
            bytes >= base.saturating_mul(COMPACT_GROWTH) && bytes - base >= COMPACT_MIN_BYTES
        })
    }

    /// Starts a compaction, or with compaction off says how to compact the table. A vacuum
    /// still running is left to be cancelled by the compaction, its result ignored; the futile
    /// streak is over.
    fn compact(&mut self, ctx: &Ctx<'_>, before: i64) {
        self.futile = None;
        if ctx.compaction == Compaction::Off {
            tracing::warn!(
                bytes = before,
                base = self.base_bytes,
                table = %format!("\"{}\".jobs", ctx.db.schema()),
                "the jobs table bloated while the xmin horizon was held; to give the space back, run `VACUUM FULL` on it at a quiet time (it locks the table) or pg_repack, or let Haul do it with WorkerConfig::with_compaction(Compaction::VacuumFull)"
            );
            return;
        }
        self.running = None;
        tracing::info!(
            bytes = before,
            base = self.base_bytes,
            "compacting the jobs table after a held xmin horizon"
        );
        let db = ctx.db.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let cancelled = db.job_compact(VACUUM_TIMEOUT, COMPACT_LOCK_WAIT).await?;
            let took = started.elapsed();
            Ok(Compacted { cancelled, took, after: db.job_dead_tuples().await? })
        });
        self.compacting = Some(Compacting { task, before });
    }

    async fn take_finished(&mut self, ctx: &Ctx<'_>, throttle: &mut Throttle) {
        if let Some(task) = self.running.take_if(|t| t.is_finished()) {
            match task.await {
                Ok(done) => self.finished(done, ctx.interval, throttle),
                Err(e) => tracing::error!(error = %e, "vacuum task failed"),
            }
        }
        if let Some(c) = self.compacting.take_if(|c| c.task.is_finished()) {
            match c.task.await {
                Ok(Ok(Compacted { cancelled, took, after })) => {
                    let (before, after, took_ms) = (c.before, after.bytes, took.as_millis() as u64);
                    tracing::info!(before, after, took_ms, cancelled, "compacted the jobs table");
                    self.base_bytes = Some(after);
                }
                Ok(Err(e)) => throttle.warn(
                    || tracing::warn!(error = %e, "could not compact the jobs table; plain vacuums go on"),
                ),
                Err(e) => tracing::error!(error = %e, "compaction task failed"),
            }
        }
    }

    /// What the futile wait says: released when the snapshot it met (if visible) is gone, on
    /// while it lasts; where it cannot be seen, off once the wait's time is up.
    async fn wait(&self, db: &Db) -> Wait {
        let Some(f) = &self.futile else { return Wait::Off };
        let Some(met) = &f.horizon else {
            return if Instant::now() >= f.until { Wait::Off } else { Wait::On };
        };
        match db.job_xmin_horizon().await {
            Ok(now) if now.as_ref() != Some(met) => Wait::Released,
            // the same snapshot: a vacuum could remove only what died before it, as the last did
            Ok(_) => Wait::On,
            Err(_) if Instant::now() >= f.until => Wait::Off,
            Err(_) => Wait::On,
        }
    }

    fn finished(&mut self, (before, result): Done, interval: Duration, throttle: &mut Throttle) {
        match result {
            Ok((after, bytes, _)) if after.saturating_mul(2) < before => {
                tracing::debug!(before, after, bytes, "vacuumed the jobs table");
                if self.futile.take().is_some() {
                    self.streak_ended = true;
                } else {
                    self.base_bytes = Some(bytes);
                }
            }
            Ok((after, _, horizon)) => {
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

impl Drop for State {
    /// A leader stepping down or stopping does not leave its vacuum running unwatched.
    fn drop(&mut self) {
        if let Some(task) = &self.running {
            task.abort();
        }
        if let Some(c) = &self.compacting {
            c.task.abort();
        }
    }
}

/// Of `before` dead versions when a vacuum started, how many it left: the dead versions after
/// it, less those that died while it ran (a busy queue makes two or three per job, so a vacuum of a
/// few seconds may end with more dead versions than it started with).
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
    fn only_a_table_twice_its_base_and_32_mib_over_it_is_compacted() {
        let mib = |n: i64| n << 20;
        let with_base = |b| {
            let mut v = State::default();
            v.base_bytes = b;
            v
        };
        assert!(!with_base(None).grown(mib(1000)), "no good vacuum yet: no base to compare with");
        assert!(with_base(Some(mib(90))).grown(mib(180)));
        assert!(!with_base(Some(mib(90))).grown(mib(179)), "under twice the base");
        assert!(!with_base(Some(mib(10))).grown(mib(41)), "twice, but under 32 MiB more");
        assert!(with_base(Some(mib(10))).grown(mib(42)));
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
