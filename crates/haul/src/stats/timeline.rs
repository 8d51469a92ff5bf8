//! [`Client::stats_timeline`](crate::Client::stats_timeline): the window's outcomes minute by
//! minute, every minute present, for charts of throughput and failures.

use super::report::{OutcomeCounts, StatsQuery};
use crate::db::{Db, MinuteSum};
use crate::error::Result;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// The attempts that ended in one minute, by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatsMinute {
    /// The minute's start (database time).
    pub at: DateTime<Utc>,
    /// Attempts that ended in it.
    pub outcomes: OutcomeCounts,
}

/// Every minute of `query`'s window, oldest first, zero where no worker wrote a rollup.
pub(crate) async fn read(db: &Db, query: &StatsQuery) -> Result<Vec<StatsMinute>> {
    query.validate()?;
    let window = db.stats_window(query.minutes()).await?;
    let sums = db.stats_by_minute(window.since, query.queue(), query.kind()).await?;
    Ok(fill(window.since, query.minutes(), &sums))
}

/// `minutes` minutes from `since`, each with its sum or zeros.
fn fill(since: DateTime<Utc>, minutes: i32, sums: &[MinuteSum]) -> Vec<StatsMinute> {
    let mut sums = sums.iter().peekable();
    (0..i64::from(minutes))
        .map(|i| {
            let at = since + TimeDelta::minutes(i);
            let outcomes = match sums.next_if(|s| s.bucket == at) {
                Some(s) => OutcomeCounts {
                    completed: s.completed,
                    retried: s.retried,
                    snoozed: s.snoozed,
                    cancelled: s.cancelled,
                    discarded: s.discarded,
                },
                None => OutcomeCounts::default(),
            };
            StatsMinute { at, outcomes }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_minute_is_present_and_sums_land_on_theirs() {
        let since = DateTime::from_timestamp(600, 0).unwrap();
        let sum = |m: i64, completed| MinuteSum {
            bucket: since + TimeDelta::minutes(m),
            completed,
            retried: 1,
            snoozed: 0,
            cancelled: 0,
            discarded: 0,
        };
        let got = fill(since, 4, &[sum(1, 5), sum(3, 7)]);
        let completed: Vec<_> = got.iter().map(|m| m.outcomes.completed).collect();
        assert_eq!(completed, [0, 5, 0, 7]);
        assert_eq!(got[3].at, since + TimeDelta::minutes(3));
    }
}
