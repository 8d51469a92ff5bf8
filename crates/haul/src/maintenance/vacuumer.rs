//! The vacuumer: vacuums the jobs table when dead row versions pile up. Every job leaves
//! three (insert, claim, completion); autovacuum visits a database at most once a minute,
//! and in that minute a busy queue's table bloats and its fetch slows (measured: 700 MiB/min
//! and a runaway backlog at 30k jobs/s; flat at ~75 MiB with a vacuum every few seconds).

use crate::config::VACUUM_DEAD_MIN;
use std::time::Duration;

/// Longest a vacuum may run before the vacuumer gives up on it.
const VACUUM_TIMEOUT: Duration = Duration::from_secs(300);
use crate::error::Error;
use crate::service::Throttle;
use crate::worker::Core;

/// Whether the vacuumer may run; it turns itself off if it lacks the privilege.
pub(super) struct Vacuumer {
    enabled: bool,
}

impl Default for Vacuumer {
    fn default() -> Self {
        Vacuumer { enabled: true }
    }
}

impl Vacuumer {
    /// Vacuums if dead versions exceed both [`VACUUM_DEAD_MIN`] and a fifth of live rows.
    pub(super) async fn run(&mut self, core: &Core, throttle: &mut Throttle) {
        if !self.enabled {
            return;
        }
        let (dead, live) = match core.db.job_dead_tuples().await {
            Ok(counts) => counts,
            Err(e) => {
                return throttle.warn(|| tracing::warn!(error = %e, "vacuumer could not read statistics"));
            }
        };
        if dead < VACUUM_DEAD_MIN.max(live / 5) {
            return;
        }
        match core.db.job_vacuum(VACUUM_TIMEOUT).await {
            Ok(()) => tracing::debug!(dead, live, "vacuumed the jobs table"),
            Err(Error::Database(e))
                if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501") =>
            {
                self.enabled = false;
                tracing::warn!(
                    "vacuumer off: this role may not VACUUM the jobs table (make it the table's owner); autovacuum alone may let a busy queue's table bloat"
                );
            }
            Err(e) => throttle.warn(|| tracing::warn!(error = %e, "vacuum of the jobs table failed")),
        }
    }
}
