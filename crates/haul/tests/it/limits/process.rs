//! Three worker processes under one limit: this test binary re-run with
//! `HAUL_LIMITS_SCHEMA` set runs [`worker_process`], a worker of queue `limited` whose handler
//! records (partition, claimed at, started, ended) in `limit_runs`, until its stdin closes.
//! The harness checks the records: the most running at once per partition, and the most
//! starts in any window of the period, against the limit.

use crate::common::{TestDb, database_url, fast_config};
use haul::{Client, ClientConfig, Job, JobContext, JobError, Limit, Worker};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

const SCHEMA_VAR: &str = "HAUL_LIMITS_SCHEMA";
/// The worker process's concurrency for queue `limited`.
const CONCURRENCY_VAR: &str = "HAUL_LIMITS_CONCURRENCY";
const PROCESSES: usize = 3;

#[derive(Serialize, Deserialize)]
struct Call {
    tenant: String,
    /// How long the call takes.
    ms: u64,
}

impl Job for Call {
    const KIND: &'static str = "call";
    const QUEUE: &'static str = "limited";
}

/// Records the call's claim time (the database's) and its start (the handler's entry, on
/// this machine's clock), works `ms` (the call itself), records its end.
async fn call(ctx: JobContext<String>, job: Call) -> Result<(), JobError> {
    let started = chrono::Utc::now();
    let s = ctx.state();
    let start = format!(
        "INSERT INTO {s}.limit_runs (job_id, tenant, claimed_at, started_at) \
         SELECT id, $2, attempted_at, $3 FROM {s}.jobs WHERE id = $1"
    );
    let pool = ctx.pool();
    let q = sqlx::query(sqlx::AssertSqlSafe(start)).bind(ctx.id()).bind(&job.tenant).bind(started);
    q.execute(pool).await?;
    tokio::time::sleep(Duration::from_millis(job.ms)).await;
    let end = format!("UPDATE {s}.limit_runs SET ended_at = clock_timestamp() WHERE job_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(end)).bind(ctx.id()).execute(pool).await?;
    Ok(())
}

/// The worker process (a no-op unless run by the harness): runs until its stdin closes.
#[tokio::test]
async fn worker_process() {
    let Ok(schema) = std::env::var(SCHEMA_VAR) else { return };
    let log = tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_writer(std::io::stderr);
    let _ = log.try_init();
    let pool = PgPoolOptions::new().max_connections(12).connect(&database_url()).await.unwrap();
    let client = Client::with_config(pool, ClientConfig::default().with_schema(&schema)).unwrap();
    let config = fast_config().with_fetch_poll_interval(Duration::from_millis(100));
    let slots = std::env::var(CONCURRENCY_VAR).unwrap().parse().unwrap();
    let worker = Worker::builder(client, format!("\"{schema}\"")).queue("limited", slots).handler(call);
    let worker = worker.config(config).build().unwrap();
    let stop = CancellationToken::new();
    let on_eof = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        on_eof.cancel();
    });
    worker.run(stop).await.unwrap();
}

/// The harness's schema with its records table, the limit set, and three workers started.
async fn harness(limit: &Limit, slots: usize) -> (TestDb, Vec<Child>) {
    let db = TestDb::new().await;
    db.exec(
        "CREATE TABLE {s}.limit_runs (job_id bigint PRIMARY KEY, tenant text NOT NULL, \
         claimed_at timestamptz NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz)",
    )
    .await;
    db.client.set_limit("limited", limit).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let children = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "limits::process::worker_process", "--nocapture", "--test-threads=1"])
                .env(SCHEMA_VAR, &db.schema)
                .env(CONCURRENCY_VAR, slots.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        })
        .collect();
    (db, children)
}

/// Waits for `total` calls to end, then stops the workers (closing their stdin).
async fn finish(db: &TestDb, children: Vec<Child>, total: i64) {
    db.until_scalar("SELECT count(*) FROM {s}.limit_runs WHERE ended_at IS NOT NULL", total).await;
    for mut c in children {
        drop(c.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), c.wait()).await.unwrap().unwrap();
        assert!(status.success(), "a worker process failed: {status}");
    }
}

/// Per tenant: the most calls running at once, and the mean running over the tenant's busy
/// span (the sum of call times over first claim to last end). A call runs from its claim (the
/// start the limit counts) to its handler's end, inside the span in which the database holds
/// it running (its completion commits later).
async fn concurrency(db: &TestDb) -> Vec<(String, i64, f64)> {
    let sql = "WITH e AS (
            SELECT tenant, claimed_at AS t, 1 AS d FROM {s}.limit_runs
            UNION ALL SELECT tenant, ended_at, -1 FROM {s}.limit_runs),
        c AS (SELECT tenant, sum(d) OVER (PARTITION BY tenant ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS n FROM e),
        busy AS (SELECT tenant, extract(epoch FROM sum(ended_at - claimed_at))
                     / extract(epoch FROM max(ended_at) - min(claimed_at)) AS mean
                 FROM {s}.limit_runs GROUP BY tenant)
        SELECT c.tenant, max(c.n)::bigint, max(b.mean)::float8 FROM c JOIN busy b USING (tenant)
        GROUP BY c.tenant ORDER BY c.tenant";
    let sql = sql.replace("{s}", &format!("\"{}\"", db.schema));
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await.unwrap()
}

/// The most starts in any window of `period` (each window opening at a start), by claim time
/// (the start the limit counts) and by handler start.
async fn max_in_window(db: &TestDb, column: &str, period: Duration) -> i64 {
    let sql = format!(
        "SELECT max((SELECT count(*) FROM {s}.limit_runs b
                     WHERE b.{column} >= a.{column} AND b.{column} < a.{column} + $1 * interval '1 millisecond'))
         FROM {s}.limit_runs a",
        s = format_args!("\"{}\"", db.schema)
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(period.as_millis() as i64)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn three_processes_never_run_more_than_the_concurrency_of_each_tenant() {
    const LIMIT: u32 = 4;
    const PER_TENANT: usize = 12;
    let (db, children) = harness(&Limit::concurrency(LIMIT).partitioned_by_arg("tenant"), 10).await;
    // calls long beside a claim's round trip, so the mean measures the limit, not the machine's load
    let calls = (0..PER_TENANT).flat_map(|_| ["acme", "globex"]).map(|t| Call { tenant: t.into(), ms: 1000 });
    db.client.insert_many(calls).await.unwrap();
    finish(&db, children, 2 * PER_TENANT as i64).await;
    for (tenant, max, mean) in concurrency(&db).await {
        println!(
            "limits: tenant {tenant}: concurrency limit {LIMIT}, max observed {max}, mean {mean:.2} ({:.0} % of the limit)",
            100.0 * mean / f64::from(LIMIT)
        );
        assert!(max <= i64::from(LIMIT), "tenant {tenant} ran {max} at once, over {LIMIT}");
        assert!(mean >= 0.8 * f64::from(LIMIT), "tenant {tenant} averaged {mean:.2} running, under 80 %");
    }
    let attempts = db.scalar("SELECT count(*) FROM {s}.jobs").await;
    assert_eq!(attempts, 0, "every call completed");
}

#[tokio::test]
async fn three_processes_never_start_more_than_the_rate_in_any_window() {
    const RATE: u32 = 50;
    const PERIOD: Duration = Duration::from_secs(1);
    const CALLS: i64 = 250;
    let (db, children) = harness(&Limit::rate(RATE, PERIOD), RATE as usize).await;
    let calls = (0..CALLS).map(|i| Call { tenant: format!("t{}", i % 3), ms: 5 });
    db.client.insert_many(calls).await.unwrap();
    finish(&db, children, CALLS).await;
    let by_claim = max_in_window(&db, "claimed_at", PERIOD).await;
    let by_start = max_in_window(&db, "started_at", PERIOD).await;
    let span =
        "SELECT (extract(epoch FROM max(claimed_at) - min(claimed_at)) * 1000)::bigint FROM {s}.limit_runs";
    let span_ms = db.scalar(span).await as f64;
    // the first window's starts come at once; the rest follow as windows move
    let rate = (CALLS - i64::from(RATE)) as f64 / span_ms * PERIOD.as_millis() as f64;
    println!(
        "limits: rate limit {RATE} per {PERIOD:?}: max starts in any window {by_claim} by claim time \
         ({by_start} by handler start), sustained {rate:.1} per window ({:.0} % of the limit)",
        100.0 * rate / f64::from(RATE)
    );
    assert!(by_claim <= i64::from(RATE), "{by_claim} claims in one window, over {RATE}");
    assert!(by_start <= i64::from(RATE), "{by_start} handler starts in one window, over {RATE}");
    assert!(rate >= 0.9 * f64::from(RATE), "sustained {rate:.1} per window, under 90 % of {RATE}");
}
