//! The rotator: keeps the storage of finished plain jobs emptied by TRUNCATE (migration 0015).
//! Plain inserts go to one of two slots of `jobs` for a span; then, once the other slot is
//! empty on disk, to that one. The slot inserts left is emptied: its long-lived jobs move to
//! slot 0, its claimable ones are run where they are, and once no job is left it is truncated.
//! A held xmin horizon then costs no more than one span's rows.

use super::{Lead, ROUNDS_MAX, Round};
use crate::db::{Db, Emptied};
use crate::service::Throttle;
use std::time::Duration;

/// Tries at the slot's lock per round, 2 ms apart (`truncate_slot`).
const LOCK_TRIES: i32 = 50;

/// The rotator stage.
pub(crate) struct Rotator {
    pub db: Db,
    pub interval: Duration,
    /// How long inserts go to one slot before moving on.
    pub span: Duration,
    /// Rows one statement moves at most.
    pub batch: i64,
    pub throttle: Throttle,
}

impl Rotator {
    /// One round's work; the first error ends it.
    async fn turn(&self) -> crate::error::Result<()> {
        let now = self.db.rotation_advance(self.span).await?;
        let other = 3 - now.slot;
        // Inserts that read the slot before it moved may still land in the other one: give
        // them a moment before emptying it (the lock would wait for them anyway).
        if now.age_ms < 1_000 || self.db.rotation_pages(other).await? == 0 {
            return Ok(());
        }
        // Available jobs left over a whole span after inserts moved on: no worker drains
        // their queue (paused, or none running), so they move rather than hold the slot.
        let stale = now.age_ms >= self.span.as_millis() as i64;
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
