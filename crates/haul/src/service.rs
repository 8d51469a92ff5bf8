//! What every background service shares: capped backoff while the database is away, and a
//! throttle so a service logs at most about one line per second during an outage.

use std::time::{Duration, Instant};

/// First wait after a failure. Defaults to 50 ms.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest wait between retries. Defaults to 2 s.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// At most one log line per this interval per component.
pub const LOG_THROTTLE_INTERVAL: Duration = Duration::from_secs(1);

/// Capped exponential backoff with jitter, reset after a success.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: RECONNECT_BACKOFF_MIN }
    }
}

impl Backoff {
    /// Sleeps for the current step, then doubles it up to the cap.
    pub(crate) async fn wait(&mut self) {
        let jittered = self.next.mul_f64(0.75 + fastrand::f64() * 0.5);
        self.next = (self.next * 2).min(RECONNECT_BACKOFF_MAX);
        tokio::time::sleep(jittered).await;
    }

    pub(crate) fn reset(&mut self) {
        self.next = RECONNECT_BACKOFF_MIN;
    }
}

/// Lets one log line through per [`LOG_THROTTLE_INTERVAL`], counting the ones it held back.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// Runs `log` unless a line went out less than a second ago.
    pub(crate) fn warn(&mut self, log: impl FnOnce()) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < LOG_THROTTLE_INTERVAL) {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(suppressed = self.suppressed, "similar messages held back in the last second");
        }
        self.last = Some(now);
        self.suppressed = 0;
        log();
    }

    /// Lines held back since the last one that went out.
    #[cfg(test)]
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_line_per_second() {
        let mut t = Throttle::default();
        let mut out = 0;
        for _ in 0..100 {
            t.warn(|| out += 1);
        }
        assert_eq!(out, 1);
        assert_eq!(t.suppressed(), 99);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_to_the_cap() {
        let mut b = Backoff::default();
        for _ in 0..10 {
            b.wait().await;
        }
        assert_eq!(b.next, RECONNECT_BACKOFF_MAX);
        b.reset();
        assert_eq!(b.next, RECONNECT_BACKOFF_MIN);
    }
}
