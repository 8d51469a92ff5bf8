//! W5's time series as a text table, one row per sample.

use super::sampler::Sample;
use crate::bench::stats::{mib, rate, thousands};

/// The table's lines: a header, one row per sample, and a footnote.
pub fn lines(samples: &[Sample]) -> Vec<String> {
    let mut out = vec![format!(
        "  {:>7} {:>5} {:>8} {:>8} {:>9} {:>9} {:>6} {:>8} {:>10} {:>10} {:>9} {:>9} {:>8} {:>6} {:>8}  note",
        "t s",
        "int s",
        "done/s",
        "sent/s",
        "pick p50",
        "pick p99",
        "stale",
        "fetches",
        "fetch avg",
        "fetch p99*",
        "table MiB",
        "dead tup",
        "backlog",
        "ins/s",
        "claims/s"
    )];
    out.extend(samples.iter().map(row));
    out.push(
        "  (pick = insert call → handler start, per interval, ms; fetch avg = mean claim statement, per interval, ms; * = ms, cumulative since the worker started; ins/s = the producer's insert calls per second; claims/s = fetch statements per second)"
            .into(),
    );
    out
}

/// One sample as a table row.
fn row(s: &Sample) -> String {
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    format!(
        "  {:>7.1} {:>5.1} {:>8} {:>8} {:>9} {:>9} {:>6} {:>8} {:>10} {:>10.2} {:>9.2} {:>9} {:>8} {:>6.0} {:>8.0}  {}",
        s.t_s,
        s.interval_s,
        rate(s.completed_per_s),
        rate(s.produced_per_s),
        ms(s.pickup_p50_ms),
        ms(s.pickup_p99_ms),
        s.pickup_stale,
        thousands(s.fetches),
        ms(s.fetch_mean_ms),
        s.fetch_p99_ms,
        mib(s.table_bytes as f64),
        thousands(s.dead_tuples.max(0) as u64),
        s.backlog,
        s.inserts_per_s,
        s.claims_per_s,
        s.note
    )
}
