//! How `haul jobs` and `haul dead` print jobs: one line each (long values cut), in detail
//! with every attempt's error, or as JSON (one object per job and line). Every piece of job
//! data is escaped on a terminal, since anyone who can write the table chooses it; args and
//! metadata appear only when asked for.

use crate::escape::escaped;
use haul::{JobRow, QueueDepth, WaitingOn};

/// The most characters of a value a listing line shows.
const CELL_MAX: usize = 24;
/// The most characters of args or an error a listing shows.
const TEXT_MAX: usize = 120;

/// How to print jobs.
#[derive(Clone, Copy)]
pub struct Style {
    /// With args and metadata.
    pub show_args: bool,
    /// As JSON lines.
    pub json: bool,
    /// Text with tags and errors under each line.
    pub detailed: bool,
}

/// Every job in `style`, or `empty` on stderr when none.
pub fn rows(jobs: &[JobRow], empty: &str, style: Style) {
    if jobs.is_empty() {
        eprintln!("{empty}");
    }
    for j in jobs {
        match style {
            Style { json: true, .. } => println!("{}", json(j, style.show_args)),
            Style { detailed: true, .. } => detail(j, style.show_args, TEXT_MAX),
            _ => line(j, style.show_args),
        }
    }
}

/// One job with every attempt's error in full, and the jobs it waits on.
pub fn one(j: &JobRow, waits_on: &[WaitingOn], show_args: bool, as_json: bool) {
    if as_json {
        let mut v = json(j, show_args);
        v["waits_on"] = serde_json::to_value(waits_on).expect("JSON");
        v["saga"] = saga_of(j)
            .map_or(serde_json::Value::Null, |(saga, step)| serde_json::json!({"id": saga, "step": step}));
        println!("{v}");
        return;
    }
    detail(j, show_args, usize::MAX);
    workflow(j, waits_on);
}

/// The saga and step (from 0) a job is part of, from its metadata.
fn saga_of(j: &JobRow) -> Option<(i64, i64)> {
    let s = j.metadata.get("haul:saga")?;
    Some((s.get("id")?.as_i64()?, s.get("step")?.as_i64()?))
}

/// The workflow a job is part of: its saga step and what it waits on.
fn workflow(j: &JobRow, waits_on: &[WaitingOn]) {
    if let Some((saga, step)) = saga_of(j) {
        println!("    saga     {saga}, step {step} (haul sagas show {saga})");
    }
    if !waits_on.is_empty() {
        let each: Vec<String> = waits_on
            .iter()
            .map(|w| format!("{} ({})", w.id, w.state.map_or("completed, deleted", |s| s.as_str())))
            .collect();
        println!("    waits on {}", each.join(", "));
    }
}

/// The row as JSON, without args and metadata unless `show_args`.
fn json(j: &JobRow, show_args: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(j).expect("a job row is JSON");
    if !show_args && let Some(o) = v.as_object_mut() {
        o.remove("args");
        o.remove("metadata");
    }
    v
}

/// Each queue's count per state, or "no jobs" on stderr when the table is empty.
pub fn depths(depths: &[QueueDepth], as_json: bool) {
    if depths.is_empty() {
        eprintln!("no jobs");
    }
    for d in depths {
        if as_json {
            println!("{}", serde_json::json!({"queue": d.queue, "state": d.state, "count": d.count}));
        } else {
            println!("{:<24} {:<10} {:>10}", cut(&d.queue, CELL_MAX), d.state, d.count);
        }
    }
}

fn line(j: &JobRow, show_args: bool) {
    println!(
        "{:>10} {:<24} {:<16} {:<10} attempt {}/{}  run_at {}",
        j.id,
        cut(&j.kind, CELL_MAX),
        cut(&j.queue, 16),
        j.state,
        j.attempt,
        j.max_attempts,
        j.run_at.format("%F %T")
    );
    if show_args {
        println!("    args     {}", cut(&j.args.to_string(), TEXT_MAX));
    }
}

fn detail(j: &JobRow, show_args: bool, max: usize) {
    line(j, false);
    if show_args {
        println!("    args     {}", cut(&j.args.to_string(), max));
        println!("    metadata {}", cut(&j.metadata.to_string(), max));
    }
    if !j.tags.is_empty() {
        println!("    tags     {}", cut(&j.tags.join(", "), max));
    }
    if let Some(batch) = j.batch_id {
        println!("    batch    {batch} (haul batches show {batch})");
    }
    for e in &j.errors {
        let at = e.at.format("%F %T%.3f");
        println!("    attempt {} at {at} [{}]: {}", e.attempt, e.class.as_str(), cut(&e.error, max));
    }
}

/// `s` escaped, cut to `max` characters with `…` when longer.
fn cut(s: &str, max: usize) -> String {
    let s = escaped(s);
    if s.chars().count() <= max {
        return s.into_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn long_values_are_cut_after_escaping() {
        assert_eq!(cut("short", 24), "short");
        assert_eq!(cut("abcdefghij", 5), "abcd…");
        assert_eq!(cut("a\nb", 3), r"a\…");
    }
}
