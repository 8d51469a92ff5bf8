//! Time for scheduling, leases and rescue: always the database's `now()`, plus a shift that
//! only tests move, so retries and schedules can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The clock every Haul statement reads: PostgreSQL's `now()` plus a shift (zero in production).
///
/// Clones share the shift, so a test can hand one clock to a client and a worker and move both.
///
/// ```
/// let clock = haul::Clock::database();
/// assert_eq!(clock.shift(), std::time::Duration::ZERO);
/// clock.advance(std::time::Duration::from_secs(60)); // jobs due in a minute are now due
/// assert_eq!(clock.shift().as_secs(), 60);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Clock {
    shift_us: Arc<AtomicI64>,
}

impl Clock {
    /// The database's own time, unshifted.
    pub fn database() -> Self {
        Self::default()
    }

    /// Moves this clock (and every clone) forward by `by`.
    pub fn advance(&self, by: Duration) {
        let us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.shift_us.fetch_add(us, Ordering::SeqCst);
    }

    /// How far this clock is ahead of the database's `now()`.
    pub fn shift(&self) -> Duration {
        Duration::from_micros(self.shift_micros().max(0) as u64)
    }

    /// The shift in microseconds, bound as `$1` of every statement.
    pub(crate) fn shift_micros(&self) -> i64 {
        self.shift_us.load(Ordering::SeqCst)
    }
}
