//! The held-horizon run's text: one table row per sample, and the samples at minute 1, 5, 10
//! and 30 (and the last) with the table's growth per job done by then.

use super::sampler::Sample;
use crate::bench::stats::{mib, rate, round2, thousands};
use serde::Serialize;

/// The minutes whose samples the summary repeats (those the run reaches).
pub const MARK_MINUTES: [u32; 4] = [1, 5, 10, 30];

/// The sample at a minute mark (or the run's end) and the growth to it.
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    /// `1 min`, `5 min`, ... or `end`.
    pub at: String,
    /// Bytes the jobs table grew since the run began, per job completed by then.
    pub growth_bytes_per_job: Option<f64>,
    /// The sample ending there.
    pub sample: Sample,
}

/// The samples ending at each reached minute of [`MARK_MINUTES`] and the last one; growth
/// counts from `size0`, the table's size before the run.
pub fn marks(samples: &[Sample], size0: i64) -> Vec<Mark> {
    let mark = |at: String, s: &Sample| Mark {
        at,
        growth_bytes_per_job: (s.completed > 0)
            .then(|| round2((s.table_bytes - size0) as f64 / s.completed as f64)),
        sample: s.clone(),
    };
    let mut out: Vec<Mark> = MARK_MINUTES
        .iter()
        .filter_map(|&m| {
            let t = f64::from(m) * 60.0;
            let s = samples.iter().find(|s| (s.t_s - t).abs() <= s.interval_s / 2.0)?;
            Some(mark(format!("{m} min"), s))
        })
        .collect();
    if let Some(last) = samples.last()
        && out.last().is_none_or(|m| m.sample.t_s != last.t_s)
    {
        out.push(mark("end".into(), last));
    }
    out
}

/// The header of the table of samples.
pub fn header() -> String {
    format!(
        "  {:>7} {:>6} {:>6} {:>6} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8} {:>9} {:>10} {:>10} {:>7}",
        "t s",
        "enq/s",
        "deq/s",
        "done/s",
        "avail",
        "run",
        "pick p50",
        "pick p99",
        "pick max",
        "claim ms",
        "table MiB",
        "dead tup",
        "xmin age",
        "xact s"
    )
}

/// One sample as a table row.
pub fn row(s: &Sample) -> String {
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    format!(
        "  {:>7.1} {:>6} {:>6} {:>6} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8} {:>9.2} {:>10} {:>10} {:>7.0}",
        s.t_s,
        rate(s.enqueued_per_s),
        rate(s.dequeued_per_s),
        rate(s.completed_per_s),
        s.available,
        s.running,
        ms(s.pickup_p50_ms),
        ms(s.pickup_p99_ms),
        ms(s.pickup_max_ms),
        ms(s.fetch_mean_ms),
        mib(s.table_bytes as f64),
        thousands(s.dead_tuples.max(0) as u64),
        thousands(s.xmin_age.max(0) as u64),
        s.oldest_xact_s
    )
}

/// The table: header, a row per sample, and what the columns mean.
pub fn table(samples: &[Sample]) -> Vec<String> {
    let mut out = vec![header()];
    out.extend(samples.iter().map(row));
    out.push(FOOTNOTE.into());
    out
}

/// The summary's lines: a header and one row per mark with its growth per job.
pub fn mark_lines(marks: &[Mark]) -> Vec<String> {
    // the table's columns, after the mark's own
    let mut out = vec![format!("  {:>6}{} {:>7}", "at", header(), "B/job")];
    out.extend(marks.iter().map(|m| {
        let growth = m.growth_bytes_per_job.map_or("–".to_owned(), |g| format!("{g:.0}"));
        format!("  {:>6}{} {growth:>7}", m.at, row(&m.sample))
    }));
    out
}

/// What the columns mean.
const FOOTNOTE: &str = "  (per interval: enq/s = jobs sent, deq/s = handler starts, done/s = completions; \
pick = insert call → handler start, ms; claim ms = mean claim statement; at its end: avail and \
run = jobs available and running, table = pg_total_relation_size, dead tup = n_dead_tup, xmin \
age and xact s = the oldest snapshot of another session, in transactions and seconds; B/job = \
table growth since the start per job done)";

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample at `t_s` with the table at `bytes` after `completed` jobs.
    fn at(t_s: f64, bytes: i64, completed: u64) -> Sample {
        Sample {
            t_s,
            interval_s: 5.0,
            enqueued_per_s: 800.0,
            dequeued_per_s: 800.0,
            completed_per_s: 800.0,
            enqueued: completed,
            completed,
            available: 0,
            running: 0,
            pickup_n: 0,
            pickup_p50_ms: None,
            pickup_p99_ms: None,
            pickup_max_ms: None,
            pickup_stale: 0,
            claims_per_s: 0.0,
            fetch_mean_ms: None,
            table_bytes: bytes,
            dead_tuples: 0,
            xmin_age: 0,
            oldest_xact_s: 0.0,
        }
    }

    #[test]
    fn marks_pick_the_reached_minutes_and_the_end() {
        let samples: Vec<Sample> = (1..=130u32)
            .map(|i| at(5.0 * f64::from(i), 1000 + i64::from(i) * 400, u64::from(i) * 4))
            .collect();
        let m = marks(&samples, 1000);
        let names: Vec<&str> = m.iter().map(|m| m.at.as_str()).collect();
        assert_eq!(names, ["1 min", "5 min", "10 min", "end"]);
        assert_eq!(m[0].sample.t_s, 60.0);
        assert_eq!(m[0].growth_bytes_per_job, Some(100.0));
        assert_eq!(m[3].sample.t_s, 650.0);
    }

    #[test]
    fn a_run_ending_on_a_mark_lists_it_once() {
        let samples: Vec<Sample> = (1..=12u32).map(|i| at(5.0 * f64::from(i), 0, 0)).collect();
        let m = marks(&samples, 0);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].at.as_str(), m[0].growth_bytes_per_job), ("1 min", None));
    }
}
