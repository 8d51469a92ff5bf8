//! The depth part of the stats: exact on a small table, else a page sample corrected by the
//! exact counts the partial indexes give cheaply (see [`Stats`](super::Stats)). Each
//! statement reads a bounded number of rows or pages, whatever the table's size.

use crate::db::{Db, DepthRow, OldestRow};
use crate::error::Result;
use crate::job::JobState;

/// The most rows counted exactly (a capped read of the table, about 10 ms).
pub(crate) const EXACT_MAX: i64 = 50_000;
/// The most running jobs counted exactly on a larger table (each read from the table).
pub(crate) const RUNNING_MAX: i64 = 5_000;
/// The most dead letters counted exactly on a larger table (from their index alone).
pub(crate) const DEAD_MAX: i64 = 20_000;
/// Pages a sample reads, about 50 rows each.
const SAMPLE_PAGES: f64 = 400.0;
/// Rows per page assumed before the table's first ANALYZE.
const DENSITY_GUESS: f64 = 50.0;

/// Jobs per queue, kind and state; the oldest available per queue when not in the rows.
pub(crate) struct Depth {
    pub rows: Vec<DepthRow>,
    pub oldest: Option<Vec<OldestRow>>,
    pub estimated: Vec<JobState>,
}

/// Reads the depth of every queue and kind.
pub(crate) async fn read(db: &Db) -> Result<Depth> {
    let size = db.job_table_size().await?;
    let rows = size.pages as f64 * size.density.unwrap_or(DENSITY_GUESS);
    if rows <= 2.0 * EXACT_MAX as f64 {
        let exact = db.job_depth_exact(EXACT_MAX + 1).await?;
        if exact.iter().map(|r| r.n).sum::<i64>() <= EXACT_MAX {
            return Ok(Depth { rows: exact, oldest: None, estimated: Vec::new() });
        }
    }
    let percent = (100.0 * SAMPLE_PAGES / size.pages.max(1) as f64).min(100.0);
    let sample = db.job_depth_sample(percent).await?;
    let indexed = db.job_depth_indexed(RUNNING_MAX + 1, DEAD_MAX + 1).await?;
    let oldest = db.job_oldest_available(None).await?;
    Ok(estimate(sample, 100.0 / percent, indexed, oldest))
}

/// The sample scaled by `scale`, with the states counted exactly in `indexed` taken from it.
fn estimate(sample: Vec<DepthRow>, scale: f64, indexed: Vec<DepthRow>, oldest: Vec<OldestRow>) -> Depth {
    let exact: Vec<JobState> = [(JobState::Running, RUNNING_MAX), (JobState::Discarded, DEAD_MAX)]
        .into_iter()
        .filter(|(s, max)| indexed.iter().filter(|r| r.state == *s).map(|r| r.n).sum::<i64>() <= *max)
        .map(|(s, _)| s)
        .collect();
    let mut rows: Vec<DepthRow> = sample
        .into_iter()
        .filter(|r| !exact.contains(&r.state))
        .map(|r| DepthRow { n: (r.n as f64 * scale).round() as i64, ..r })
        .collect();
    rows.extend(indexed.into_iter().filter(|r| exact.contains(&r.state)));
    let estimated = JobState::ALL.into_iter().filter(|s| !exact.contains(s)).collect();
    Depth { rows, oldest: Some(oldest), estimated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: JobState, n: i64) -> DepthRow {
        DepthRow { queue: "q".into(), kind: "k".into(), state, n, oldest: None }
    }

    #[test]
    fn indexed_counts_replace_the_sample_below_their_cap() {
        let sample =
            vec![row(JobState::Available, 10), row(JobState::Running, 1), row(JobState::Discarded, 3)];
        let indexed = vec![row(JobState::Running, 7), row(JobState::Discarded, DEAD_MAX + 1)];
        let d = estimate(sample, 50.0, indexed, Vec::new());
        let n = |s| d.rows.iter().filter(|r| r.state == s).map(|r| r.n).sum::<i64>();
        assert_eq!((n(JobState::Available), n(JobState::Running), n(JobState::Discarded)), (500, 7, 150));
        assert!(d.estimated.contains(&JobState::Discarded) && !d.estimated.contains(&JobState::Running));
    }
}
