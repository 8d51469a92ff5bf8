//! W4 latency: an idle worker (started, then 2 s of quiet), jobs inserted one by one at a fixed
//! rate from the same process; latency runs from just before the insert call to the start of
//! the handler, on one monotonic clock. Jobs not seen within 30 s are `lost`.

use super::Bench;
use super::plan::{W4Plan, Workload};
use super::probe::{Noop, Probe};
use super::record::Outcome;
use super::stats::{LatencyStats, thousands};
use super::worker::RunningWorker;
use anyhow::Result;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// W4 with the bench's settings and size.
pub async fn w4(b: &Bench) -> Result<Outcome> {
    let p = b.plan.w4;
    b.db.reset().await?;
    let probe = Probe::tracking(p.jobs);
    let worker = RunningWorker::start_on(&b.db, probe.clone(), &b.tuning).await?;
    let measured = async {
        tokio::time::sleep(p.idle).await;
        worker.check_alive()?;
        let sent = paced_insert(b, &probe, &p).await?;
        wait_seen(&probe, p.jobs, p.wait).await;
        anyhow::Ok(sent)
    }
    .await;
    let stopped = worker.stop().await;
    let sent = measured?;
    stopped?;
    let seen: Vec<(usize, f64)> = (0..p.jobs as usize)
        .filter_map(|i| probe.started_at(i).map(|start| (i, start.saturating_sub(sent[i]) as f64 / 1e6)))
        .collect();
    let lat: Vec<f64> = seen.iter().map(|(_, ms)| *ms).collect();
    let mut out = outcome(b, &p, &lat, probe.duplicates());
    out.lines.push(slowest(seen, SLOWEST_SHOWN));
    Ok(out)
}

/// How many of the slowest pickups W4 names: enough to cover its p99.
const SLOWEST_SHOWN: usize = 8;

/// The `n` slowest pickups as `#sequence ms`, slowest first: whether the tail is the first
/// jobs after start (cold connections) or spread over the run.
fn slowest(mut seen: Vec<(usize, f64)>, n: usize) -> String {
    seen.sort_by(|a, b| b.1.total_cmp(&a.1));
    let named: Vec<String> = seen.iter().take(n).map(|(i, ms)| format!("#{i} {ms:.2}")).collect();
    format!("  slowest pickups (job sequence number, ms): {}", named.join(", "))
}

/// Inserts jobs `0..jobs` one at a time at `rate`/s on one held connection (one client, as in
/// W2; a pooled call would add sqlx's acquire and release pings); returns each send time (ns).
async fn paced_insert(b: &Bench, probe: &Probe, p: &W4Plan) -> Result<Vec<u64>> {
    let mut sent = vec![0; p.jobs as usize];
    let mut conn = b.db.client.pool().acquire().await?;
    let t0 = tokio::time::Instant::now();
    for (n, slot) in sent.iter_mut().enumerate() {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(n as f64 / p.rate)).await;
        *slot = probe.now_ns();
        b.db.client.insert_tx(&mut *conn, Noop { n: n as u64 }).await?;
    }
    Ok(sent)
}

/// Waits until every job started or `wait` passed, polling every 10 ms like the peers.
async fn wait_seen(probe: &Probe, jobs: u64, wait: Duration) {
    let deadline = Instant::now() + wait;
    while probe.handled() < jobs && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// W4's record and line from the latencies of the jobs seen, with its checks.
fn outcome(b: &Bench, p: &W4Plan, lat: &[f64], duplicates: u64) -> Outcome {
    let lost = p.jobs - lat.len() as u64;
    let stats = LatencyStats::of(lat);
    let mut fields =
        json!({"rate_per_s": p.rate, "jobs": p.jobs, "lost": lost, "settings": b.settings(&b.tuning)});
    if let (Some(s), Value::Object(map)) = (stats, &mut fields) {
        map.extend(json!(s).as_object().cloned().unwrap_or_default());
    }
    let figures = stats.map_or("no job was seen".to_owned(), |s| s.line());
    let line = format!(
        "W4 latency ({} jobs at {}/s into an idle worker): {figures} · lost {lost}",
        thousands(p.jobs),
        p.rate
    );
    let mut outcome = Outcome::new(Workload::W4, fields, vec![line]);
    outcome.check(lost == 0, || format!("W4: {lost} of {} jobs not seen within {:?}", p.jobs, p.wait));
    outcome.check(duplicates == 0, || format!("W4: {duplicates} jobs ran twice"));
    outcome
}
