//! The rotator: keeps the storage of finished plain jobs emptied by TRUNCATE (migration 0015).
//! Plain inserts go to slot 1 or 2 of `jobs` by the clock, a span each (`db::SlotTime`); while
//! they go to one, the rotator empties the other: its long-lived jobs move to slot 0, its
//! claimable ones are run where they are, and once no job is left it is truncated. A held
//! xmin horizon then costs no more than about two spans' rows.

use super::{Lead, ROUNDS_MAX, Round};
use crate::db::{Db, Emptied, SPAN, SlotTime};
use crate::service::Throttle;
use std::time::Duration;

/// Tries at the slot's lock per round, 2 ms apart (`truncate_slot`).
const LOCK_TRIES: i32 = 50;

/// The rotator stage.
pub(crate) struct Rotator {
    pub db: Db,
    pub interval: Duration,
    /// Rows one statement moves at most.
    pub batch: i64,
    pub throttle: Throttle,
}

/// The start and end of a span that the rotator leaves alone: inserts that read the clock
/// just before the turn, or on a clock up to this far apart, may still go to the other slot.
const MARGIN: Duration = Duration::from_secs(1);

impl Rotator {
    /// One round's work; the first error ends it.
    async fn turn(&self) -> crate::error::Result<()> {
        let now = SlotTime::now(self.db.clock());
        let other = 3 - now.slot;
        if now.age < MARGIN || now.age + MARGIN > SPAN || self.db.rotation_pages(other).await? == 0 {
            return Ok(());
        }
        // Available jobs left half a span after inserts moved on: no worker drains their
        // queue (paused, or none running), so they move rather than hold the slot.
        let stale = now.age >= SPAN / 2;
        for _ in 0..ROUNDS_MAX {
            if self.db.job_evacuate(other, self.batch, stale).await? < self.batch {
                break;
            }
        }
        match self.db.rotation_truncate(other, LOCK_TRIES).await? {
            Emptied::Truncated => tracing::debug!(slot = other, "rotator emptied a slot"),
            found => tracing::debug!(slot = other, ?found, "rotator left a slot for later"),
        }
        Ok(())
    }
}

impl Round for Rotator {
    fn period(&self) -> Duration {
        self.interval
    }

    async fn round(&mut self, _: Lead) {
        if let Err(e) = self.turn().await {
            self.throttle.warn(|| tracing::warn!(error = %e, "rotator failed"));
        }
    }
}
