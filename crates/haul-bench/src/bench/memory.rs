//! W6 memory: the worker's RSS at a small and a large backlog. The backlog is filled with one
//! server-side INSERT; the worker runs in a separate process (`haul-bench rss-worker`) so
//! the bench's own allocations do not count; the target is a difference under 16 MiB.

use super::Bench;
use super::plan::Workload;
use super::record::Outcome;
use super::rss_worker::ChildReport;
use super::stats::thousands;
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The largest acceptable growth of the worker's RSS from the small to the large backlog.
pub const TARGET_MIB: f64 = 16.0;

/// One backlog's measurement.
struct Point {
    backlog: u64,
    child: ChildReport,
    remaining: i64,
}

/// W6 at every planned backlog.
pub async fn w6(b: &Bench) -> Result<Outcome> {
    let mut points = Vec::new();
    for &backlog in &b.plan.w6.backlogs {
        points.push(measure_at(b, backlog).await?);
    }
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let diff = |f: fn(&ChildReport) -> u64| (f(&last.child) as f64 - f(&first.child) as f64) / 1024.0;
    let (diff_hwm, diff_rss) = (diff(|c| c.vm_hwm_kib), diff(|c| c.vm_rss_kib));
    let met = diff_hwm < TARGET_MIB;
    let mut lines: Vec<String> = points.iter().map(point_line).collect();
    lines.push(format!(
        "W6 memory difference {} → {} jobs: peak {diff_hwm:+.1} MiB, now {diff_rss:+.1} MiB (target: peak < {TARGET_MIB} MiB: {})",
        thousands(first.backlog),
        thousands(last.backlog),
        if met { "met" } else { "MISSED" }
    ));
    let fields = json!({
        "backlogs": points.iter().map(|p| json!({
            "backlog": p.backlog, "processed": p.child.processed, "completed": p.child.completed,
            "seconds": p.child.seconds, "timed_out": p.child.timed_out, "vm_hwm_kib": p.child.vm_hwm_kib,
            "vm_rss_kib": p.child.vm_rss_kib, "remaining_in_db": p.remaining,
        })).collect::<Vec<_>>(),
        "diff_hwm_mib": diff_hwm, "diff_rss_mib": diff_rss, "target_mib": TARGET_MIB, "within_target": met,
        "process_cap_jobs": b.plan.w6.cap, "process_cap_seconds": b.plan.w6.seconds,
        "settings": b.settings(&b.tuning),
    });
    let mut outcome = Outcome::new(Workload::W6, fields, lines);
    for p in &points {
        let expected = p.backlog as i64 - p.child.completed as i64;
        outcome.check(p.remaining == expected, || {
            format!("W6 ({} backlog): {} rows left, expected {expected}", p.backlog, p.remaining)
        });
        outcome.check(!(b.plan.smoke && p.child.timed_out), || {
            format!(
                "W6 ({} backlog): only {} jobs processed in {:.0} s",
                p.backlog, p.child.processed, p.child.seconds
            )
        });
    }
    Ok(outcome)
}

/// One backlog's human-readable line.
fn point_line(p: &Point) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    format!(
        "W6 memory at a {}-job backlog: peak RSS {:.1} MiB, now {:.1} MiB (worker process after {} jobs in {:.2} s{})",
        thousands(p.backlog),
        mib(p.child.vm_hwm_kib),
        mib(p.child.vm_rss_kib),
        thousands(p.child.processed),
        p.child.seconds,
        if p.child.timed_out { ", time limit" } else { "" }
    )
}

/// Fills a backlog of `backlog` jobs, then runs the measured worker process on it.
async fn measure_at(b: &Bench, backlog: u64) -> Result<Point> {
    b.db.reset().await?;
    b.out.progress(&format!("W6: filling a backlog of {} jobs", thousands(backlog)));
    b.db.fill(backlog).await?;
    b.db.vacuum_analyze().await?;
    b.db.checkpoint().await?;
    let child = run_child(b, backlog.min(b.plan.w6.cap)).await?;
    let remaining = b.db.count_jobs().await?;
    Ok(Point { backlog, child, remaining })
}

/// Runs `haul-bench rss-worker` on the bench schema and reads its report.
async fn run_child(b: &Bench, jobs: u64) -> Result<ChildReport> {
    let exe = std::env::current_exe().context("finding the haul-bench binary for W6's worker process")?;
    let seconds = b.plan.w6.seconds;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["rss-worker", "--schema", &b.db.schema])
        .args(["--jobs", &jobs.to_string(), "--seconds", &seconds.to_string()])
        .args(b.tuning.child_flags())
        .env("DATABASE_URL", &b.db.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let started = Instant::now();
    let limit = Duration::from_secs_f64(seconds + 60.0);
    let output = tokio::time::timeout(limit, cmd.output())
        .await
        .with_context(|| format!("W6's worker process did not finish within {limit:?}"))?
        .context("running W6's worker process")?;
    if !output.status.success() {
        bail!("W6's worker process failed ({}) after {:.1?}", output.status, started.elapsed());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("W6's worker process printed `{last}`"))
}
