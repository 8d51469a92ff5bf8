//! How `haul jobs` prints jobs: one line each, or in detail with their errors; every piece of
//! job data escaped, since anyone who can write the table chooses it.

use crate::escape::escaped;
use haul::{JobRow, QueueDepth};

/// One line per job (`detailed`: with tags and errors), or `empty` on stderr when none.
pub fn rows(jobs: &[JobRow], empty: &str, detailed: bool) {
    if jobs.is_empty() {
        eprintln!("{empty}");
    }
    for j in jobs {
        if detailed { detail(j, false) } else { line(j) }
    }
}

/// Each queue's count per state, or "no jobs" on stderr when the table is empty.
pub fn depths(depths: &[QueueDepth]) {
    if depths.is_empty() {
        eprintln!("no jobs");
    }
    for d in depths {
        println!("{:<24} {:<10} {:>10}", escaped(&d.queue), d.state, d.count);
    }
}

pub fn line(j: &JobRow) {
    println!(
        "{:>10} {:<24} {:<16} {:<10} attempt {}/{}  run_at {}",
        j.id,
        escaped(&j.kind),
        escaped(&j.queue),
        j.state,
        j.attempt,
        j.max_attempts,
        j.run_at.format("%F %T")
    );
}

pub fn detail(j: &JobRow, show_args: bool) {
    line(j);
    if show_args {
        println!("    args     {}", escaped(&j.args.to_string()));
        println!("    metadata {}", escaped(&j.metadata.to_string()));
    }
    if !j.tags.is_empty() {
        println!("    tags     {}", escaped(&j.tags.join(", ")));
    }
    for e in &j.errors {
        println!(
            "    attempt {} at {} [{}]: {}",
            e.attempt,
            e.at.format("%F %T%.3f"),
            e.class.as_str(),
            escaped(&e.error)
        );
    }
}
