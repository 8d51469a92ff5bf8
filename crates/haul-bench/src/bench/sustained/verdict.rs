//! W5's judgements: the trend of table size and latencies over a phase (least-squares slope),
//! the baseline before the held transaction (median of its samples), and how long after the
//! commit each figure is back near that baseline.

use super::sampler::Sample;
use crate::bench::stats::{median, mib, round2, slope};
use serde::Serialize;

/// "Back" means within this share of the baseline...
pub const BACK_SHARE: f64 = 0.2;
/// ...or, for pickup P99, within this many ms of it (1 s samples of P99 are noisy)...
pub const BACK_LATENCY_FLOOR_MS: f64 = 1.0;
/// ...for this many samples in a row (or until the phase ends).
pub const BACK_RUN: usize = 3;
/// The first share of a phase is warm-up, left out of trends.
const WARMUP_SHARE: f64 = 0.1;

/// The rule, for the record.
pub fn back_rule() -> String {
    format!(
        "back = within {:.0}% of the baseline (pickup P99: or within {BACK_LATENCY_FLOOR_MS} ms; \
         table size and P99 only above it count) for {BACK_RUN} samples in a row; \
         baseline = median of the samples before the held transaction, the first left out as warm-up",
        BACK_SHARE * 100.0
    )
}

/// The pre-hold medians.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Baseline {
    /// Samples the medians are taken over.
    pub samples: usize,
    /// Jobs completed per second.
    pub completed_per_s: f64,
    /// Pickup P99, ms.
    pub pickup_p99_ms: Option<f64>,
    /// Mean fetch time, ms.
    pub fetch_mean_ms: Option<f64>,
    /// Table size, bytes.
    pub table_bytes: f64,
}

/// Seconds from the commit until each figure is back (`None`: not back by the phase's end).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Recovery {
    /// Completed jobs/s.
    pub throughput_s: Option<f64>,
    /// Pickup P99.
    pub pickup_p99_s: Option<f64>,
    /// Mean fetch time.
    pub fetch_mean_s: Option<f64>,
    /// Table size.
    pub table_size_s: Option<f64>,
    /// Table size at the end of the phase as a multiple of the baseline.
    pub table_end_vs_baseline: f64,
}

/// Slopes per minute over a phase (warm-up left out) and what they amount to.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    /// Samples fitted.
    pub samples: usize,
    /// Table size, MiB per minute.
    pub table_mib_per_min: f64,
    /// Dead tuples per minute.
    pub dead_tuples_per_min: f64,
    /// Interval mean fetch time, ms per minute.
    pub fetch_mean_ms_per_min: f64,
    /// Interval pickup P99, ms per minute.
    pub pickup_p99_ms_per_min: f64,
    /// `flat`, `growing` or `shrinking`.
    pub table: &'static str,
    /// Same for the interval mean fetch time.
    pub fetch_mean: &'static str,
    /// Same for the pickup P99.
    pub pickup_p99: &'static str,
}

impl Trend {
    /// Whether nothing grows.
    pub fn stable(&self) -> bool {
        [self.table, self.fetch_mean, self.pickup_p99].iter().all(|&s| s != "growing")
    }

    /// `table size flat (+0.01 MiB/min), fetch mean flat (...), pickup P99 flat (...) → stable`.
    pub fn line(&self) -> String {
        format!(
            "table size {} ({:+.2} MiB/min), fetch mean {} ({:+.3} ms/min), pickup P99 {} \
             ({:+.3} ms/min), dead tuples {:+.0}/min → {} (least-squares fit over {} samples, warm-up left out)",
            self.table,
            self.table_mib_per_min,
            self.fetch_mean,
            self.fetch_mean_ms_per_min,
            self.pickup_p99,
            self.pickup_p99_ms_per_min,
            self.dead_tuples_per_min,
            if self.stable() { "stable" } else { "GROWING" },
            self.samples
        )
    }
}

/// The trend of a phase's samples.
pub fn trend(samples: &[Sample]) -> Trend {
    let end = samples.last().map_or(0.0, |s| s.t_s);
    let mut fit: Vec<&Sample> = samples.iter().filter(|s| s.start_s() >= end * WARMUP_SHARE).collect();
    if fit.len() < 2 {
        fit = samples.iter().collect();
    }
    let span_min = (fit.last().map_or(0.0, |s| s.t_s) - fit.first().map_or(0.0, |s| s.start_s())) / 60.0;
    let per_min = |f: &dyn Fn(&Sample) -> Option<f64>| {
        let points: Vec<(f64, f64)> = fit.iter().filter_map(|s| f(s).map(|y| (s.t_s / 60.0, y))).collect();
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        (slope(&points), median(&values))
    };
    let (table, table_mid) = per_min(&|s| Some(mib(s.table_bytes as f64)));
    let (dead, _) = per_min(&|s| Some(s.dead_tuples as f64));
    let (fetch, fetch_mid) = per_min(&|s| s.fetch_mean_ms);
    let (pickup, pickup_mid) = per_min(&|s| s.pickup_p99_ms);
    let judge = |per_min: f64, mid: f64, floor: f64| {
        let growth = per_min * span_min;
        let band = (BACK_SHARE * mid.abs()).max(floor);
        if growth.is_nan() || growth.abs() <= band {
            "flat"
        } else if growth > 0.0 {
            "growing"
        } else {
            "shrinking"
        }
    };
    Trend {
        samples: fit.len(),
        table_mib_per_min: round2(table),
        dead_tuples_per_min: dead.round(),
        fetch_mean_ms_per_min: (fetch * 1000.0).round() / 1000.0,
        pickup_p99_ms_per_min: (pickup * 1000.0).round() / 1000.0,
        table: judge(table, table_mid, 1.0),
        fetch_mean: judge(fetch, fetch_mid, BACK_LATENCY_FLOOR_MS),
        pickup_p99: judge(pickup, pickup_mid, BACK_LATENCY_FLOOR_MS),
    }
}

/// The medians of the samples that ended before the hold began (the first left out when
/// enough remain).
pub fn baseline(samples: &[Sample], hold_begin_s: f64) -> Option<Baseline> {
    let before: Vec<&Sample> = samples.iter().filter(|s| s.t_s <= hold_begin_s + 0.05).collect();
    let before = if before.len() >= 3 { &before[1..] } else { &before[..] };
    if before.is_empty() {
        return None;
    }
    let p99: Vec<f64> = before.iter().filter_map(|s| s.pickup_p99_ms).collect();
    let fetch: Vec<f64> = before.iter().filter_map(|s| s.fetch_mean_ms).collect();
    Some(Baseline {
        samples: before.len(),
        completed_per_s: median(&before.iter().map(|s| s.completed_per_s).collect::<Vec<_>>()),
        pickup_p99_ms: (!p99.is_empty()).then(|| median(&p99)),
        fetch_mean_ms: (!fetch.is_empty()).then(|| median(&fetch)),
        table_bytes: median(&before.iter().map(|s| s.table_bytes as f64).collect::<Vec<_>>()),
    })
}

/// How long after `commit_s` each figure is back near `base`.
pub fn recovery(samples: &[Sample], base: &Baseline, commit_s: f64) -> Recovery {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.start_s() >= commit_s - 0.05).collect();
    let within = |x: f64, b: f64| (x - b).abs() <= BACK_SHARE * b;
    let not_above = |x: f64, b: f64, floor: f64| x <= b + (BACK_SHARE * b).max(floor);
    let back = |ok: &dyn Fn(&Sample) -> bool| first_back(&after, commit_s, ok);
    let p99_base = base.pickup_p99_ms;
    let end_size = samples.last().map_or(f64::NAN, |s| s.table_bytes as f64);
    Recovery {
        throughput_s: back(&|s| within(s.completed_per_s, base.completed_per_s)),
        pickup_p99_s: back(&|s| match (s.pickup_p99_ms, p99_base) {
            (Some(x), Some(b)) => not_above(x, b, BACK_LATENCY_FLOOR_MS),
            (None, _) | (_, None) => true, // nothing picked up to judge: no latency to be late
        }),
        fetch_mean_s: back(&|s| match (s.fetch_mean_ms, base.fetch_mean_ms) {
            (Some(x), Some(b)) => not_above(x, b, BACK_LATENCY_FLOOR_MS),
            (None, _) | (_, None) => true,
        }),
        table_size_s: back(&|s| not_above(s.table_bytes as f64, base.table_bytes, 0.0)),
        table_end_vs_baseline: round2(end_size / base.table_bytes),
    }
}

/// Seconds from `commit_s` to the start of the first sample that begins a run of
/// [`BACK_RUN`] good samples (or good samples to the end).
fn first_back(after: &[&Sample], commit_s: f64, ok: &dyn Fn(&Sample) -> bool) -> Option<f64> {
    (0..after.len())
        .find(|&i| after[i..].iter().take(BACK_RUN).all(|s| ok(s)))
        .map(|i| round2((after[i].start_s() - commit_s).max(0.0)))
}

/// `2.0 s`, or `not back by the end` for a missing recovery.
pub fn seconds_or_never(s: Option<f64>) -> String {
    s.map_or("not back by the end".to_owned(), |s| format!("{s:.0} s"))
}
