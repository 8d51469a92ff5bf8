//! The reclaimer: gives the space of finished jobs back by truncating drained hot lanes
//! (migration 0005, `db/lane.rs`). New jobs go to hot lanes 0 and 1 in turn, 3 s each; once
//! a lane's period is over and every job in it is done, TRUNCATE empties its heap and indexes
//! at once, whatever the xmin horizon, so the churn of a busy queue needs no VACUUM. Two
//! lanes, because every statement that finds jobs by id probes each lane's key (measured: W3
//! 39-40k jobs/s with four hot lanes, 41-47k with two, 46-48k without lanes).
//!
//! Safety: a lane is truncated only if it holds no live row under an ACCESS EXCLUSIVE lock,
//! which waits for every transaction that could be adding one; a job is never lost to it.
//! The check runs first without the lock (so a lane still working off jobs costs no stall),
//! walking the lane's key from its newest row: a lane with a backlog answers at its first
//! entry. A lane found holding jobs is checked again after twice the wait each time, up to
//! [`BUSY_WAIT_MAX`] (a long job among many dead rows costs a scan of them each time),
//! and the lock is given up after 30 ms: while it is awaited, statements on `jobs` queue
//! behind it. A transaction that read `jobs` holds its lanes until it ends (a long one holds
//! the horizon, too); the reclaimer then backs off, up to [`BUSY_WAIT_MAX`].
//!
//! Jobs that would keep a lane from draining for long — finished ones kept for retention,
//! dead letters, jobs not due for more than 10 s — are moved to the cold lane. A running job
//! or a backlog keeps its lane; a lane still holding jobs when its turn comes round again is
//! "pinned" and handed to the vacuumer until it is truncated.
//!
//! TRUNCATE is not MVCC-safe: a transaction whose snapshot predates it and which had not yet
//! read `jobs` sees the truncated lane empty, not as it was (every row in it had been
//! deleted by then). Haul itself never reads `jobs` that way.

use crate::db::{HOT_LANES, Lane, Truncate};
use crate::error::Error;
use crate::service::Throttle;
use crate::worker::Core;
use std::time::Duration;
use tokio::time::Instant;

/// The longest wait after a lane's lock was not had.
pub(crate) const BUSY_WAIT_MAX: Duration = Duration::from_secs(2);

/// The reclaimer's state between ticks.
#[derive(Default)]
pub(super) struct Reclaimer {
    disabled: bool,
    /// Lock failures in a row, and when the next try may start.
    busy: Option<(u32, Instant)>,
    /// Per hot lane, the last period in which it was seen empty.
    emptied: [i64; HOT_LANES as usize],
    /// Per hot lane, checks in a row that found it holding jobs, and when to check it next.
    kept: [u32; HOT_LANES as usize],
    next_check: [Option<Instant>; HOT_LANES as usize],
    /// Per hot lane, the last period in which its long-lived jobs were moved out.
    moved: [i64; HOT_LANES as usize],
    /// Hot lanes that still held jobs when their turn came round again.
    pinned: [bool; HOT_LANES as usize],
}

/// What one lane's visit did.
enum Visit {
    Truncated,
    Kept,
    Busy,
}

impl Reclaimer {
    /// The lanes the vacuumer should look after: the cold lane and the pinned hot lanes.
    pub(super) fn vacuumable(&self) -> Vec<Lane> {
        let pinned = (0..HOT_LANES).filter(|n| self.pinned[*n as usize]).map(Lane::Hot);
        std::iter::once(Lane::Cold).chain(pinned).collect()
    }

    /// Visits every hot lane but the current one, the one whose period ended longest ago first.
    pub(super) async fn run(&mut self, core: &Core, throttle: &mut Throttle) {
        if self.disabled || self.busy.is_some_and(|(_, until)| Instant::now() < until) {
            return;
        }
        let (period, stats) = match tokio::try_join!(core.db.lane_period_now(), core.db.lane_stats()) {
            Ok(read) => read,
            Err(e) => {
                return throttle.warn(|| tracing::warn!(error = %e, "reclaimer could not read the lanes"));
            }
        };
        let lanes = i64::from(HOT_LANES);
        for age in (0..lanes).rev() {
            let lane = Lane::of_period(period - age);
            let Lane::Hot(n) = lane else { continue };
            let Some(st) = stats.iter().find(|s| s.lane == lane) else { continue };
            let i = n as usize;
            if st.bytes == 0 {
                self.emptied[i] = period;
            } else if age > 0 && self.next_check[i].is_none_or(|t| Instant::now() >= t) {
                match visit(core, lane).await {
                    Ok(Visit::Truncated) => {
                        (self.emptied[i], self.busy, self.kept[i], self.next_check[i]) =
                            (period, None, 0, None);
                        tracing::debug!(lane = n, "truncated a drained lane");
                    }
                    Ok(Visit::Kept) => {
                        self.kept[i] += 1;
                        let wait = busy_wait(core.config.reclaim_interval, self.kept[i] - 1);
                        self.next_check[i] = Some(Instant::now() + wait);
                        if self.moved[i] != period {
                            self.moved[i] = period;
                            if let Err(e) = move_long_lived(core, lane).await {
                                return self.failed(e, throttle);
                            }
                        }
                    }
                    Ok(Visit::Busy) => {
                        let failures = self.busy.map_or(0, |(f, _)| f) + 1;
                        let wait = busy_wait(core.config.reclaim_interval, failures);
                        self.busy = Some((failures, Instant::now() + wait));
                        return;
                    }
                    Err(e) => return self.failed(e, throttle),
                }
            }
            // pinned: not emptied between its previous turn and its latest one
            self.pinned[i] = self.emptied[i] < period - age - lanes + 1;
        }
    }

    fn failed(&mut self, e: Error, throttle: &mut Throttle) {
        if let Error::Database(d) = &e
            && d.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501")
        {
            self.disabled = true;
            return tracing::warn!(
                "reclaimer off: this role may not truncate the jobs table's lanes (make it the table's owner); the vacuumer and autovacuum alone keep them in check"
            );
        }
        throttle.warn(|| tracing::warn!(error = %e, "reclaimer failed"));
    }
}

/// Truncates `lane` if it is empty.
async fn visit(core: &Core, lane: Lane) -> Result<Visit, Error> {
    if !core.db.lane_is_empty(lane).await? {
        return Ok(Visit::Kept);
    }
    Ok(match core.db.lane_truncate_if_empty(lane).await? {
        Truncate::Done => Visit::Truncated,
        Truncate::NotEmpty => Visit::Kept,
        Truncate::LockBusy => Visit::Busy,
    })
}

/// Moves the jobs that would keep `lane` from draining for long to the cold lane.
async fn move_long_lived(core: &Core, lane: Lane) -> Result<(), Error> {
    for _ in 0..super::ROUNDS_MAX {
        let moved = core.db.lane_move_to_cold(lane).await?;
        if moved > 0 {
            tracing::debug!(lane = ?lane, moved, "moved long-lived jobs to the cold lane");
        }
        if moved < crate::db::MOVE_BATCH {
            break;
        }
    }
    Ok(())
}

/// The wait after `failures` lock failures in a row: the interval, doubled each time, capped.
fn busy_wait(interval: Duration, failures: u32) -> Duration {
    interval.saturating_mul(1 << failures.min(16)).min(BUSY_WAIT_MAX.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_failures_back_off_doubling_up_to_the_cap() {
        let i = Duration::from_millis(500);
        assert_eq!(busy_wait(i, 1), Duration::from_secs(1));
        assert_eq!(busy_wait(i, 3), BUSY_WAIT_MAX);
        assert_eq!(busy_wait(i, 30), BUSY_WAIT_MAX);
        assert_eq!(
            busy_wait(Duration::from_secs(10), 2),
            Duration::from_secs(10),
            "never below the interval"
        );
    }

    #[test]
    fn the_cold_lane_and_pinned_lanes_are_vacuumable() {
        let mut r = Reclaimer::default();
        assert_eq!(r.vacuumable(), vec![Lane::Cold]);
        r.pinned[1] = true;
        assert_eq!(r.vacuumable(), vec![Lane::Cold, Lane::Hot(1)]);
    }
}
