//! W7 fleet and W8 many queues: one backlog worked by several worker processes
//! (`haul-bench fleet-worker`) on one PostgreSQL. The clock starts when every process is
//! connected and told `go`, and stops when the jobs table is empty; each process then reports
//! its claim statements and how many claimed nothing. A fleet of several processes runs each
//! with [`FLEET_FETCH_CONCURRENCY`], the setting docs/deployment.md gives for fleets.

use super::Bench;
use super::fleet_worker::FleetReport;
use super::plan::Workload;
use super::record::Outcome;
use super::stats::{rate, thousands};
use super::tuning::Tuning;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// W7's targets: 4 processes at this share of one process's rate, 8 at no less than this.
pub const W7_FOUR_VS_ONE: f64 = 0.9;
/// W8's target: 100 queues at this share of one queue's rate.
pub const W8_VS_ONE_QUEUE: f64 = 0.8;

/// `fetch_concurrency` of each process when several work the same queues: their claims are
/// already in flight side by side, and each more walks over, and tries, the rows the others
/// hold locked.
pub const FLEET_FETCH_CONCURRENCY: usize = 1;

/// The settings of each of `processes` fleet processes: `tuning`, with
/// [`FLEET_FETCH_CONCURRENCY`] when there are several.
fn fleet_tuning(tuning: &Tuning, processes: usize) -> Tuning {
    match processes {
        0 | 1 => *tuning,
        _ => Tuning { fetch_concurrency: FLEET_FETCH_CONCURRENCY, ..*tuning },
    }
}

/// One fleet's measurement.
#[derive(Debug, Clone)]
struct FleetRun {
    processes: usize,
    queues: usize,
    jobs: u64,
    seconds: f64,
    reports: Vec<FleetReport>,
    /// Fewest and most jobs left in one queue when half the backlog was done (W8).
    half_way: Option<(i64, i64)>,
}

impl FleetRun {
    fn jobs_per_s(&self) -> f64 {
        self.jobs as f64 / self.seconds
    }
    fn sum(&self, f: fn(&FleetReport) -> u64) -> u64 {
        self.reports.iter().map(f).sum()
    }
    fn line(&self, what: &str) -> String {
        let (fetches, empty) = (self.sum(|r| r.fetches), self.sum(|r| r.empty_fetches));
        let fair = self
            .half_way
            .map_or(String::new(), |(lo, hi)| format!("; at half way a queue had {lo}–{hi} jobs left"));
        format!(
            "{what} · {} process(es) × {} queue(s): {} jobs/s ({} jobs in {:.2} s); {} claims/s, {} of {} claims empty{fair}",
            self.processes,
            self.queues,
            rate(self.jobs_per_s()),
            thousands(self.jobs),
            self.seconds,
            rate(fetches as f64 / self.seconds),
            thousands(empty),
            thousands(fetches),
        )
    }
    fn json(&self) -> Value {
        json!({
            "processes": self.processes, "queues": self.queues, "jobs": self.jobs, "seconds": self.seconds,
            "jobs_per_s": self.jobs_per_s(), "claims": self.sum(|r| r.fetches),
            "empty_claims": self.sum(|r| r.empty_fetches), "handled": self.sum(|r| r.handled),
            "claims_per_s": self.sum(|r| r.fetches) as f64 / self.seconds,
            "half_way_queue_left_min_max": self.half_way,
        })
    }
}

/// W7: the W3 backlog in queue `default`, worked by each planned number of processes.
pub async fn w7(b: &Bench) -> Result<Outcome> {
    let mut runs = Vec::new();
    for &p in &b.plan.w7_processes {
        runs.push(run_fleet(b, p, 1, b.plan.w3_jobs).await?);
    }
    let one = runs.iter().find(|r| r.processes == 1).map(FleetRun::jobs_per_s);
    let mut lines: Vec<String> = runs.iter().map(|r| r.line("W7 fleet")).collect();
    let mut fields = json!({ "runs": runs.iter().map(FleetRun::json).collect::<Vec<_>>(),
                             "settings": b.settings(&b.tuning),
                             "fleet_fetch_concurrency": FLEET_FETCH_CONCURRENCY });
    if let Some(one) = one {
        let ratios: Vec<String> =
            runs.iter().map(|r| format!("{}: {:.3}×", r.processes, r.jobs_per_s() / one)).collect();
        lines.push(format!("W7 against one process: {} (target: 4 ≥ {W7_FOUR_VS_ONE}×)", ratios.join(", ")));
        fields["vs_one_process"] =
            json!(runs.iter().map(|r| (r.processes, r.jobs_per_s() / one)).collect::<Vec<_>>());
    }
    Ok(checked(Outcome::new(Workload::W7, fields, lines), &runs))
}

/// W8: the W3 backlog spread over the planned queues, worked by one and by four processes,
/// against one process on one queue; then an idle process on every queue, watched for its
/// statement rate.
pub async fn w8(b: &Bench) -> Result<Outcome> {
    let (jobs, queues) = (b.plan.w3_jobs, b.plan.w8_queues);
    let base = run_fleet(b, 1, 1, jobs).await?;
    let mut runs = vec![base.clone()];
    for p in [1, 4] {
        runs.push(run_fleet(b, p, queues, jobs).await?);
    }
    let idle = idle_rate(b, queues).await?;
    let mut lines: Vec<String> = runs.iter().map(|r| r.line("W8 queues")).collect();
    let ratios: Vec<String> = runs[1..]
        .iter()
        .map(|r| format!("{} process(es): {:.3}×", r.processes, r.jobs_per_s() / base.jobs_per_s()))
        .collect();
    lines.push(format!(
        "W8 {queues} queues against one queue: {} (target ≥ {W8_VS_ONE_QUEUE}×)",
        ratios.join(", ")
    ));
    lines.push(format!(
        "W8 idle process on {queues} queues: {:.1} transactions/s in the database, {:.1} claims/s (over {:?})",
        idle.0, idle.1, b.plan.w8_idle
    ));
    let fields = json!({
        "runs": runs.iter().map(FleetRun::json).collect::<Vec<_>>(),
        "idle_transactions_per_s": idle.0, "idle_claims_per_s": idle.1, "queues": queues,
        "settings": b.settings(&b.tuning), "fleet_fetch_concurrency": FLEET_FETCH_CONCURRENCY,
    });
    Ok(checked(Outcome::new(Workload::W8, fields, lines), &runs))
}

/// `outcome`, failing it where a fleet did not handle every job.
fn checked(mut outcome: Outcome, runs: &[FleetRun]) -> Outcome {
    for r in runs {
        let handled = r.sum(|x| x.completed);
        outcome.check(handled == r.jobs, || {
            format!("{} processes × {} queues: {handled} jobs completed of {}", r.processes, r.queues, r.jobs)
        });
    }
    outcome
}

/// Loads `jobs` over `queues` queues, then times `processes` fleet processes until the table
/// is empty.
async fn run_fleet(b: &Bench, processes: usize, queues: usize, jobs: u64) -> Result<FleetRun> {
    b.db.reset().await?;
    b.out.progress(&format!(
        "fleet: {} jobs over {queues} queue(s), {processes} process(es)",
        thousands(jobs)
    ));
    b.db.fill_queues(jobs, queues).await?;
    b.db.vacuum_analyze().await?;
    b.db.checkpoint().await?;
    let mut fleet = Fleet::spawn(b, processes, queues).await?;
    let started = Instant::now();
    fleet.go().await?;
    let half_way = drain(b, jobs, queues > 1).await;
    let seconds = started.elapsed().as_secs_f64();
    let reports = fleet.stop().await?;
    Ok(FleetRun { processes, queues, jobs, seconds, reports, half_way: half_way? })
}

/// Polls the table every 20 ms until it is empty; when `sample`, also reads each queue's
/// remaining jobs once half the backlog is done.
async fn drain(b: &Bench, jobs: u64, sample: bool) -> Result<Option<(i64, i64)>> {
    let (mut half_way, deadline) = (None, Instant::now() + super::worker::STALL);
    loop {
        let left = b.db.count_jobs().await?;
        if left == 0 {
            return Ok(half_way);
        }
        if sample && half_way.is_none() && left as u64 <= jobs / 2 {
            let per_queue = b.db.remaining_by_queue().await?;
            half_way = per_queue.first().zip(per_queue.last()).map(|(lo, hi)| (*lo, *hi));
        }
        if Instant::now() > deadline {
            bail!("fleet: {left} jobs still in the table after {:?}", super::worker::STALL);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Transactions per second in the bench database, and claims per second, while one fleet
/// process works `queues` empty queues.
async fn idle_rate(b: &Bench, queues: usize) -> Result<(f64, f64)> {
    b.db.reset().await?;
    let mut fleet = Fleet::spawn(b, 1, queues).await?;
    fleet.go().await?;
    // past the start-up (migration check, election, the first claim of every queue)
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = b.db.transactions().await?;
    tokio::time::sleep(b.plan.w8_idle).await;
    let after = b.db.transactions().await?;
    let reports = fleet.stop().await?;
    let claims = reports.iter().map(|r| r.fetches).sum::<u64>() as f64;
    let secs = b.plan.w8_idle.as_secs_f64();
    // the bench's own reading is one of the transactions counted
    Ok(((after - before - 1).max(0) as f64 / secs, claims / (secs + 3.0)))
}

/// The running fleet processes, each with its stdin (closing it stops the process) and stdout.
struct Fleet {
    children: Vec<(Child, Lines<BufReader<ChildStdout>>)>,
}

impl Fleet {
    /// Starts `n` fleet processes on `queues` queues ([`fleet_tuning`]) and waits until each
    /// has connected.
    async fn spawn(b: &Bench, n: usize, queues: usize) -> Result<Fleet> {
        let exe = std::env::current_exe().context("finding the haul-bench binary for the fleet")?;
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let mut cmd = tokio::process::Command::new(&exe);
            cmd.args(["fleet-worker", "--schema", &b.db.schema, "--queues", &queues.to_string()])
                .args(fleet_tuning(&b.tuning, n).child_flags())
                .env("DATABASE_URL", &b.db.url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true);
            let mut child = cmd.spawn().context("starting a fleet process")?;
            let stdout = child.stdout.take().context("the fleet process's stdout")?;
            children.push((child, BufReader::new(stdout).lines()));
        }
        for (_, out) in &mut children {
            let line = tokio::time::timeout(Duration::from_secs(30), out.next_line()).await;
            match line.context("a fleet process did not connect within 30 s")?? {
                Some(l) if l.trim() == "ready" => {}
                other => bail!("a fleet process printed {other:?} instead of `ready`"),
            }
        }
        Ok(Fleet { children })
    }

    /// Tells every process to start its worker.
    async fn go(&mut self) -> Result<()> {
        for (child, _) in &mut self.children {
            let stdin = child.stdin.as_mut().context("the fleet process's stdin")?;
            stdin.write_all(b"go\n").await?;
            stdin.flush().await?;
        }
        Ok(())
    }

    /// Closes every process's stdin and reads each one's report.
    async fn stop(mut self) -> Result<Vec<FleetReport>> {
        for (child, _) in &mut self.children {
            drop(child.stdin.take());
        }
        let mut reports = Vec::new();
        for (mut child, mut out) in self.children.drain(..) {
            let mut last = String::new();
            while let Some(line) = out.next_line().await? {
                if !line.trim().is_empty() {
                    last = line;
                }
            }
            let status = child.wait().await?;
            if !status.success() {
                bail!("a fleet process failed ({status})");
            }
            reports.push(
                serde_json::from_str(&last).with_context(|| format!("a fleet process printed `{last}`"))?,
            );
        }
        Ok(reports)
    }
}
