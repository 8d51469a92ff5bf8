//! The harness's side of the database for one scenario: a fresh, migrated schema (dropped at
//! the end), the feeder that enqueues jobs, and every query the scenarios and checks read.
//! Waits poll the database every 50 ms up to a deadline; none sleeps in place of an event.

use anyhow::{Context, Result, bail};
use haul::{Client, ClientConfig, NewJob};
use haul_chaos::{ChaosJob, executions_ddl, quoted};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// How often waits poll the database.
pub const POLL: Duration = Duration::from_millis(50);
/// Longest any single wait of a scenario may take.
pub const WAIT: Duration = Duration::from_secs(60);

/// A job attempt: (job id, attempt number).
pub type Attempt = (i64, i16);

/// A finished row as the stability check compares it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FinishedRow {
    /// The job.
    pub id: i64,
    /// Its final state.
    pub state: String,
    /// Its attempt count.
    pub attempt: i16,
    /// When it was finalized, as text (exact to the microsecond).
    pub finalized_at: Option<String>,
}

/// How many jobs the schema holds, and in which states.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct Census {
    /// Every row.
    pub total: i64,
    /// Completed rows.
    pub completed: i64,
    /// Running rows.
    pub running: i64,
}

impl Census {
    /// Whether every row is completed.
    pub fn all_completed(&self) -> bool {
        self.total == self.completed
    }
}

/// One scenario's schema, on a small pool of the harness's own.
#[derive(Clone)]
pub struct Store {
    /// The harness's own small pool.
    pool: PgPool,
    /// The scenario's schema.
    schema: String,
    /// A Haul client on it, to enqueue.
    client: Client,
    /// The next job's sequence number.
    seq: Arc<AtomicU64>,
}

impl Store {
    /// A new schema for scenario `tag`, migrated, with the executions table.
    pub async fn create(url: &str, tag: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        sweep_stale_schemas(&pool).await;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let schema = format!("chaos_{tag}_{secs}_{:08x}", fastrand::u32(..));
        let client = Client::with_config(pool.clone(), ClientConfig::default().with_schema(&schema))?;
        client.migrate().await.context("migrating the scenario's schema")?;
        sqlx::raw_sql(AssertSqlSafe(executions_ddl(&schema))).execute(&pool).await?;
        Ok(Store { pool, schema, client, seq: Arc::default() })
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops the schema (best effort: the scenario's outcome is already decided).
    pub async fn drop_schema(&self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(&self.schema));
        for _ in 0..20 {
            if sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&self.pool).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.pool.close().await;
    }

    /// `template` with `{s}` replaced by the quoted schema.
    fn sql(&self, template: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(template.replace("{s}", &quoted(&self.schema)))
    }

    /// Enqueues `n` ordinary jobs in one statement; returns their ids.
    pub async fn insert_mix(&self, n: usize) -> Result<Vec<i64>> {
        let jobs: Vec<ChaosJob> = (0..n).map(|_| self.job(mixed_work_ms())).collect();
        Ok(self.client.insert_many(jobs).await?)
    }

    /// Enqueues `n` jobs that work `work_ms` each, ahead of everything else.
    pub async fn insert_urgent(&self, n: usize, work_ms: u64) -> Result<Vec<i64>> {
        let jobs = (0..n).map(|_| NewJob::new(&self.job(work_ms)).with_priority(-10));
        Ok(self.client.insert_many(jobs).await?)
    }

    /// The next job, working `work_ms`.
    fn job(&self, work_ms: u64) -> ChaosJob {
        ChaosJob { seq: self.seq.fetch_add(1, Ordering::Relaxed), work_ms }
    }

    /// Jobs by state.
    pub async fn census(&self) -> Result<Census> {
        let sql = self.sql(
            "SELECT count(*) AS total, count(*) FILTER (WHERE state = 'completed') AS completed,
                    count(*) FILTER (WHERE state = 'running') AS running FROM {s}.jobs",
        );
        Ok(sqlx::query_as(sql).fetch_one(&self.pool).await?)
    }

    /// Row counts per state, for failure messages.
    pub async fn states(&self) -> String {
        let sql = self.sql("SELECT state || ' ' || count(*) FROM {s}.jobs GROUP BY state ORDER BY state");
        match sqlx::query_scalar::<_, String>(sql).fetch_all(&self.pool).await {
            Ok(rows) => rows.join(", "),
            Err(e) => format!("(could not count: {e})"),
        }
    }

    /// The attempts running now, of the given workers only or of all.
    pub async fn running(&self, workers: Option<&[String]>) -> Result<Vec<Attempt>> {
        let sql = self.sql(
            "SELECT id, attempt FROM {s}.jobs
             WHERE state = 'running' AND ($1::text[] IS NULL OR attempted_by = ANY($1))",
        );
        Ok(sqlx::query_as(sql).bind(workers).fetch_all(&self.pool).await?)
    }

    /// The attempts running now, read over a connection of its own made with `options` (the
    /// restarted server's unix socket, before any worker can reach it).
    pub async fn running_via(&self, options: &PgConnectOptions) -> Result<Vec<Attempt>> {
        let mut conn = PgConnection::connect_with(options).await.context("connecting over the socket")?;
        let sql = self.sql("SELECT id, attempt FROM {s}.jobs WHERE state = 'running'");
        let rows = sqlx::query_as(sql).fetch_all(&mut conn).await?;
        conn.close().await?;
        Ok(rows)
    }

    /// The attempts rescued from `worker` (as the rescue messages name it).
    pub async fn rescued_from(&self, worker: &str) -> Result<Vec<Attempt>> {
        let rescues = self.rescues().await?;
        Ok(rescues
            .into_iter()
            .filter(|(_, _, w)| w.as_deref() == Some(worker))
            .map(|(id, a, _)| (id, a))
            .collect())
    }

    /// Waits (up to `limit`) until no backend of worker `app` is executing a statement: a frozen
    /// worker's last statements have then landed, and its running rows are final. True if so.
    pub async fn wait_idle(&self, app: &str, limit: Duration) -> Result<bool> {
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'";
        let started = Instant::now();
        loop {
            let active: i64 = sqlx::query_scalar(sql).bind(app).fetch_one(&self.pool).await?;
            if active == 0 {
                return Ok(true);
            }
            if started.elapsed() > limit {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits (up to `limit`) until worker `app` has no backend left (after it was killed: its
    /// last statements have then landed). True if so.
    pub async fn wait_gone(&self, app: &str, limit: Duration) -> Result<bool> {
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1";
        let started = Instant::now();
        loop {
            let left: i64 = sqlx::query_scalar(sql).bind(app).fetch_one(&self.pool).await?;
            if left == 0 {
                return Ok(true);
            }
            if started.elapsed() > limit {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// In one statement (one snapshot): reads every running attempt and terminates every
    /// backend of `apps`. Returns the attempts and how many backends were terminated.
    pub async fn terminate(&self, apps: &[String]) -> Result<(Vec<Attempt>, i64)> {
        let sql = self.sql(
            "WITH f AS (SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(attempt::smallint), '{}') AS attempts
                        FROM {s}.jobs WHERE state = 'running'),
                  t AS (SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n
                        FROM pg_stat_activity WHERE application_name = ANY($1))
             SELECT f.ids, f.attempts, t.n FROM f, t",
        );
        let (ids, attempts, n): (Vec<i64>, Vec<i16>, i64) =
            sqlx::query_as(sql).bind(apps).fetch_one(&self.pool).await?;
        Ok((ids.into_iter().zip(attempts).collect(), n))
    }

    /// The maintenance leader's id, if any.
    pub async fn leader(&self) -> Result<Option<String>> {
        Ok(self.client.maintenance_leader().await?)
    }

    /// Of `ids`, how many are running now.
    pub async fn running_among(&self, ids: &[i64]) -> Result<i64> {
        let sql = self.sql("SELECT count(*) FROM {s}.jobs WHERE id = ANY($1) AND state = 'running'");
        Ok(sqlx::query_scalar(sql).bind(ids).fetch_one(&self.pool).await?)
    }

    /// Of `attempts`, those still running.
    pub async fn still_running(&self, attempts: &[Attempt]) -> Result<Vec<Attempt>> {
        let (ids, nums): (Vec<i64>, Vec<i16>) = attempts.iter().copied().unzip();
        let sql = self.sql(
            "SELECT f.id, f.attempt FROM unnest($1::bigint[], $2::smallint[]) AS f(id, attempt)
             JOIN {s}.jobs j USING (id) WHERE j.state = 'running' AND j.attempt = f.attempt",
        );
        Ok(sqlx::query_as(sql).bind(ids).bind(nums).fetch_all(&self.pool).await?)
    }

    /// Of `ids`, those not completed yet.
    pub async fn unfinished(&self, ids: &[i64]) -> Result<Vec<i64>> {
        let sql = self.sql("SELECT id FROM {s}.jobs WHERE id = ANY($1) AND state <> 'completed'");
        Ok(sqlx::query_scalar(sql).bind(ids).fetch_all(&self.pool).await?)
    }

    /// Of `attempts` (a frozen worker's), how many jobs are completed: by a later attempt, by
    /// that very attempt (a write it sent just before it froze), and by that very attempt
    /// although the attempt was rescued (a stale outcome through the fence: must never be).
    pub async fn completed_after(&self, attempts: &[Attempt]) -> Result<(i64, i64, i64)> {
        let (ids, nums): (Vec<i64>, Vec<i16>) = attempts.iter().copied().unzip();
        let sql = self.sql(
            "SELECT count(*) FILTER (WHERE j.attempt > f.attempt),
                    count(*) FILTER (WHERE j.attempt = f.attempt AND NOT r.rescued),
                    count(*) FILTER (WHERE j.attempt = f.attempt AND r.rescued)
             FROM unnest($1::bigint[], $2::smallint[]) AS f(id, attempt) JOIN {s}.jobs j USING (id),
                  LATERAL (SELECT EXISTS (SELECT 1 FROM unnest(j.errors) e WHERE e->>'class' = 'rescued'
                                          AND (e->>'attempt')::int = f.attempt) AS rescued) r
             WHERE j.state = 'completed'",
        );
        Ok(sqlx::query_as(sql).bind(ids).bind(nums).fetch_one(&self.pool).await?)
    }

    /// Rows a shutdown released: back to `available` after an attempt started. Each with its
    /// attempt count and its number of recorded errors (given back: the two are equal).
    pub async fn released(&self) -> Result<Vec<(i64, i16, i32)>> {
        let sql = self.sql(
            "SELECT id, attempt, cardinality(errors) FROM {s}.jobs
             WHERE state = 'available' AND attempted_at IS NOT NULL",
        );
        Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
    }

    /// Every rescue recorded in the rows: the attempt rescued and the worker it was taken from
    /// (`None` if the message names none).
    pub async fn rescues(&self) -> Result<Vec<(i64, i16, Option<String>)>> {
        let sql = self.sql(
            "SELECT j.id, (e->>'attempt')::smallint, substring(e->>'error' from '^worker (.*) stopped heartbeating')
             FROM {s}.jobs j, unnest(j.errors) e WHERE e->>'class' = 'rescued'",
        );
        Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
    }

    /// For each of `attempts`: the row's state and its attempt now.
    pub async fn fate(&self, attempts: &[Attempt]) -> Result<Vec<(i64, i16, String, i16)>> {
        let (ids, nums): (Vec<i64>, Vec<i16>) = attempts.iter().copied().unzip();
        let sql = self.sql(
            "SELECT f.id, f.attempt, j.state, j.attempt
             FROM unnest($1::bigint[], $2::smallint[]) AS f(id, attempt) JOIN {s}.jobs j USING (id)",
        );
        Ok(sqlx::query_as(sql).bind(ids).bind(nums).fetch_all(&self.pool).await?)
    }

    /// Every finished row, or only those of `ids`.
    pub async fn finished(&self, ids: Option<&[i64]>) -> Result<Vec<FinishedRow>> {
        let sql = self.sql(
            "SELECT id, state, attempt, finalized_at::text AS finalized_at FROM {s}.jobs
             WHERE finalized_at IS NOT NULL AND ($1::bigint[] IS NULL OR id = ANY($1)) ORDER BY id",
        );
        Ok(sqlx::query_as(sql).bind(ids).fetch_all(&self.pool).await?)
    }

    /// Every execution with its job's attempt and state now (`None` if the job is gone).
    pub async fn executions(&self) -> Result<Vec<(i64, i16, Option<i16>, Option<String>)>> {
        let sql = self.sql(
            "SELECT e.job_id, e.attempt, j.attempt, j.state
             FROM {s}.executions e LEFT JOIN {s}.jobs j ON j.id = e.job_id",
        );
        Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
    }

    /// Completed jobs with no execution recorded by their completing attempt.
    pub async fn completed_unrecorded(&self) -> Result<i64> {
        let sql = self.sql(
            "SELECT count(*) FROM {s}.jobs j WHERE j.state = 'completed' AND NOT EXISTS
             (SELECT 1 FROM {s}.executions e WHERE e.job_id = j.id AND e.attempt = j.attempt)",
        );
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    /// Of `known` ids, how many are missing from the table or not completed.
    pub async fn lost(&self, known: &[i64]) -> Result<i64> {
        let sql = self.sql(
            "SELECT count(*) FROM unnest($1::bigint[]) AS k(id) LEFT JOIN {s}.jobs j USING (id)
             WHERE j.id IS NULL OR j.state <> 'completed'",
        );
        Ok(sqlx::query_scalar(sql).bind(known).fetch_one(&self.pool).await?)
    }

    /// Polls `check` every [`POLL`] until it returns true; errors (the database restarting)
    /// count as "not yet". Fails after [`WAIT`], naming `what` and the job states.
    pub async fn until<F>(&self, what: &str, mut check: F) -> Result<Duration>
    where
        F: AsyncFnMut(&Store) -> Result<bool>,
    {
        let started = Instant::now();
        let mut last_error = None;
        loop {
            match check(self).await {
                Ok(true) => return Ok(started.elapsed()),
                Ok(false) => {}
                Err(e) => last_error = Some(e),
            }
            if started.elapsed() > WAIT {
                let error = last_error.map(|e| format!("; last error: {e:#}")).unwrap_or_default();
                bail!("timed out after {WAIT:?} waiting for {what} (jobs: {}){error}", self.states().await);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// 90% of jobs work 5–50 ms, the rest about half a second: several are always in flight.
fn mixed_work_ms() -> u64 {
    if fastrand::u8(..100) < 10 { fastrand::u64(400..=600) } else { fastrand::u64(5..=50) }
}

/// Enqueues `total` jobs in batches every 100 ms over `over` (a steady load for the chaos to
/// hit), retrying a batch while the database is away. Returns every id it was given.
pub fn feed(store: Store, total: usize, over: Duration) -> JoinHandle<Result<Vec<i64>>> {
    tokio::spawn(async move {
        let every = Duration::from_millis(100);
        let batches = (over.as_millis() / every.as_millis()).max(1) as usize;
        let per_batch = total.div_ceil(batches);
        let mut tick = tokio::time::interval(every);
        let mut ids = Vec::with_capacity(total);
        while ids.len() < total {
            tick.tick().await;
            let n = per_batch.min(total - ids.len());
            ids.extend(insert_retrying(&store, n).await?);
        }
        Ok(ids)
    })
}

/// One batch, retried while the database restarts. (A batch whose commit was cut off may
/// exist without our knowing its ids: the checks therefore also read every row of the table.)
async fn insert_retrying(store: &Store, n: usize) -> Result<Vec<i64>> {
    let started = Instant::now();
    loop {
        match store.insert_mix(n).await {
            Ok(ids) => return Ok(ids),
            Err(e) if started.elapsed() > WAIT => return Err(e.context("the feeder could not insert")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Drops chaos schemas more than 30 minutes old (left by runs that were killed), on a shared
/// server; a throwaway cluster has none.
async fn sweep_stale_schemas(pool: &PgPool) {
    let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else { return };
    let sql = "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^chaos_[a-z]+_[0-9]+_[0-9a-f]{8}$'";
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.unwrap_or_default();
    for name in names {
        let secs: u64 = name.rsplit('_').nth(1).and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
        if secs.saturating_add(1800) < now.as_secs() {
            let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(&name));
            let _ = sqlx::raw_sql(AssertSqlSafe(drop)).execute(pool).await;
        }
    }
}
