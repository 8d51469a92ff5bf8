//! The end of a bench: every outcome kept, failed checks gathered, and (with several runs) a
//! summary in the peers' style: median (min–max, n).

use super::plan::Workload;
use super::record::{Outcome, Recorder};
use super::stats::{median, rate};

/// Every outcome of the invocation.
#[derive(Default)]
pub struct Tally {
    outcomes: Vec<Outcome>,
}

impl Tally {
    /// Keeps an outcome.
    pub fn add(&mut self, outcome: Outcome) {
        self.outcomes.push(outcome);
    }

    /// Every failed check, in order.
    pub fn problems(&self) -> Vec<String> {
        self.outcomes.iter().flat_map(|o| o.problems.iter().cloned()).collect()
    }

    /// The median W3 jobs/s, if W3 ran.
    pub fn w3_median(&self) -> Option<f64> {
        let v = self.values(Workload::W3, "jobs_per_s");
        (!v.is_empty()).then(|| median(&v))
    }

    /// Prints the medians when some workload ran more than once.
    pub fn print(&self, out: &Recorder) {
        let several = [Workload::W1, Workload::W2, Workload::W3, Workload::W4, Workload::W6]
            .iter()
            .any(|&w| self.outcomes.iter().filter(|o| o.workload == w).count() > 1);
        if !several {
            return;
        }
        out.say("\nSummary: median (min–max, n runs)");
        let rows = [
            (Workload::W1, "jobs_per_s", "W1 bulk enqueue jobs/s", 0),
            (Workload::W1, "best_jobs_per_s", "W1 best batch size jobs/s", 0),
            (Workload::W2, "jobs_per_s", "W2 single enqueue jobs/s", 0),
            (Workload::W3, "jobs_per_s", "W3 work jobs/s", 0),
            (Workload::W4, "p50_ms", "W4 p50 ms", 2),
            (Workload::W4, "p95_ms", "W4 p95 ms", 2),
            (Workload::W4, "p99_ms", "W4 p99 ms", 2),
            (Workload::W6, "diff_hwm_mib", "W6 peak RSS difference MiB", 1),
        ];
        for (w, key, label, digits) in rows {
            let v = self.values(w, key);
            if !v.is_empty() {
                out.say(&format!("  {label}: {}", spread(&v, digits)));
            }
        }
    }

    /// The numbers under `key` in every outcome of `w`.
    fn values(&self, w: Workload, key: &str) -> Vec<f64> {
        self.outcomes.iter().filter(|o| o.workload == w).filter_map(|o| o.number(key)).collect()
    }
}

/// `median (min–max, n=3)`, with `digits` decimals (0: thousands separators).
fn spread(v: &[f64], digits: usize) -> String {
    let f = |x: f64| if digits == 0 { rate(x) } else { format!("{x:.digits$}") };
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    format!("{} ({}–{}, n={})", f(median(v)), f(lo), f(hi), v.len())
}
