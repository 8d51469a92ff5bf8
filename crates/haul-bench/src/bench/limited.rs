//! `limited`: W3's backlog of no-op jobs worked through queue `default` under a global limit
//! of `--limited-rate` starts per second (`Client::set_limit`): the starts per second it
//! sustains against the limit, and the most handler starts in any one-second window. The
//! first window's starts come at once, so the sustained rate leaves them out:
//! (jobs − rate) / (last start − first start).

use super::Bench;
use super::enqueue::bulk_load;
use super::plan::Workload;
use super::probe::Probe;
use super::record::Outcome;
use super::stats::{rate, thousands};
use super::work::LOAD_CHUNK;
use super::worker::RunningWorker;
use anyhow::Result;
use haul::Limit;
use serde_json::json;
use std::time::Duration;

const SECOND_NS: u64 = 1_000_000_000;

/// Loads the backlog, limits the queue, and times the worker through it.
pub async fn limited(b: &Bench) -> Result<Outcome> {
    let (jobs, limit) = b.plan.limited;
    b.db.reset().await?;
    b.out.progress(&format!("limited: loading {} jobs, limit {limit} starts/s", thousands(jobs)));
    bulk_load(&b.db.client, jobs, LOAD_CHUNK).await?;
    b.db.vacuum_analyze().await?;
    b.db.client.set_limit("default", &Limit::rate(limit, Duration::from_secs(1))).await?;
    let probe = Probe::tracking(jobs);
    let worker = RunningWorker::start_on(&b.db, probe.clone(), &b.tuning).await?;
    let timed = worker.wait_handled(&probe, jobs, "limited").await;
    worker.stop().await?;
    timed?;
    let mut starts: Vec<u64> = (0..jobs as usize).filter_map(|n| probe.started_at(n)).collect();
    starts.sort_unstable();
    let span_s = match (starts.first(), starts.last()) {
        (Some(a), Some(z)) => (z - a) as f64 / SECOND_NS as f64,
        _ => 0.0,
    };
    let sustained = if span_s > 0.0 { (jobs - u64::from(limit)) as f64 / span_s } else { 0.0 };
    let max_window = max_in_window(&starts, SECOND_NS);
    let line = format!(
        "limited: {} starts/s sustained against a limit of {limit}/s ({:.1} %); at most {max_window} \
         handler starts in any second",
        rate(sustained),
        100.0 * sustained / f64::from(limit)
    );
    let fields = json!({
        "jobs": jobs, "limit_per_s": limit, "sustained_per_s": sustained, "span_seconds": span_s,
        "max_starts_in_a_second": max_window, "handled": probe.handled(), "settings": b.settings(&b.tuning),
    });
    let mut outcome = Outcome::new(Workload::Limited, fields, vec![line]);
    let (handled, dup, missing) = (probe.handled(), probe.duplicates(), probe.missing());
    outcome.check(handled == jobs && dup == 0 && missing == 0, || {
        format!("limited: {handled} handler calls for {jobs} jobs ({dup} ran twice, {missing} never ran)")
    });
    Ok(outcome)
}

/// The most of `sorted` in any window `[t, t + width)`.
fn max_in_window(sorted: &[u64], width: u64) -> usize {
    let mut start = 0;
    let mut best = 0;
    for (end, t) in sorted.iter().enumerate() {
        while sorted[start] + width <= *t {
            start += 1;
        }
        best = best.max(end + 1 - start);
    }
    best
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_open_at_each_start() {
        assert_eq!(super::max_in_window(&[0, 5, 9, 10, 14, 30], 10), 4, "5, 9, 10 and 14 lie in [5, 15)");
        assert_eq!(super::max_in_window(&[], 10), 0);
    }
}
