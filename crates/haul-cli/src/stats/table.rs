//! The `haul stats` table: a line per queue with its kinds beneath, then the total; counts
//! that are estimates carry `~`, and a dash stands for "nothing to measure".

use crate::escape::escaped;
use haul::{JobState, Percentiles, Stats, StatsRow};
use std::fmt::Write;
use std::time::Duration;

const HEAD: [&str; 12] = [
    "available",
    "running",
    "scheduled",
    "retryable",
    "dead",
    "oldest",
    "done/s",
    "error%",
    "run p50",
    "p95",
    "p99",
    "wait p95",
];

/// The whole table, header first.
pub fn render(stats: &Stats) -> String {
    let mut out = String::new();
    let depth = if stats.estimated.is_empty() { "exact".to_owned() } else { estimated(stats) };
    let _ = writeln!(
        out,
        "haul stats · {} · window {} (since {}) · depth {depth}\n",
        stats.at.format("%F %T UTC"),
        human(stats.window),
        stats.since.format("%T"),
    );
    let cells: Vec<String> = HEAD.iter().map(|h| format!("{h:>10}")).collect();
    let _ = writeln!(out, "{:<32}{}", "queue / kind", cells.concat());
    if stats.queues.is_empty() {
        let _ = writeln!(out, "(no jobs, and no attempts in the window)");
    }
    for q in &stats.queues {
        line(&mut out, stats, &escaped(q.queue.as_deref().unwrap_or("")), q);
        for k in stats.rows.iter().filter(|r| r.queue == q.queue) {
            line(&mut out, stats, &format!("  {}", escaped(k.kind.as_deref().unwrap_or(""))), k);
        }
    }
    line(&mut out, stats, "total", &stats.total);
    out
}

fn estimated(stats: &Stats) -> String {
    let states: Vec<&str> = stats.estimated.iter().map(|s| s.as_str()).collect();
    format!("~ estimated from a sample for {}", states.join(", "))
}

fn line(out: &mut String, stats: &Stats, label: &str, r: &StatsRow) {
    let count = |s: JobState| {
        let mark = if stats.estimated.contains(&s) { "~" } else { "" };
        format!("{mark}{}", r.depth.get(s))
    };
    let cells = [
        count(JobState::Available),
        count(JobState::Running),
        count(JobState::Scheduled),
        count(JobState::Retryable),
        count(JobState::Discarded),
        r.oldest_available.map_or("-".into(), human),
        format!("{:.1}", r.throughput),
        r.error_rate.map_or("-".into(), |e| format!("{:.1}", e * 100.0)),
        pct(r.run_time, |p| p.p50),
        pct(r.run_time, |p| p.p95),
        pct(r.run_time, |p| p.p99),
        pct(r.queue_wait, |p| p.p95),
    ];
    let cells: Vec<String> = cells.iter().map(|c| format!("{c:>10}")).collect();
    let _ = writeln!(out, "{label:<32}{}", cells.concat());
}

fn pct(p: Option<Percentiles>, f: impl Fn(&Percentiles) -> Duration) -> String {
    p.as_ref().map_or("-".into(), |p| human(f(p)))
}

/// A duration as a person reads it: `850µs`, `12.3ms`, `4.2s`, `3m05s`, `2h10m`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    match s {
        s if s < 1e-3 => format!("{:.0}µs", s * 1e6),
        s if s < 1.0 => format!("{:.1}ms", s * 1e3),
        s if s < 60.0 => format!("{s:.1}s"),
        s if s < 3600.0 => format!("{}m{:02}s", s as u64 / 60, s as u64 % 60),
        s => format!("{}h{:02}m", s as u64 / 3600, s as u64 % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::human;
    use std::time::Duration;

    #[test]
    fn durations_read_at_a_glance() {
        let cases =
            [(0.00085, "850µs"), (0.0123, "12.3ms"), (4.24, "4.2s"), (185.0, "3m05s"), (7800.0, "2h10m")];
        for (secs, want) in cases {
            assert_eq!(human(Duration::from_secs_f64(secs)), want);
        }
    }
}
