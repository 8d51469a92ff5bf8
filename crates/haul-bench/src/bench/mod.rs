//! `haul-bench`: measures Haul with the workloads the peer job queues were measured with
//! (`/work/shared/bench/peers`: W1 bulk enqueue, W2 single enqueue, W3 work, W4 latency), plus
//! W5 sustained load with a held xmin horizon, W6 worker memory, W7 a fleet of worker
//! processes, W8 many queues, `stats`, the stats query on a table of a million jobs,
//! `limited`, a backlog worked through a global rate limit, and `horizon`, PgQue's case of a
//! REPEATABLE READ transaction held for a long run at a fixed rate. Results are printed and
//! appended to `$HAUL_PEERS_DIR/results/haul.jsonl` in the peers' field names.

mod enqueue;
mod fleet;
mod fleet_worker;
mod horizon;
mod latency;
mod limited;
mod memory;
mod observe;
mod pg;
mod plan;
mod probe;
mod record;
mod rss_worker;
mod stats;
mod stats_query;
mod summary;
mod sustained;
mod tuning;
mod work;
mod worker;

use anyhow::{Result, bail};
use plan::{Plan, Workload};
use record::{Outcome, Recorder, Sink};
use serde_json::{Value, json};
use tuning::{Tuning, TuningArgs};

/// `haul-bench` options.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    helper: Option<Helper>,
    #[command(flatten)]
    plan: plan::PlanArgs,
    #[command(flatten)]
    tuning: TuningArgs,
}

/// Processes the bench starts itself.
#[derive(clap::Subcommand)]
enum Helper {
    /// W6's measured process: works a prepared backlog, then prints its RSS as JSON.
    #[command(hide = true)]
    RssWorker(rss_worker::Args),
    /// One process of W7's and W8's fleets: works its queues from `go` until stdin closes.
    #[command(hide = true)]
    FleetWorker(fleet_worker::Args),
}

/// What every workload needs: the database, the sizes, the worker settings and the output.
pub struct Bench {
    /// The bench database and schema.
    pub db: pg::Db,
    /// The sizes.
    pub plan: Plan,
    /// The worker settings of W3–W6.
    pub tuning: Tuning,
    /// Records and prints results.
    pub out: Recorder,
}

impl Bench {
    /// The `settings` field of the worker workloads' records.
    pub fn settings(&self, tuning: &Tuning) -> Value {
        let mut s = json!(tuning);
        s["handler"] = json!("async no-op (records its start time)");
        s["listen_notify"] = json!(!tuning.poll_only);
        s["completed_jobs"] = json!("deleted (default retention 0)");
        s["load_chunk"] = json!(work::LOAD_CHUNK);
        s
    }
}

/// Runs `haul-bench` (or its hidden helper) against the server of `url`.
pub async fn run(url: &str, args: Args) -> Result<()> {
    // sqlx warns of every slow statement, and CHECKPOINT or a 1M-row fill are slow on purpose
    crate::init_logging("warn,sqlx::query=error");
    match args.helper {
        Some(Helper::RssWorker(a)) => rss_worker::run(url, a).await,
        Some(Helper::FleetWorker(a)) => fleet_worker::run(url, a).await,
        None => bench(url, args).await,
    }
}

/// The bench proper: every run of every workload, W5 and `horizon` once, the summary, then
/// the verdict.
async fn bench(url: &str, args: Args) -> Result<()> {
    let plan = Plan::resolve(args.plan)?;
    let tuning = if plan.sweep { Tuning::DEFAULT } else { args.tuning.single()? };
    let db = pg::Db::open(url, &plan.db_name, &plan.schema).await?;
    let out = Recorder::new(&plan);
    let b = Bench { db, plan, tuning, out };
    header(&b);
    if b.plan.sweep {
        return work::sweep(&b, &args.tuning.grid(true)?).await;
    }
    let mut tally = summary::Tally::default();
    for run in 1..=b.plan.runs {
        for &w in b.plan.workloads.iter().filter(|w| !ONCE.contains(w)) {
            let outcome = run_workload(&b, w).await?;
            b.out.emit(run, &outcome, Sink::Results)?;
            tally.add(outcome);
        }
    }
    if b.plan.workloads.contains(&Workload::W5) {
        let (rate, source) = w5_rate(&b, &tally).await?;
        let outcome = sustained::w5(&b, rate, &source).await?;
        b.out.emit(1, &outcome, Sink::Results)?;
        tally.add(outcome);
    }
    if b.plan.workloads.contains(&Workload::Horizon) {
        let outcome = horizon::horizon(&b).await?;
        b.out.emit(1, &outcome, Sink::Results)?;
        tally.add(outcome);
    }
    tally.print(&b.out);
    match tally.problems().as_slice() {
        [] => Ok(()),
        problems => bail!("the bench found wrong results:\n  - {}", problems.join("\n  - ")),
    }
}

/// The long workloads, run once per invocation after the others.
const ONCE: [Workload; 2] = [Workload::W5, Workload::Horizon];

/// One run of one workload (not W5 or `horizon`).
async fn run_workload(b: &Bench, w: Workload) -> Result<Outcome> {
    match w {
        Workload::W1 => enqueue::w1(b).await,
        Workload::W2 => enqueue::w2(b).await,
        Workload::W3 => work::w3(b).await,
        Workload::W4 => latency::w4(b).await,
        Workload::W6 => memory::w6(b).await,
        Workload::W7 => fleet::w7(b).await,
        Workload::W8 => fleet::w8(b).await,
        Workload::Stats => stats_query::stats(b).await,
        Workload::Limited => limited::limited(b).await,
        Workload::W5 | Workload::Horizon => unreachable!("{} runs once, after the others", w.name()),
    }
}

/// W5's producer rate and where it came from: given, 80% of a given W3 figure, 80% of this
/// invocation's W3 median, or 80% of a quick W3 measured now.
async fn w5_rate(b: &Bench, tally: &summary::Tally) -> Result<(f64, String)> {
    let share = plan::W5Plan::SHARE;
    if let Some((rate, source)) = b.plan.w5.rate {
        return Ok((rate, source.into()));
    }
    if let Some(w3) = b.plan.w5.w3_figure {
        return Ok((share * w3, format!("{:.0}% of --w3-figure {}", share * 100.0, stats::rate(w3))));
    }
    if let Some(w3) = tally.w3_median() {
        return Ok((
            share * w3,
            format!("{:.0}% of this run's W3 median {}", share * 100.0, stats::rate(w3)),
        ));
    }
    let jobs = plan::W5Plan::QUICK_W3_JOBS;
    b.out.progress(&format!("W5: measuring a quick W3 ({} jobs) to set the rate", stats::thousands(jobs)));
    let w3 = work::measure(b, &b.tuning, jobs).await?;
    if let Some(problem) = w3.problems.first() {
        bail!("the quick W3 that sets W5's rate went wrong: {problem}");
    }
    let w3 = w3.number("jobs_per_s").unwrap_or(0.0);
    Ok((share * w3, format!("{:.0}% of a quick W3 ({} jobs): {}", share * 100.0, jobs, stats::rate(w3))))
}

/// Runs of each workload: the plan's, or 1 when only workloads that run once are listed.
fn runs(p: &Plan) -> usize {
    if p.workloads.iter().all(|w| ONCE.contains(w)) { 1 } else { p.runs }
}

/// What is measured, with which build and settings, and where the records go.
fn header(b: &Bench) {
    let build = if cfg!(debug_assertions) { "debug build" } else { "release build" };
    let p = &b.plan;
    let names: Vec<_> = p.workloads.iter().map(|w| w.name()).collect();
    b.out.say(&format!(
        "Haul bench · haul {} ({build}) · database {} schema {} · {}{}",
        env!("CARGO_PKG_VERSION"),
        p.db_name,
        p.schema,
        if p.sweep { "W3 sweep".to_owned() } else { format!("{} × {} run(s)", names.join(","), runs(p)) },
        if p.smoke { " · SMOKE sizes" } else { "" },
    ));
    if !p.sweep {
        b.out.say(&format!("worker: {}", b.tuning.label()));
    }
    b.out.say(&format!(
        "records → {}",
        b.out.path(if p.sweep { Sink::Tuning } else { Sink::Results }).display()
    ));
    if cfg!(debug_assertions) && !p.smoke {
        b.out.say("note: a debug build; measure with `cargo build --release -p haul-bench`");
    }
    b.out.say("");
}
