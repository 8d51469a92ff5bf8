//! W1 bulk enqueue (`Client::insert_many`, 1,000 jobs per call, plus a sweep of batch sizes)
//! and W2 single enqueue (`Client::insert_tx` on one connection, one call at a time for a fixed time).

use super::Bench;
use super::plan::Workload;
use super::probe::Noop;
use super::record::Outcome;
use super::stats::{rate, thousands};
use anyhow::Result;
use haul::{Client, NewJob};
use serde_json::json;
use std::time::Instant;

/// One timed bulk load.
struct BulkRun {
    chunk: usize,
    seconds: f64,
    rows: i64,
}

impl BulkRun {
    /// Jobs per second of this load.
    fn jobs_per_s(&self, jobs: u64) -> f64 {
        jobs as f64 / self.seconds
    }
}

/// W1: enqueues the jobs in calls of 1,000 (the figure compared with the peers), then again
/// with each other batch size, each from a fresh schema; reports each and the best.
pub async fn w1(b: &Bench) -> Result<Outcome> {
    let jobs = b.plan.w1.jobs;
    let mut runs = Vec::new();
    for chunk in b.plan.w1_chunks() {
        b.db.reset().await?;
        let started = Instant::now();
        bulk_load(&b.db.client, jobs, chunk).await?;
        let seconds = started.elapsed().as_secs_f64();
        runs.push(BulkRun { chunk, seconds, rows: b.db.count_jobs().await? });
    }
    let unique = unique_run(b, jobs).await?;
    let main = &runs[0];
    let best = runs.iter().max_by(|x, y| x.jobs_per_s(jobs).total_cmp(&y.jobs_per_s(jobs))).expect("a run");
    let mut lines: Vec<String> = runs.iter().map(|r| w1_line(r, jobs)).collect();
    lines.push(format!(
        "W1 best batch size: {}/call ({} jobs/s)",
        thousands(best.chunk as u64),
        rate(best.jobs_per_s(jobs))
    ));
    let ratio = unique.jobs_per_s(jobs) / main.jobs_per_s(jobs);
    lines.push(format!(
        "W1 with unique keys ({}/call, every key new): {} jobs/s ({ratio:.3} × plain)",
        thousands(unique.chunk as u64),
        rate(unique.jobs_per_s(jobs))
    ));
    let sweep: Vec<_> = runs
        .iter()
        .map(|r| json!({"bulk_chunk": r.chunk, "seconds": r.seconds, "jobs_per_s": r.jobs_per_s(jobs), "verified_rows": r.rows}))
        .collect();
    let fields = json!({
        "jobs": jobs, "seconds": main.seconds, "jobs_per_s": main.jobs_per_s(jobs), "verified_rows": main.rows,
        "settings": {"bulk_chunk": main.chunk, "api": "Client::insert_many", "clients": 1},
        "batch_sweep": sweep, "best_bulk_chunk": best.chunk, "best_jobs_per_s": best.jobs_per_s(jobs),
        "unique_jobs_per_s": unique.jobs_per_s(jobs), "unique_vs_plain": ratio,
    });
    let mut outcome = Outcome::new(Workload::W1, fields, lines);
    for r in runs.iter().chain([&unique]) {
        outcome.check(r.rows == jobs as i64, || {
            format!("W1 ({}/call): {} rows in the table, expected {jobs}", r.chunk, r.rows)
        });
    }
    Ok(outcome)
}

/// W1's jobs again in calls of 1,000, each job with a unique key of its own: what checking
/// uniqueness costs a bulk insert.
async fn unique_run(b: &Bench, jobs: u64) -> Result<BulkRun> {
    let chunk = b.plan.w1_chunks()[0];
    b.db.reset().await?;
    let started = Instant::now();
    let mut i = 0;
    while i < jobs {
        let end = (i + chunk as u64).min(jobs);
        let batch = (i..end).map(|n| NewJob::new(&Noop { n }).with_unique_key(format!("w1-{n}")));
        b.db.client.insert_many(batch).await?;
        i = end;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(BulkRun { chunk, seconds, rows: b.db.count_jobs().await? })
}

/// One W1 batch size's human-readable line.
fn w1_line(r: &BulkRun, jobs: u64) -> String {
    format!(
        "W1 bulk enqueue ({}/call): {} jobs/s ({} jobs in {:.2} s)",
        thousands(r.chunk as u64),
        rate(r.jobs_per_s(jobs)),
        thousands(jobs),
        r.seconds
    )
}

/// Enqueues jobs `0..jobs` with `insert_many`, `chunk` per call, one call after another.
pub async fn bulk_load(client: &Client, jobs: u64, chunk: usize) -> Result<()> {
    let mut i = 0;
    while i < jobs {
        let end = (i + chunk as u64).min(jobs);
        client.insert_many((i..end).map(|n| Noop { n })).await?;
        i = end;
    }
    Ok(())
}

/// W2: one insert per call, one client (one connection, as PgQueuer's W2 holds one), for the
/// planned time. Through a pooled `Client::insert`, sqlx adds a ping on every acquire and
/// release; an application inserting in a request holds its connection the same way.
pub async fn w2(b: &Bench) -> Result<Outcome> {
    b.db.reset().await?;
    let mut conn = b.db.client.pool().acquire().await?;
    let (started, mut n) = (Instant::now(), 0u64);
    while started.elapsed() < b.plan.w2 {
        b.db.client.insert_tx(&mut *conn, Noop { n }).await?;
        n += 1;
    }
    drop(conn);
    let seconds = started.elapsed().as_secs_f64();
    let rows = b.db.count_jobs().await?;
    let per_s = n as f64 / seconds;
    let line = format!(
        "W2 single enqueue: {} jobs/s ({} jobs in {seconds:.2} s, one client)",
        rate(per_s),
        thousands(n)
    );
    let fields = json!({"jobs": n, "seconds": seconds, "jobs_per_s": per_s, "verified_rows": rows,
                        "settings": {"api": "Client::insert_tx on one held connection", "clients": 1}});
    let mut outcome = Outcome::new(Workload::W2, fields, vec![line]);
    outcome.check(rows == n as i64, || format!("W2: {rows} rows in the table, expected {n}"));
    Ok(outcome)
}
