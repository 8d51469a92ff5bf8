//! Test support: a freshly migrated schema per test (dropped afterwards), a worker config with
//! short intervals, and helpers that wait on worker events instead of sleeping.

pub mod proxy;
pub mod record;

use haul::{Client, ClientConfig, Clock, JobEvent, Worker, WorkerConfig};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest any wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A schema of its own for one test.
pub struct TestDb {
    pub pool: PgPool,
    pub schema: String,
    pub clock: Clock,
    pub client: Client,
}

impl TestDb {
    /// A new, migrated schema.
    pub async fn new() -> Self {
        let db = Self::unmigrated().await;
        db.client.migrate().await.expect("migrate");
        db
    }

    /// A new schema name with nothing in it yet.
    pub async fn unmigrated() -> Self {
        Self::with_pool_size(5).await
    }

    pub async fn with_pool_size(size: u32) -> Self {
        sweep_stale_schemas().await;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let schema = format!("ht_{secs}_{:08x}", fastrand::u32(..));
        let pool = pool(size).await;
        let clock = Clock::database();
        let config = ClientConfig::default().with_schema(&schema).with_clock(clock.clone());
        let client = Client::with_config(pool.clone(), config).expect("client");
        TestDb { pool, schema, clock, client }
    }

    /// A second client on the same schema with its own pool (another "process").
    pub async fn other_client(&self, size: u32) -> Client {
        self.client_on(pool(size).await)
    }

    /// A client on the same schema over `url` (e.g. through a proxy), with a lazy pool.
    pub fn client_at(&self, url: &str, size: u32) -> Client {
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy(url)
            .expect("url");
        self.client_on(pool)
    }

    fn client_on(&self, pool: PgPool) -> Client {
        let config = ClientConfig::default().with_schema(&self.schema).with_clock(self.clock.clone());
        Client::with_config(pool, config).expect("client")
    }

    /// Waits (polling the database every 20 ms) until `sql` returns `want`.
    pub async fn until_scalar(&self, sql: &str, want: i64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.scalar(sql).await;
            if got == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "`{sql}` stayed {got}, wanted {want}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await.expect("scalar")
    }

    /// Runs `sql` (with `{s}` for the schema) inside the caller's transaction.
    pub async fn exec_in(&self, tx: &mut sqlx::PgConnection, sql: &str) {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(tx).await.expect("exec_in");
    }

    pub async fn exec(&self, sql: &str) {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await.expect("exec");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        // a runtime of its own: the test's runtime may already be shutting down
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(drop_schema(&schema));
        })
        .join();
    }
}

async fn pool(size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .connect(&database_url())
        .await
        .expect("tests need PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)")
}

async fn drop_schema(schema: &str) {
    if let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&database_url()).await {
        let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        pool.close().await;
    }
}

/// Drops test schemas left by crashed runs (older than 30 minutes), once per process.
async fn sweep_stale_schemas() {
    static ONCE: Once = Once::new();
    let mut first = false;
    ONCE.call_once(|| first = true);
    if !first {
        return;
    }
    let cutoff = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 1800;
    let pool = pool(1).await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^ht_[0-9]+_[0-9a-f]+$'")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    for name in names {
        let secs: u64 = name.split('_').nth(1).and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
        if secs < cutoff {
            drop_schema(&name).await;
        }
    }
}

/// Short intervals so tests finish fast.
pub fn fast_config() -> WorkerConfig {
    WorkerConfig::default()
        .with_fetch_poll_interval(Duration::from_millis(200))
        .with_scheduler_interval(Duration::from_millis(50))
        .with_rescuer_interval(Duration::from_millis(100))
        .with_heartbeat_interval(Duration::from_millis(200))
        .with_lease(Duration::from_secs(2))
        .with_leader_ttl(Duration::from_millis(600))
        .with_shutdown_soft_timeout(Duration::from_secs(5))
        .with_shutdown_hard_timeout(Duration::from_secs(2))
        .with_timeout_grace(Duration::from_millis(200))
}

/// A worker running in the background, stopped by [`Running::stop`].
pub struct Running {
    pub token: CancellationToken,
    pub handle: JoinHandle<haul::Result<haul::ShutdownReport>>,
    pub events: broadcast::Receiver<JobEvent>,
    /// Events received while waiting for others, kept for later waits.
    pub seen: Vec<JobEvent>,
}

pub fn start<S: Clone + Send + Sync + 'static>(worker: Worker<S>) -> Running {
    let events = worker.subscribe();
    let token = CancellationToken::new();
    let handle = tokio::spawn(worker.run(token.clone()));
    Running { token, handle, events, seen: Vec::new() }
}

impl Running {
    /// Waits for the next event matching `pred` (earlier non-matching events are kept for
    /// later calls), failing the test after [`WAIT`].
    pub async fn next_where(&mut self, pred: impl Fn(&JobEvent) -> bool) -> JobEvent {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Ok(e) if pred(&e) => return e,
                    Ok(e) => self.seen.push(e),
                    Err(broadcast::error::RecvError::Lagged(n)) => panic!("test lagged {n} events"),
                    Err(e) => panic!("event channel closed: {e}"),
                }
            }
        })
        .await
        .expect("timed out waiting for a job event")
    }

    /// Waits for `n` events matching `pred`.
    pub async fn collect(&mut self, n: usize, pred: impl Fn(&JobEvent) -> bool) -> Vec<JobEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next_where(&pred).await);
        }
        out
    }

    pub async fn stop(self) -> haul::ShutdownReport {
        self.token.cancel();
        tokio::time::timeout(WAIT, self.handle).await.expect("worker stops").expect("join").expect("run")
    }
}
