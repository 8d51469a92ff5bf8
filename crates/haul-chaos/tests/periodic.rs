//! Each tick of a periodic schedule is enqueued exactly once across worker processes: three
//! `periodic-worker` processes share one schedule (every 10 s) while the harness moves their
//! clocks through 50 ticks, waiting for each tick's job. Every tenth tick comes while the
//! leader is frozen (SIGSTOP), and it is thawed after another took over, to act on whatever it
//! had read; midway the leader is killed (SIGKILL) and replaced. Completed rows are kept, so the table holds every tick's job: each tick from
//! the first after the start to the last recorded has exactly one.
//!
//! Runs on `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), in a schema
//! of its own that it drops afterwards.

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use haul::{Client, ClientConfig, Clock};
use haul_chaos::{PERIODIC_EVERY, PERIODIC_NAME};
use rustix::process::{Pid, Signal, kill_process};
use sqlx::{AssertSqlSafe, PgPool};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// Worker processes at once.
const WORKERS: usize = 3;
/// Ticks the clock moves through.
const TICKS: usize = 50;
/// The tick after which the leader is killed.
const KILL_AT: usize = 25;
/// Every this many ticks, the tick comes while the leader is frozen.
const FREEZE_EVERY: usize = 10;
/// Longest wait for one tick's job (a leader's failover included).
const TICK_LIMIT: Duration = Duration::from_secs(30);

/// One worker process; stdin moves its clock, and closing it stops the worker.
struct Proc {
    id: String,
    child: Child,
}

/// The schema, the harness's clock (kept equal to every worker's) and the processes.
struct Harness {
    pool: PgPool,
    schema: String,
    clock: Clock,
    client: Client,
    procs: Vec<Proc>,
    started: usize,
}

impl Harness {
    async fn new() -> Result<Self> {
        let url = database_url();
        let pool = PgPool::connect(&url).await.context("tests need PostgreSQL at DATABASE_URL")?;
        let schema = format!("hp_{}_{:08x}", Utc::now().timestamp(), fastrand::u32(..));
        let clock = Clock::database();
        let config = ClientConfig::default().with_schema(&schema).with_clock(clock.clone());
        let client = Client::with_config(pool.clone(), config)?;
        client.migrate().await?;
        Ok(Harness { pool, schema, clock, client, procs: Vec::new(), started: 0 })
    }

    /// Starts a worker whose clock starts where the harness's is.
    fn spawn(&mut self) -> Result<()> {
        self.started += 1;
        let id = format!("periodic-w{}", self.started);
        let shift = self.clock.shift().as_millis().to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_periodic-worker"))
            .args(["--url", &database_url(), "--schema", &self.schema, "--id", &id, "--shift-ms", &shift])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting periodic-worker")?;
        self.procs.push(Proc { id, child });
        Ok(())
    }

    /// Moves the harness's clock and every worker's by `by`.
    async fn advance(&mut self, by: Duration) -> Result<()> {
        self.clock.advance(by);
        for p in &mut self.procs {
            let stdin = p.child.stdin.as_mut().context("stdin")?;
            stdin.write_all(format!("advance {}\n", by.as_millis()).as_bytes()).await?;
            stdin.flush().await?;
        }
        Ok(())
    }

    /// SIGKILLs the worker that leads maintenance and returns its id.
    async fn kill_leader(&mut self) -> Result<String> {
        let leader = self.leader().await?;
        let at = self.procs.iter().position(|p| p.id == leader).context("the leader is not ours")?;
        let mut p = self.procs.remove(at);
        p.child.start_kill()?;
        p.child.wait().await?;
        Ok(leader)
    }

    /// Sends `signal` to the worker `id`.
    fn signal(&self, id: &str, signal: Signal) -> Result<()> {
        let p = self.procs.iter().find(|p| p.id == id).context("no such worker")?;
        let pid = Pid::from_raw(p.child.id().context("exited")? as i32).context("pid")?;
        Ok(kill_process(pid, signal)?)
    }

    /// The leader's id. A lease renewed before the leader read the last clock move looks
    /// expired by the harness's clock until the next renewal (a third of the lease later).
    async fn leader(&self) -> Result<String> {
        let started = Instant::now();
        loop {
            if let Some(id) = self.client.maintenance_leader().await? {
                return Ok(id);
            }
            ensure!(started.elapsed() < TICK_LIMIT, "no leader for {TICK_LIMIT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes every worker's stdin and waits for each to shut down cleanly.
    async fn stop_all(&mut self) -> Result<()> {
        for mut p in self.procs.drain(..) {
            drop(p.child.stdin.take());
            let status = tokio::time::timeout(TICK_LIMIT, p.child.wait()).await.context("stopping")??;
            ensure!(status.success(), "worker {} exited with {status}", p.id);
        }
        Ok(())
    }

    /// The harness clock's now, read from the database.
    async fn now(&self) -> Result<DateTime<Utc>> {
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&self.pool).await?;
        Ok(now + TimeDelta::from_std(self.clock.shift())?)
    }

    /// Jobs per unique key, by key.
    async fn keys(&self) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT unique_key, count(*) FROM \"{}\".jobs GROUP BY unique_key ORDER BY unique_key",
            self.schema
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&self.pool).await?)
    }

    /// Waits until the job of `tick` exists.
    async fn until_tick(&self, tick: DateTime<Utc>) -> Result<()> {
        let sql = format!("SELECT count(*) FROM \"{}\".jobs WHERE unique_key = $1", self.schema);
        let started = Instant::now();
        loop {
            let n: i64 =
                sqlx::query_scalar(AssertSqlSafe(sql.clone())).bind(key(tick)).fetch_one(&self.pool).await?;
            if n > 0 {
                return Ok(());
            }
            if started.elapsed() > TICK_LIMIT {
                bail!("no job for tick {tick} after {TICK_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn drop_schema(&self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&self.pool).await;
    }
}

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn key(tick: DateTime<Utc>) -> String {
    format!("periodic:{PERIODIC_NAME}:{}", tick.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The schedule's tick at or before `t`.
fn tick_at(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    Ok(t.duration_trunc(TimeDelta::from_std(PERIODIC_EVERY)?)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tick_is_enqueued_once_across_three_worker_processes() -> Result<()> {
    let mut h = Harness::new().await?;
    let result = run(&mut h).await;
    if result.is_ok() {
        h.drop_schema().await;
    }
    result
}

async fn run(h: &mut Harness) -> Result<()> {
    for _ in 0..WORKERS {
        h.spawn()?;
    }
    let first = loop {
        if let Some(r) = h.client.periodic().await?.first() {
            break r.last_tick;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut waited = first;
    for n in 1..=TICKS {
        let frozen = if n % FREEZE_EVERY == 0 { Some(h.leader().await?) } else { None };
        if let Some(id) = &frozen {
            h.signal(id, Signal::STOP)?;
        }
        h.advance(PERIODIC_EVERY).await?;
        waited = tick_at(h.now().await?)?;
        h.until_tick(waited).await?;
        if let Some(id) = &frozen {
            h.signal(id, Signal::CONT)?;
        }
        if n == KILL_AT {
            let killed = h.kill_leader().await?;
            eprintln!("periodic: killed the leader {killed} after tick {n}");
            h.spawn()?;
        }
    }
    h.stop_all().await?;
    let last = h.client.periodic().await?[0].last_tick;
    ensure!(last >= waited, "the record {last} is behind the last tick waited for, {waited}");
    let mut expected = Vec::new();
    let mut tick = tick_at(first)?;
    while tick < last {
        tick += TimeDelta::from_std(PERIODIC_EVERY)?;
        expected.push((key(tick), 1));
    }
    ensure!(expected.len() >= TICKS, "only {} ticks passed", expected.len());
    let found = h.keys().await?;
    ensure!(found == expected, "ticks and their jobs:\n{found:?}\nwanted one each of:\n{expected:?}");
    eprintln!("periodic: {} ticks, each enqueued once by {} worker processes", expected.len(), h.started);
    Ok(())
}
