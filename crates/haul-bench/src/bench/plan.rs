//! What one `haul-bench` invocation measures: its command-line options and the sizes they
//! resolve to (the peers' full sizes, or tiny ones with `--smoke`).

use anyhow::{Result, bail};
use std::time::Duration;

/// One of the benchmark's workloads, named as in the peers' results.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    /// Bulk enqueue through `insert_many`.
    W1,
    /// Single enqueue through `insert`, one call at a time.
    W2,
    /// Work a queued backlog of no-op jobs to completion.
    W3,
    /// Pickup latency of an idle worker.
    W4,
    /// Sustained load, with and without a transaction that holds the xmin horizon.
    W5,
    /// Worker memory at a small and a large backlog.
    W6,
    /// One backlog worked by 1, 2, 4 and 8 worker processes (only when listed).
    W7,
    /// A backlog spread over 100 queues, one and four processes (only when listed).
    W8,
    /// `Client::stats` on a table of 1,000,000 jobs (only when listed).
    Stats,
    /// W3's backlog through a queue with a global rate limit (only when listed).
    Limited,
    /// PgQue's held-horizon case: single inserts at a fixed rate into a 4-slot worker, sampled
    /// over a long run, optionally with a REPEATABLE READ transaction open throughout (only
    /// when listed).
    Horizon,
}

impl Workload {
    /// The name used in records: `"W1"` .. `"W6"`.
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
            Workload::W5 => "W5",
            Workload::W6 => "W6",
            Workload::W7 => "W7",
            Workload::W8 => "W8",
            Workload::Stats => "stats",
            Workload::Limited => "limited",
            Workload::Horizon => "horizon",
        }
    }
}

/// The bench's options, apart from the worker tuning (see `tuning.rs`).
#[derive(clap::Args)]
pub struct PlanArgs {
    /// Database to run in, on the server of --database-url (created there if missing).
    #[arg(long, default_value = "bench_haul")]
    pub db_name: String,
    /// Schema of Haul's tables; dropped and recreated before every measurement.
    #[arg(long, default_value = "haul")]
    pub schema: String,
    /// Runs of each workload [default: 3, or 1 with --smoke]. W5 runs once per invocation.
    #[arg(long)]
    pub runs: Option<usize>,
    /// Workloads to run, comma separated [default: w1,w2,w3,w4,w6 (W5 is long; `stats`, W7,
    /// W8 and `horizon` are separate: only when listed); W1–W8 and `horizon` with --smoke].
    #[arg(long, value_delimiter = ',', ignore_case = true)]
    pub workloads: Option<Vec<Workload>>,
    /// Print one JSON object per run per workload instead of human-readable lines.
    #[arg(long)]
    pub json: bool,
    /// Tiny sizes: every workload in well under a minute, failing on any wrong count (for CI).
    #[arg(long)]
    pub smoke: bool,
    /// Sweep W3 over the worker settings (comma lists in the tuning flags) instead of the workloads.
    #[arg(long)]
    pub sweep: bool,
    /// Jobs per W3 run in --sweep [default: 20,000 like the peers' tune.sh; 5,000 with --smoke].
    #[arg(long)]
    pub sweep_jobs: Option<u64>,
    /// W1: jobs to enqueue [default: 100,000; 2,000 with --smoke].
    #[arg(long)]
    pub w1_jobs: Option<u64>,
    /// W1: jobs per `insert_many` call for the figure compared with the peers.
    #[arg(long, default_value_t = 1000)]
    pub w1_chunk: usize,
    /// W1: other batch sizes to try, comma separated [default: 5000,10000,100000; 500,2000 with --smoke].
    #[arg(long, value_delimiter = ',')]
    pub w1_sweep: Option<Vec<usize>>,
    /// W2: seconds of single inserts [default: 10; 1 with --smoke].
    #[arg(long)]
    pub w2_seconds: Option<f64>,
    /// W3: queued jobs to work [default: 100,000; 5,000 with --smoke].
    #[arg(long)]
    pub w3_jobs: Option<u64>,
    /// limited: queued jobs worked through the rate limit [default: 20,000; 3,000 with --smoke].
    #[arg(long)]
    pub limited_jobs: Option<u64>,
    /// limited: the queue's global limit, in starts per second.
    #[arg(long, default_value_t = 1000)]
    pub limited_rate: u32,
    /// W4: jobs inserted one by one into an idle worker [default: 500; 50 with --smoke].
    #[arg(long)]
    pub w4_jobs: Option<u64>,
    /// W4: jobs per second.
    #[arg(long, default_value_t = 50.0)]
    pub w4_rate: f64,
    /// W5: minutes of each of its two phases (steady, then with the held transaction)
    /// [default: 10; 10 s with --smoke].
    #[arg(long)]
    pub w5_minutes: Option<f64>,
    /// W5: the producer's rate in jobs/s [default: 80% of --w3-figure, of this run's W3 median,
    /// or of a quick 20,000-job W3; 500 with --smoke].
    #[arg(long)]
    pub w5_rate: Option<f64>,
    /// W5: a W3 jobs/s figure measured earlier; the producer runs at 80% of it.
    #[arg(long)]
    pub w3_figure: Option<f64>,
    /// W5: seconds the second connection holds its transaction open [default: 30; 5 with --smoke].
    #[arg(long)]
    pub w5_hold_seconds: Option<f64>,
    /// W5: seconds between samples away from the held transaction [default: 10; 1 with --smoke].
    #[arg(long)]
    pub w5_sample_seconds: Option<f64>,
    /// W6: backlogs to measure the worker's memory at, comma separated [default: 1000,1000000;
    /// 1000,20000 with --smoke].
    #[arg(long, value_delimiter = ',')]
    pub w6_backlogs: Option<Vec<u64>>,
    /// W7: numbers of worker processes, comma separated [default: 1,2,4,8; 1,2 with --smoke].
    #[arg(long, value_delimiter = ',')]
    pub w7_processes: Option<Vec<usize>>,
    /// W8: queues the backlog is spread over [default: 100; 10 with --smoke].
    #[arg(long)]
    pub w8_queues: Option<usize>,
    /// horizon: minutes of the run [default: 30; 6 s with --smoke].
    #[arg(long)]
    pub horizon_minutes: Option<f64>,
    /// horizon: jobs/s inserted by its producers together.
    #[arg(long, default_value_t = HorizonPlan::RATE_DEFAULT)]
    pub horizon_rate: f64,
    /// horizon: hold a REPEATABLE READ transaction open on another connection for the whole run.
    /// Its snapshot is taken by a read of the catalog (PgQue's shape: it touches no queue table).
    #[arg(long)]
    pub hold: bool,
    /// horizon: with --hold, take the held snapshot by a read of the jobs table instead, as a
    /// `pg_dump` of Haul's tables would: it holds a lock on every slot, so no slot is truncated
    /// while it lasts.
    #[arg(long, requires = "hold")]
    pub hold_reads_jobs: bool,
    /// horizon: seconds between samples [default: 5; 1 with --smoke].
    #[arg(long)]
    pub sample_secs: Option<f64>,
}

/// W1's sizes.
#[derive(Debug, Clone)]
pub struct W1Plan {
    /// Jobs enqueued per measurement.
    pub jobs: u64,
    /// The batch size compared with the peers (1,000).
    pub chunk: usize,
    /// Other batch sizes tried.
    pub sweep: Vec<usize>,
}

/// W4's sizes.
#[derive(Debug, Clone, Copy)]
pub struct W4Plan {
    /// Jobs inserted.
    pub jobs: u64,
    /// Jobs per second.
    pub rate: f64,
    /// How long the worker idles before the first insert.
    pub idle: Duration,
    /// How long to wait for the last jobs before counting them lost.
    pub wait: Duration,
}

/// W5's sizes.
#[derive(Debug, Clone, Copy)]
pub struct W5Plan {
    /// Length of each phase.
    pub phase: Duration,
    /// The producer's rate and where it came from, if set by the options.
    pub rate: Option<(f64, &'static str)>,
    /// A W3 figure to take [`W5Plan::SHARE`] of, if given.
    pub w3_figure: Option<f64>,
    /// How long the held transaction stays open.
    pub hold: Duration,
    /// Sample interval away from the hold.
    pub sample: Duration,
    /// Sample interval around the hold.
    pub fine: Duration,
}

impl W5Plan {
    /// Share of a W3 figure the producer runs at.
    pub const SHARE: f64 = 0.8;
    /// Jobs of the quick W3 that sets the rate when nothing else does.
    pub const QUICK_W3_JOBS: u64 = 20_000;
}

/// The held-horizon run's shape (PgQue's: 800 jobs/s from 4 producers into 4 slots).
#[derive(Debug, Clone, Copy)]
pub struct HorizonPlan {
    /// Length of the run.
    pub length: Duration,
    /// Jobs per second, all producers together.
    pub rate: f64,
    /// Tasks inserting one job per call, each on a connection of its own.
    pub producers: usize,
    /// The worker's queue concurrency.
    pub slots: usize,
    /// Whether a REPEATABLE READ transaction is held open for the run.
    pub hold: bool,
    /// Whether the held snapshot is taken by a read of the jobs table (else of the catalog).
    pub hold_reads_jobs: bool,
    /// Time between samples.
    pub sample: Duration,
}

impl HorizonPlan {
    /// PgQue's rate.
    pub const RATE_DEFAULT: f64 = 800.0;
    /// PgQue's producers.
    pub const PRODUCERS: usize = 4;
    /// PgQue's consumers, as slots of one worker.
    pub const SLOTS: usize = 4;
}

/// W6's sizes.
#[derive(Debug, Clone)]
pub struct W6Plan {
    /// Backlogs to measure at.
    pub backlogs: Vec<u64>,
    /// Most jobs the measured worker processes before its memory is read.
    pub cap: u64,
    /// Longest the measured worker runs before its memory is read.
    pub seconds: f64,
}

/// Everything one invocation measures, resolved from [`PlanArgs`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// Database name on the server.
    pub db_name: String,
    /// Schema of Haul's tables.
    pub schema: String,
    /// Runs per workload (W5 runs once).
    pub runs: usize,
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// JSON output.
    pub json: bool,
    /// Tiny sizes, strict checks.
    pub smoke: bool,
    /// Sweep W3 instead of running the workloads.
    pub sweep: bool,
    /// Jobs per sweep run.
    pub sweep_jobs: u64,
    /// W1.
    pub w1: W1Plan,
    /// W2: how long to insert.
    pub w2: Duration,
    /// W3: jobs to work.
    pub w3_jobs: u64,
    /// limited: jobs to work and the rate limit (starts per second).
    pub limited: (u64, u32),
    /// W4.
    pub w4: W4Plan,
    /// W5.
    pub w5: W5Plan,
    /// W6.
    pub w6: W6Plan,
    /// W7: numbers of worker processes.
    pub w7_processes: Vec<usize>,
    /// W8: queues.
    pub w8_queues: usize,
    /// W8: how long the idle process is watched.
    pub w8_idle: Duration,
    /// horizon.
    pub horizon: HorizonPlan,
}

impl Plan {
    /// Resolves the options: explicit values win, then the smoke or full defaults.
    pub fn resolve(a: PlanArgs) -> Result<Plan> {
        let s = a.smoke;
        let pick = |given: Option<f64>, smoke: f64, full: f64| given.unwrap_or(if s { smoke } else { full });
        let pick_n =
            |given: Option<u64>, smoke: u64, full: u64| given.unwrap_or(if s { smoke } else { full });
        let mut workloads = a.workloads.unwrap_or_else(|| {
            use Workload::*;
            if s { vec![W1, W2, W3, W4, W5, W6, W7, W8, Horizon] } else { vec![W1, W2, W3, W4, W6] }
        });
        workloads.sort();
        workloads.dedup();
        let plan = Plan {
            db_name: a.db_name,
            schema: a.schema,
            runs: a.runs.unwrap_or(if s { 1 } else { 3 }),
            workloads,
            json: a.json,
            smoke: s,
            sweep: a.sweep,
            sweep_jobs: pick_n(a.sweep_jobs, 5_000, 20_000),
            w1: W1Plan {
                jobs: pick_n(a.w1_jobs, 2_000, 100_000),
                chunk: a.w1_chunk,
                sweep: a
                    .w1_sweep
                    .unwrap_or_else(|| if s { vec![500, 2_000] } else { vec![5_000, 10_000, 100_000] }),
            },
            w2: secs(pick(a.w2_seconds, 1.0, 10.0)),
            w3_jobs: pick_n(a.w3_jobs, 5_000, 100_000),
            limited: (pick_n(a.limited_jobs, 3_000, 20_000), a.limited_rate),
            w4: W4Plan {
                jobs: pick_n(a.w4_jobs, 50, 500),
                rate: a.w4_rate,
                idle: Duration::from_secs(2),
                wait: Duration::from_secs(30),
            },
            w5: W5Plan {
                phase: secs(60.0 * pick(a.w5_minutes, 10.0 / 60.0, 10.0)),
                rate: match (a.w5_rate, s && a.w3_figure.is_none()) {
                    (Some(r), _) => Some((r, "given (--w5-rate)")),
                    (None, true) => Some((500.0, "the --smoke rate")),
                    (None, false) => None,
                },
                w3_figure: a.w3_figure,
                hold: secs(pick(a.w5_hold_seconds, 5.0, 30.0)),
                sample: secs(pick(a.w5_sample_seconds, 1.0, 10.0)),
                fine: Duration::from_secs(1),
            },
            w6: W6Plan {
                backlogs: a
                    .w6_backlogs
                    .unwrap_or_else(|| if s { vec![1_000, 20_000] } else { vec![1_000, 1_000_000] }),
                cap: 200_000,
                seconds: 20.0,
            },
            w7_processes: a.w7_processes.unwrap_or_else(|| if s { vec![1, 2] } else { vec![1, 2, 4, 8] }),
            w8_queues: a.w8_queues.unwrap_or(if s { 10 } else { 100 }),
            w8_idle: secs(pick(None, 2.0, 10.0)),
            horizon: HorizonPlan {
                length: secs(60.0 * pick(a.horizon_minutes, 0.1, 30.0)),
                rate: a.horizon_rate,
                producers: HorizonPlan::PRODUCERS,
                slots: HorizonPlan::SLOTS,
                hold: a.hold,
                hold_reads_jobs: a.hold_reads_jobs,
                sample: secs(pick(a.sample_secs, 1.0, 5.0)),
            },
        };
        plan.check()?;
        Ok(plan)
    }

    /// Rejects sizes that cannot be measured.
    fn check(&self) -> Result<()> {
        if self.runs == 0 || self.workloads.is_empty() {
            bail!("nothing to run: give --runs 1 or more and at least one workload");
        }
        if self.w1.jobs == 0 || self.w1.chunk == 0 || self.w1.sweep.contains(&0) {
            bail!("W1 needs at least one job and batch sizes above zero");
        }
        if self.w3_jobs == 0 || self.sweep_jobs == 0 || self.w4.jobs == 0 {
            bail!("W3, the sweep and W4 need at least one job");
        }
        if self.limited.1 == 0 || self.limited.0 <= u64::from(self.limited.1) {
            bail!("limited needs a rate above zero and more jobs than one second's starts");
        }
        let rates = [
            self.w4.rate,
            self.w5.rate.map_or(1.0, |r| r.0),
            self.w5.w3_figure.unwrap_or(1.0),
            self.horizon.rate,
        ];
        if rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
            bail!("rates (--w4-rate, --w5-rate, --w3-figure, --horizon-rate) must be above zero");
        }
        let h = &self.horizon;
        if h.sample.is_zero() || h.length < h.sample {
            bail!(
                "horizon: --sample-secs must be above zero and the run ({:?}) at least one sample long",
                h.length
            );
        }
        let w5 = &self.w5;
        if w5.sample.is_zero() || w5.hold.is_zero() || w5.hold + 2 * w5.fine >= w5.phase {
            bail!(
                "W5's phase ({:?}) must outlast its held transaction ({:?}) by a few samples; \
                 sample interval and hold must be above zero",
                w5.phase,
                w5.hold
            );
        }
        if self.w6.backlogs.is_empty() || self.w6.backlogs.contains(&0) {
            bail!("W6 needs backlogs above zero");
        }
        if self.w7_processes.is_empty() || self.w7_processes.contains(&0) || self.w8_queues == 0 {
            bail!("W7 needs process counts above zero, W8 at least one queue");
        }
        Ok(())
    }

    /// W1's batch sizes: the compared one first, then the others, each once.
    pub fn w1_chunks(&self) -> Vec<usize> {
        let mut chunks = vec![self.w1.chunk];
        for c in &self.w1.sweep {
            if !chunks.contains(c) {
                chunks.push(*c);
            }
        }
        chunks
    }
}

/// A duration from seconds, clamped to zero .. a year (zero when not a number).
fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_nan() { 0.0 } else { s.clamp(0.0, 365.0 * 86_400.0) })
}
