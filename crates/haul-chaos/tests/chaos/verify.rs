//! The verdict on one scenario, read from the database after the chaos: no job lost, none left
//! running, no finished job changed, and executions explained: every execution beyond one per
//! job belongs to an attempt a fault caught in flight (none at all with transactional
//! completion), and none belongs to an attempt later than the one that completed the job.

use crate::store::{Attempt, FinishedRow, Store};
use crate::tracker::Faults;
use anyhow::Result;
use haul_chaos::Mode;
use std::collections::HashMap;
use std::time::Duration;

/// The figures of one scenario.
#[derive(Debug, Default)]
pub struct Tally {
    /// Rows in the jobs table.
    pub jobs: i64,
    /// Jobs inserted but not completed (missing, or stuck in another state).
    pub lost: i64,
    /// Rows still running.
    pub running_left: i64,
    /// Finished rows that changed after they finished.
    pub refinalized: usize,
    /// Executions beyond one per job.
    pub duplicates: usize,
    /// Attempts caught in flight by the faults: the most duplicates allowed (plain mode).
    pub allowed: usize,
    /// Jobs with more executions than one plus their attempts caught in flight.
    pub unexplained: Vec<i64>,
    /// Executions by an attempt later than the one that completed the job.
    pub late: usize,
    /// Executions of jobs that are not in the table.
    pub orphans: usize,
    /// Completed jobs whose completing attempt recorded no execution.
    pub unrecorded: i64,
    /// Transactional mode: jobs without exactly one execution, by the completing attempt.
    pub not_exactly_once: usize,
}

impl Tally {
    /// Reads the figures; `known` are the ids the feeder was given.
    pub async fn read(store: &Store, known: &[i64], faults: &Faults) -> Result<Self> {
        let census = store.census().await?;
        let mut tally = Tally {
            jobs: census.total,
            // unknown rows (a batch whose commit reply was lost) must complete too
            lost: store.lost(known).await?.max(census.total - census.completed),
            running_left: census.running,
            allowed: faults.attempts(),
            unrecorded: store.completed_unrecorded().await?,
            ..Tally::default()
        };
        tally.count_executions(store.executions().await?, faults);
        Ok(tally)
    }

    /// Counts duplicates, late and unexplained executions, and (for transactional mode) jobs
    /// not executed exactly once by their completing attempt.
    fn count_executions(&mut self, rows: Vec<(i64, i16, Option<i16>, Option<String>)>, faults: &Faults) {
        let mut by_job: HashMap<i64, (Vec<i16>, i16)> = HashMap::new();
        for (id, attempt, final_attempt, _state) in rows {
            let Some(final_attempt) = final_attempt else {
                self.orphans += 1;
                continue;
            };
            by_job.entry(id).or_insert_with(|| (Vec::new(), final_attempt)).0.push(attempt);
        }
        for (id, (attempts, final_attempt)) in &by_job {
            let caught = faults.in_flight.get(id);
            let in_flight = |a: &i16| caught.is_some_and(|c| c.contains(a));
            let extra = attempts.len() - 1;
            self.duplicates += extra;
            self.late += attempts.iter().filter(|a| *a > final_attempt).count();
            let unexplained_runs = attempts.iter().filter(|a| !in_flight(a)).count();
            if extra > caught.map_or(0, |c| c.len()) || unexplained_runs > 1 {
                self.unexplained.push(*id);
            }
            if attempts.as_slice() != [*final_attempt] {
                self.not_exactly_once += 1;
            }
        }
        self.unexplained.sort_unstable();
    }

    /// Every broken promise, worded for the failure message; empty when the scenario passed.
    pub fn problems(&self, mode: Mode) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |bad: bool, what: String| {
            if bad {
                p.push(what);
            }
        };
        check(self.lost > 0, format!("{} jobs lost (not completed)", self.lost));
        check(self.running_left > 0, format!("{} rows left running", self.running_left));
        check(self.refinalized > 0, format!("{} finished rows changed after finishing", self.refinalized));
        check(self.late > 0, format!("{} executions by an attempt after the completing one", self.late));
        check(self.orphans > 0, format!("{} executions of jobs missing from the table", self.orphans));
        check(
            self.unrecorded > 0,
            format!("{} jobs completed without their attempt executing", self.unrecorded),
        );
        check(
            !self.unexplained.is_empty(),
            format!(
                "{} jobs ran more often than the faults explain (first: {:?})",
                self.unexplained.len(),
                &self.unexplained[..self.unexplained.len().min(10)]
            ),
        );
        check(
            self.duplicates > self.allowed,
            format!(
                "{} duplicates, more than the {} attempts in flight at faults",
                self.duplicates, self.allowed
            ),
        );
        if mode == Mode::Tx {
            check(
                self.duplicates > 0,
                format!("{} duplicates with transactional completion", self.duplicates),
            );
            check(
                self.not_exactly_once > 0,
                format!(
                    "{} jobs without exactly one execution by the completing attempt",
                    self.not_exactly_once
                ),
            );
        }
        p
    }

    /// The scenario's line of figures.
    pub fn line(&self, title: &str, mode: Mode, bound: &str, faults: &Faults) -> String {
        let dups = match mode {
            Mode::Plain => format!("duplicates {} (allowed ≤ {}: {bound})", self.duplicates, self.allowed),
            Mode::Tx => format!("duplicates {} (required 0; {} {bound})", self.duplicates, self.allowed),
        };
        let recovered = match (faults.worst(), faults.worst_ended()) {
            (Some(d), Some(e)) => format!(
                "recovered in {} (worst of {} faults; the attempts caught ended or were rescued within {})",
                secs(d),
                faults.list.len(),
                secs(e)
            ),
            (Some(d), None) => format!("recovered in {} (worst of {} faults)", secs(d), faults.list.len()),
            (None, _) => format!("recovered in — (no fault caught a job; {} faults)", faults.list.len()),
        };
        format!(
            "chaos {title} [{}]: jobs {}, lost {}, running left {}, refinalized {}, {dups}, {recovered}",
            mode.as_str(),
            self.jobs,
            self.lost,
            self.running_left,
            self.refinalized,
        )
    }
}

/// How many rows of `before` differ in `after` (changed or gone).
pub fn changed(before: &[FinishedRow], after: &[FinishedRow]) -> usize {
    let after: HashMap<i64, &FinishedRow> = after.iter().map(|r| (r.id, r)).collect();
    before.iter().filter(|r| after.get(&r.id) != Some(r)).count()
}

/// The ids of some attempts.
pub fn ids(attempts: &[Attempt]) -> Vec<i64> {
    attempts.iter().map(|(id, _)| *id).collect()
}

/// A duration as seconds with one decimal, e.g. `1.8 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Prints a line with `println!` (shown with `--nocapture`, or when the test fails) and,
/// unless output is not captured anyway, straight to the process's stderr, which the test
/// harness does not capture: so the figures appear in every CI log.
pub fn say(line: &str) {
    use std::io::Write;
    println!("{line}");
    if !nocapture() {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Whether the test harness shows output as it comes (`--nocapture`).
fn nocapture() -> bool {
    let flag = std::env::args().any(|a| a == "--nocapture" || a == "--no-capture");
    flag || std::env::var("RUST_TEST_NOCAPTURE").is_ok_and(|v| v != "0")
}
