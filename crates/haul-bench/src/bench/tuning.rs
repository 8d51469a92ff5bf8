//! The worker settings the bench runs with: one set for the workloads, or a grid of them for
//! `--sweep`, and how they become a `WorkerConfig`, a pool, JSON and child-process flags.

use super::observe::Observe;
use anyhow::{Result, bail};
use haul::{Compaction, WorkerConfig};
use serde::Serialize;
use std::time::Duration;

/// The worker flags. Each takes one value, or a comma list with `--sweep`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TuningArgs {
    /// Jobs the worker runs at once (queue concurrency) [default: 3000; sweep: 200,500,1000,2000,5000].
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Most jobs one fetch claims (`with_fetch_batch_max`) [default: 1000; sweep: 200,500,1000].
    #[arg(long, value_delimiter = ',')]
    pub fetch_batch: Vec<usize>,
    /// Claims in flight per queue (`with_fetch_concurrency`) [default: 2; sweep: 2,3].
    #[arg(long, value_delimiter = ',')]
    pub fetch_concurrency: Vec<usize>,
    /// Most outcomes per completion statement (`with_complete_batch_max`) [default: 2000].
    #[arg(long, value_delimiter = ',')]
    pub complete_batch: Vec<usize>,
    /// Completion statements in flight (`with_complete_concurrency`) [default: 1].
    #[arg(long, value_delimiter = ',')]
    pub complete_concurrency: Vec<usize>,
    /// Wait for more free slots before a small fetch, in ms (`with_fetch_cooldown`) [default: 2].
    #[arg(long, value_delimiter = ',')]
    pub fetch_cooldown_ms: Vec<u64>,
    /// Connections in the worker's own pool (LISTEN takes one more) [default: 10].
    #[arg(long, value_delimiter = ',')]
    pub pool: Vec<u32>,
    /// Let the leader compact the jobs table after a held xmin horizon
    /// (`with_compaction(Compaction::VacuumFull)`; the library's default is off).
    #[arg(long)]
    pub compaction: bool,
    /// Poll without LISTEN (`with_poll_only`), as a worker behind PgBouncer in transaction
    /// pooling must.
    #[arg(long)]
    pub poll_only: bool,
    /// Run with the logging middleware, the metrics hook (into a Prometheus recorder) and a
    /// no-op hook: `on` for every worker, `both` for W3 without then with them in each run.
    #[arg(long, value_enum, default_value_t = Observe::Off)]
    pub observe: Observe,
}

/// One set of worker settings.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Tuning {
    /// Queue concurrency.
    pub queue_concurrency: usize,
    /// `WorkerConfig::with_fetch_batch_max`.
    pub fetch_batch_max: usize,
    /// `WorkerConfig::with_fetch_concurrency`.
    pub fetch_concurrency: usize,
    /// `WorkerConfig::with_complete_batch_max`.
    pub complete_batch_max: usize,
    /// `WorkerConfig::with_complete_concurrency`.
    pub complete_concurrency: usize,
    /// `WorkerConfig::with_fetch_cooldown`, in ms.
    pub fetch_cooldown_ms: u64,
    /// `WorkerConfig::with_pool_size`: the worker's own pool.
    pub pool_max: u32,
    /// `WorkerConfig::with_compaction(Compaction::VacuumFull)` when set.
    pub compaction: bool,
    /// `WorkerConfig::with_poll_only`.
    pub poll_only: bool,
    /// Middleware, metrics and hooks ([`Observe`]).
    pub observe: Observe,
}

impl Tuning {
    /// The settings the workloads use unless told otherwise: fetch 1000 × 2 and one completion
    /// statement at a time. Fewer statements in flight, in bigger batches, leave PostgreSQL
    /// less contention on two cores (the sweeps behind this are in git's history of
    /// docs/benchmarks.md).
    pub const DEFAULT: Tuning = Tuning {
        queue_concurrency: 3000,
        fetch_batch_max: 1000,
        fetch_concurrency: 2,
        complete_batch_max: 2000,
        complete_concurrency: 1,
        fetch_cooldown_ms: 2,
        pool_max: 10,
        compaction: false,
        poll_only: false,
        observe: Observe::Off,
    };

    /// The library's configuration for these settings (everything else at its default).
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig::default()
            .with_fetch_batch_max(self.fetch_batch_max)
            .with_fetch_concurrency(self.fetch_concurrency)
            .with_pool_size(self.pool_max)
            .with_complete_batch_max(self.complete_batch_max)
            .with_complete_concurrency(self.complete_concurrency)
            .with_fetch_cooldown(Duration::from_millis(self.fetch_cooldown_ms))
            .with_compaction(if self.compaction { Compaction::VacuumFull } else { Compaction::Off })
            .with_poll_only(self.poll_only)
    }

    /// The flags that give a child `haul-bench rss-worker` these settings.
    pub fn child_flags(&self) -> Vec<String> {
        [
            ("--concurrency", self.queue_concurrency.to_string()),
            ("--fetch-batch", self.fetch_batch_max.to_string()),
            ("--fetch-concurrency", self.fetch_concurrency.to_string()),
            ("--complete-batch", self.complete_batch_max.to_string()),
            ("--complete-concurrency", self.complete_concurrency.to_string()),
            ("--fetch-cooldown-ms", self.fetch_cooldown_ms.to_string()),
            ("--pool", self.pool_max.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .chain(self.compaction.then(|| "--compaction".to_owned()))
        .chain(self.poll_only.then(|| "--poll-only".to_owned()))
        .chain(
            (self.observe == Observe::On)
                .then(|| ["--observe".to_owned(), "on".to_owned()])
                .into_iter()
                .flatten(),
        )
        .collect()
    }

    /// A short label for tables: `conc 200 · fetch 200×2 · complete 200×2 · cooldown 2 ms · pool 10`
    /// (and `· observe on`, `· poll only` when so).
    pub fn label(&self) -> String {
        let observe = match self.observe {
            Observe::Off => "",
            Observe::On => " · observe on",
            Observe::Both => " · W3 observe off+on",
        };
        let poll = if self.poll_only { " · poll only" } else { "" };
        format!(
            "conc {} · fetch {}×{} · complete {}×{} · cooldown {} ms · pool {}{poll}{observe}",
            self.queue_concurrency,
            self.fetch_batch_max,
            self.fetch_concurrency,
            self.complete_batch_max,
            self.complete_concurrency,
            self.fetch_cooldown_ms,
            self.pool_max
        )
    }

    /// These settings with observability `observe`.
    pub fn with_observe(self, observe: Observe) -> Tuning {
        Tuning { observe, ..self }
    }
}

impl TuningArgs {
    /// The one set of settings the flags give; several values need `--sweep`.
    pub fn single(&self) -> Result<Tuning> {
        match self.grid(false)?.as_slice() {
            [one] => Ok(*one),
            _ => bail!("the worker flags take one value each unless --sweep is given"),
        }
    }

    /// Every combination of the flags' values; with `sweep`, flags not given take the sweep's lists.
    pub fn grid(&self, sweep: bool) -> Result<Vec<Tuning>> {
        let d = Tuning::DEFAULT;
        let pick = |given: &[usize], swept: &[usize], one: usize| -> Vec<usize> {
            match (given.is_empty(), sweep) {
                (false, _) => given.to_vec(),
                (true, true) => swept.to_vec(),
                (true, false) => vec![one],
            }
        };
        let conc = pick(&self.concurrency, &[200, 500, 1000, 2000, 5000], d.queue_concurrency);
        let fetch = pick(&self.fetch_batch, &[200, 500, 1000], d.fetch_batch_max);
        let fetch_conc = pick(&self.fetch_concurrency, &[2, 3], d.fetch_concurrency);
        let complete = pick(&self.complete_batch, &[d.complete_batch_max], d.complete_batch_max);
        let complete_conc =
            pick(&self.complete_concurrency, &[d.complete_concurrency], d.complete_concurrency);
        let pool: Vec<usize> = self.pool.iter().map(|&p| p as usize).collect();
        let pool = pick(&pool, &[d.pool_max as usize], d.pool_max as usize);
        if [&conc, &fetch, &fetch_conc, &complete, &complete_conc, &pool].iter().any(|v| v.contains(&0)) {
            bail!("worker settings must be above zero (only --fetch-cooldown-ms may be 0)");
        }
        let cooldown = if self.fetch_cooldown_ms.is_empty() {
            vec![d.fetch_cooldown_ms]
        } else {
            self.fetch_cooldown_ms.clone()
        };
        let mut grid = vec![Tuning {
            compaction: self.compaction,
            poll_only: self.poll_only,
            observe: self.observe,
            ..d
        }];
        grid = expand(grid, &conc, |t, v| t.queue_concurrency = v);
        grid = expand(grid, &fetch, |t, v| t.fetch_batch_max = v);
        grid = expand(grid, &fetch_conc, |t, v| t.fetch_concurrency = v);
        grid = expand(grid, &complete, |t, v| t.complete_batch_max = v);
        grid = expand(grid, &complete_conc, |t, v| t.complete_concurrency = v);
        grid = expand(grid, &cooldown, |t, v| t.fetch_cooldown_ms = v);
        grid = expand(grid, &pool, |t, v| t.pool_max = v as u32);
        Ok(grid)
    }
}

/// Each setting of `grid` once per value, with `set` applying the value.
fn expand<T: Copy>(grid: Vec<Tuning>, values: &[T], set: impl Fn(&mut Tuning, T)) -> Vec<Tuning> {
    let mut out = Vec::with_capacity(grid.len() * values.len());
    for t in grid {
        for &v in values {
            let mut t = t;
            set(&mut t, v);
            out.push(t);
        }
    }
    out
}
