//! The `stats` workload: `Client::stats` on a table of 1,000,000 jobs (20,000 with `--smoke`)
//! across 4 queues, 5 kinds and every waiting and final state, plus a day of rollups for each
//! queue and kind; 20 warm calls timed, failing its check when the median passes 50 ms.

use super::Bench;
use super::plan::Workload;
use super::record::Outcome;
use super::stats::{median, thousands};
use anyhow::{Context, Result};
use haul::StatsQuery;
use serde_json::json;
use sqlx::AssertSqlSafe;
use std::time::{Duration, Instant};

/// Calls timed, after [`WARM_UP`] untimed ones.
const CALLS: usize = 20;
const WARM_UP: usize = 3;
/// The median a call may take.
const LIMIT_MS: f64 = 50.0;

/// The jobs: by `g`, one of 4 queues and 5 kinds; 60% available, 15% scheduled, 10%
/// retryable, 1% running, 10% discarded, 4% cancelled.
const SEED_JOBS: &str = "
INSERT INTO {jobs} (state, kind, queue, args, max_attempts, attempt, run_at, attempted_at,
                    finalized_at, lease_expires_at)
SELECT s.state, 'kind_' || (g % 5), 'queue_' || (g % 4), jsonb_build_object('n', g), 20, 1,
       CASE WHEN s.state IN ('scheduled', 'retryable') THEN now() + interval '1 hour'
            ELSE now() - (g % 3600) * interval '1 second' END,
       now(), CASE WHEN s.state IN ('discarded', 'cancelled') THEN now() END,
       CASE WHEN s.state = 'running' THEN now() + interval '1 hour' END
FROM generate_series(1, $1::bigint) g
CROSS JOIN LATERAL (SELECT CASE WHEN g % 100 < 60 THEN 'available' WHEN g % 100 < 75 THEN 'scheduled'
    WHEN g % 100 < 85 THEN 'retryable' WHEN g % 100 < 86 THEN 'running'
    WHEN g % 100 < 96 THEN 'discarded' ELSE 'cancelled' END AS state) s";

/// A day of minutes for each queue and kind, each with a few hundred outcomes.
const SEED_ROLLUPS: &str = "
INSERT INTO {rollups} (bucket, queue, kind, completed, retried, discarded, run_time, queue_wait)
SELECT date_trunc('minute', now()) - m * interval '1 minute', 'queue_' || q, 'kind_' || k, 300, 10, 1,
       array_fill(0::bigint, ARRAY[60]) || ARRAY[100, 150, 50]::bigint[] || array_fill(0::bigint, ARRAY[82]),
       array_fill(0::bigint, ARRAY[40]) || ARRAY[200, 100]::bigint[] || array_fill(0::bigint, ARRAY[103])
FROM generate_series(0, 1439) m, generate_series(0, 3) q, generate_series(0, 4) k";

/// Seeds the table, then times the calls.
pub async fn stats(b: &Bench) -> Result<Outcome> {
    let jobs = if b.plan.smoke { 20_000 } else { 1_000_000 };
    b.db.reset().await?;
    b.out.progress(&format!("stats: seeding {} jobs and a day of rollups", thousands(jobs)));
    seed(b, jobs).await?;
    let query = StatsQuery::default();
    for _ in 0..WARM_UP {
        b.db.client.stats(&query).await?;
    }
    let mut ms = Vec::with_capacity(CALLS);
    let mut estimated = Vec::new();
    for _ in 0..CALLS {
        let t = Instant::now();
        let s = b.db.client.stats(&query).await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        estimated = s.estimated;
    }
    Ok(outcome(jobs, &ms, estimated.len()))
}

async fn seed(b: &Bench, jobs: u64) -> Result<()> {
    let sql = SEED_JOBS.replace("{jobs}", &b.db.jobs());
    sqlx::query(AssertSqlSafe(sql)).bind(jobs as i64).execute(&b.db.pool).await.context("seeding jobs")?;
    let rollups = format!("\"{}\".stats_rollups", b.db.schema);
    let sql = SEED_ROLLUPS.replace("{rollups}", &rollups);
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&b.db.pool).await.context("seeding rollups")?;
    b.db.vacuum_analyze().await
}

fn outcome(jobs: u64, ms: &[f64], estimated: usize) -> Outcome {
    let med = median(ms);
    let max = ms.iter().copied().fold(0.0, f64::max);
    let line = format!(
        "stats  Client::stats on {} jobs: median {med:.1} ms · max {max:.1} ms over {} warm calls \
         ({estimated} states estimated) · limit {LIMIT_MS} ms",
        thousands(jobs),
        ms.len()
    );
    let fields = json!({ "jobs": jobs, "calls": ms.len(), "median_ms": med, "max_ms": max,
                         "estimated_states": estimated, "window_s": Duration::from_secs(300).as_secs() });
    let mut o = Outcome::new(Workload::Stats, fields, vec![line]);
    o.check(med <= LIMIT_MS, || format!("stats: median {med:.1} ms is over {LIMIT_MS} ms"));
    o
}
