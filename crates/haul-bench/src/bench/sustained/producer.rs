//! W5's producer: inserts jobs at a fixed rate with `insert_many`, every 10 ms the jobs that
//! came due, noting each one's send time for the pickup latency; and the second connection
//! that holds a REPEATABLE READ transaction open to pin the xmin horizon.

use crate::bench::probe::{Noop, Probe};
use anyhow::{Context, Result};
use haul::Client;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How often the producer inserts the jobs that came due.
const TICK: Duration = Duration::from_millis(10);
/// Most jobs per insert call when catching up.
const MAX_BATCH: u64 = 10_000;

/// Inserts jobs `0, 1, 2, ...` at `rate` per second until `stop`; returns how many it sent.
pub async fn produce(client: Client, probe: Arc<Probe>, rate: f64, stop: CancellationToken) -> Result<u64> {
    let log = probe.pickup().context("W5's probe logs pickups")?;
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sent = 0u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let end = due.min(sent + MAX_BATCH);
            log.sending(sent..end, probe.now_ns());
            client.insert_many((sent..end).map(|n| Noop { n })).await.context("W5's producer")?;
            sent = end;
        }
    }
    Ok(sent)
}

/// When the held transaction began and committed, in seconds from the phase's start.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct HoldTimes {
    /// Its snapshot was taken.
    pub begin_s: f64,
    /// It committed.
    pub commit_s: f64,
}

/// On its own connection, from `start` to `start + hold` after `t0`: BEGIN ISOLATION LEVEL
/// REPEATABLE READ, read a row of the jobs table (taking the snapshot), wait, COMMIT.
pub async fn hold_xmin(
    url: String,
    jobs: String,
    t0: Instant,
    start: Duration,
    hold: Duration,
) -> Result<HoldTimes> {
    let mut conn = PgConnection::connect(&url).await.context("W5's holding connection")?;
    tokio::time::sleep_until(t0 + start).await;
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ").execute(&mut conn).await?;
    let read = format!("SELECT id FROM {jobs} LIMIT 1");
    sqlx::query(AssertSqlSafe(read)).fetch_optional(&mut conn).await.context("W5's held read")?;
    let begin_s = t0.elapsed().as_secs_f64();
    tokio::time::sleep_until(t0 + start + hold).await;
    sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
    let commit_s = t0.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(HoldTimes { begin_s, commit_s })
}
