//! The held-horizon run's load and its horizon: producers that insert one job per call at a
//! fixed total rate, each on a connection of its own, and the connection that holds a
//! REPEATABLE READ snapshot open for the whole run.

use crate::bench::pg::Db;
use crate::bench::probe::{Noop, Probe};
use anyhow::{Context, Result};
use haul::Client;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How late a job may be sent; later ones are given up.
const LAG_MAX: Duration = Duration::from_secs(1);
/// The shortest and longest tick of a producer's timer.
const TICK_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(10));

/// Starts `producers` tasks that together insert `rate` jobs/s until `stop`, each job
/// numbered from one shared counter and its send time noted in the probe's pickup log. Each
/// task returns how many jobs it inserted. Returns them and when the first began.
pub async fn start(
    db: &Db,
    probe: &Arc<Probe>,
    producers: usize,
    rate: f64,
    stop: &CancellationToken,
) -> Result<(JoinSet<Result<u64>>, Instant)> {
    let mut conns = Vec::with_capacity(producers);
    for _ in 0..producers {
        conns.push(db.client.pool().acquire().await.context("a producer's connection")?);
    }
    let (next, each, t0) = (Arc::new(AtomicU64::new(0)), rate / producers as f64, Instant::now());
    let mut set = JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        // producer i starts i / rate after the first, so their inserts interleave evenly
        let pace = Pace { start: t0 + Duration::from_secs_f64(i as f64 / rate), each };
        let p = Producer { client: db.client.clone(), conn, probe: probe.clone(), next: next.clone() };
        set.spawn(p.run(pace, stop.clone()));
    }
    Ok((set, t0))
}

/// When a producer starts and how many jobs per second it sends.
#[derive(Clone, Copy)]
struct Pace {
    start: Instant,
    each: f64,
}

impl Pace {
    /// Jobs due by `now`: one at the start, then `each` per second.
    fn due(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.start).as_secs_f64() * self.each) as u64 + 1
    }

    /// The jobs to send at `now` when the first `counted` were sent or given up: those due,
    /// less any more than [`LAG_MAX`] late.
    fn owed(&self, now: Instant, counted: u64) -> Range<u64> {
        let due = self.due(now);
        let lag = (LAG_MAX.as_secs_f64() * self.each).ceil() as u64;
        counted.max(due.saturating_sub(lag))..due.max(counted)
    }
}

/// One producer: the client, its own connection, the probe and the shared job counter.
struct Producer {
    client: Client,
    conn: PoolConnection<Postgres>,
    probe: Arc<Probe>,
    next: Arc<AtomicU64>,
}

impl Producer {
    /// Inserts the jobs that came due on each tick of an interval timer until `stop`; a late
    /// tick catches up, so the rate does not drift, but jobs more than [`LAG_MAX`] late are
    /// given up, so a machine that cannot insert at the rate shows a lower rate, not a burst.
    async fn run(mut self, pace: Pace, stop: CancellationToken) -> Result<u64> {
        let period = Duration::from_secs_f64(1.0 / pace.each).clamp(TICK_RANGE.0, TICK_RANGE.1);
        let mut tick = tokio::time::interval_at(pace.start, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let (mut sent, mut counted) = (0u64, 0u64);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                now = tick.tick() => {
                    let owed = pace.owed(now, counted);
                    for _ in owed.clone() {
                        if stop.is_cancelled() {
                            break;
                        }
                        self.send().await?;
                        sent += 1;
                    }
                    counted = owed.end;
                }
            }
        }
        Ok(sent)
    }

    /// Inserts the next job, noting its send time first.
    async fn send(&mut self) -> Result<()> {
        let log = self.probe.pickup().context("the horizon probe logs pickups")?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        log.sending(n..n + 1, self.probe.now_ns());
        let insert = self.client.insert_tx(&mut *self.conn, Noop { n });
        insert.await.context("a horizon producer's insert")?;
        Ok(())
    }
}

/// A connection inside `BEGIN ISOLATION LEVEL REPEATABLE READ` whose snapshot, taken by one
/// read (of the catalog, or of the jobs table, which also locks every slot of it), pins the
/// xmin horizon until [`HeldSnapshot::release`].
pub struct HeldSnapshot {
    conn: PgConnection,
    taken: Instant,
}

impl HeldSnapshot {
    /// Opens the transaction on a new connection to `db` and takes its snapshot by a read of
    /// the jobs table if `jobs`, else of the catalog.
    pub async fn take(db: &Db, jobs: bool) -> Result<HeldSnapshot> {
        let mut conn = PgConnection::connect(&db.url).await.context("the holding connection")?;
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ").execute(&mut conn).await?;
        let read = if jobs {
            format!("SELECT id FROM {} LIMIT 1", db.jobs())
        } else {
            "SELECT oid FROM pg_class LIMIT 1".to_owned()
        };
        sqlx::query(AssertSqlSafe(read)).fetch_optional(&mut conn).await.context("the held read")?;
        Ok(HeldSnapshot { conn, taken: Instant::now() })
    }

    /// COMMITs, closes the connection, and returns how long the snapshot was held.
    pub async fn release(mut self) -> Result<Duration> {
        sqlx::raw_sql("COMMIT").execute(&mut self.conn).await.context("committing the held transaction")?;
        let held = self.taken.elapsed();
        self.conn.close().await?;
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::Pace;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn due_counts_from_the_start_without_drift() {
        let start = Instant::now();
        let pace = Pace { start, each: 200.0 };
        assert_eq!(pace.due(start), 1);
        assert_eq!(pace.due(start + Duration::from_millis(4)), 1);
        assert_eq!(pace.due(start + Duration::from_millis(5)), 2);
        assert_eq!(pace.due(start + Duration::from_secs(60)), 12_001);
    }

    #[test]
    fn owed_gives_up_jobs_over_a_second_late() {
        let start = Instant::now();
        let pace = Pace { start, each: 200.0 };
        assert_eq!(pace.owed(start + Duration::from_millis(10), 1), 1..3);
        assert_eq!(pace.owed(start + Duration::from_millis(10), 3), 3..3);
        // 10 s in, 51 sent: only the last second's 200 jobs are still owed
        assert_eq!(pace.owed(start + Duration::from_secs(10), 51), 1801..2001);
    }
}
