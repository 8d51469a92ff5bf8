//! Backoff between attempts: exponential with a cap and jitter, chosen per kind.

use std::time::Duration;

/// How long a failed job waits before its next attempt.
///
/// The wait after attempt `n` is `base × 2^(n-1)`, capped at `max`, then moved by up to
/// `jitter_percent` in either direction so that a burst of failures does not retry in lockstep.
///
/// ```
/// use haul::RetryPolicy;
/// use std::time::Duration;
///
/// let p = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60)).with_jitter(0);
/// assert_eq!(p.backoff(1), Duration::from_secs(1));
/// assert_eq!(p.backoff(3), Duration::from_secs(4));
/// assert_eq!(p.backoff(30), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    base: Duration,
    max: Duration,
    jitter_percent: u8,
}

impl RetryPolicy {
    /// 2 s doubling to at most 6 h, ±10% jitter: 20 attempts span about two days.
    pub const DEFAULT: RetryPolicy =
        RetryPolicy::exponential(Duration::from_secs(2), Duration::from_secs(6 * 3600)).with_jitter(10);

    /// Exponential backoff from `base`, capped at `max`, with the default 10% jitter.
    pub const fn exponential(base: Duration, max: Duration) -> Self {
        RetryPolicy { base, max, jitter_percent: 10 }
    }

    /// The same wait after every attempt (no jitter unless added).
    pub const fn constant(wait: Duration) -> Self {
        RetryPolicy { base: wait, max: wait, jitter_percent: 0 }
    }

    /// Sets the jitter, 0 to 100 percent of the wait (values above 100 count as 100).
    pub const fn with_jitter(mut self, percent: u8) -> Self {
        self.jitter_percent = if percent > 100 { 100 } else { percent };
        self
    }

    /// The wait after failed attempt `attempt` (1-based), jitter included.
    pub fn backoff(&self, attempt: i16) -> Duration {
        let wait = self.backoff_without_jitter(attempt);
        if self.jitter_percent == 0 || wait.is_zero() {
            return wait;
        }
        let spread = wait.as_secs_f64() * f64::from(self.jitter_percent) / 100.0;
        let offset = (fastrand::f64() * 2.0 - 1.0) * spread;
        Duration::from_secs_f64((wait.as_secs_f64() + offset).max(0.0))
    }

    /// The wait after failed attempt `attempt`, before jitter.
    pub fn backoff_without_jitter(&self, attempt: i16) -> Duration {
        let exp = u32::try_from(attempt.max(1) - 1).unwrap_or(0).min(40);
        let factor = 1u64 << exp;
        let base = self.base.as_millis().min(u128::from(u64::MAX)) as u64;
        Duration::from_millis(base.saturating_mul(factor)).min(self.max)
    }

    /// The highest wait before jitter.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The jitter, in percent of the wait.
    pub fn jitter_percent(&self) -> u8 {
        self.jitter_percent
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_band() {
        let p = RetryPolicy::exponential(Duration::from_secs(10), Duration::from_secs(100)).with_jitter(20);
        for _ in 0..1000 {
            let d = p.backoff(2).as_secs_f64();
            assert!((16.0..=24.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn constant_never_grows() {
        let p = RetryPolicy::constant(Duration::from_millis(250));
        assert_eq!(p.backoff(1), p.backoff(9));
    }

    #[test]
    fn huge_attempts_do_not_overflow() {
        assert_eq!(RetryPolicy::DEFAULT.backoff_without_jitter(i16::MAX), RetryPolicy::DEFAULT.max());
    }
}
