//! The fixed-bucket histograms of the stats rollups: log-spaced buckets of microseconds, four
//! per doubling, so histograms from any number of workers and minutes merge by adding counts,
//! and a percentile read from merged buckets is within [`ERROR_BOUND`] of the true one.

use std::time::Duration;

/// Buckets per doubling of the duration.
const PER_DOUBLING: f64 = 4.0;

/// Buckets in a histogram: bucket `i` holds durations in `[2^(i/4), 2^((i+1)/4))` µs (bucket 0
/// also holds durations under 1 µs); the last also holds everything from `2^36` µs (about 19 h).
pub const BUCKETS: usize = 145;

/// The largest relative error of a percentile read from the buckets: a bucket is reported as
/// its geometric middle, at most `2^(1/8) - 1` (9.05%) from any duration in it, for
/// durations from 1 µs to about 19 h (under 9.06%).
pub const ERROR_BOUND: f64 = 0.0906;

/// The bucket of `d`.
pub(crate) fn bucket(d: Duration) -> usize {
    let us = d.as_micros();
    if us <= 1 {
        return 0;
    }
    let i = (us as f64).log2() * PER_DOUBLING;
    (i as usize).min(BUCKETS - 1)
}

/// The duration reported for bucket `i`: its geometric middle.
pub(crate) fn middle(i: usize) -> Duration {
    Duration::from_nanos((2f64.powf((i as f64 + 0.5) / PER_DOUBLING) * 1e3) as u64)
}

/// The `q` quantile (0 to 1) of the durations counted in `counts`, `None` when it holds none.
/// The nearest rank: the smallest bucket holding at least `ceil(q * n)` durations.
pub(crate) fn quantile(counts: &[i64], q: f64) -> Option<Duration> {
    let n: i64 = counts.iter().sum();
    if n <= 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as i64).clamp(1, n);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(middle(i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_reads_back_within_the_bound() {
        let mut us = 1u64;
        while us < (1 << 36) {
            let d = Duration::from_micros(us);
            let got = middle(bucket(d)).as_secs_f64();
            let err = (got - d.as_secs_f64()).abs() / d.as_secs_f64();
            assert!(err <= ERROR_BOUND, "{d:?} read as {got} s ({err})");
            us = us * 9 / 8 + 1;
        }
        assert_eq!(bucket(Duration::ZERO), 0);
        assert_eq!(bucket(Duration::from_secs(86_400 * 365)), BUCKETS - 1);
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let mut counts = vec![0i64; BUCKETS];
        for ms in 1..=100u64 {
            counts[bucket(Duration::from_millis(ms))] += 1;
        }
        for (q, want) in [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0)] {
            let got = quantile(&counts, q).unwrap().as_secs_f64() * 1e3;
            assert!((got - want).abs() / want <= ERROR_BOUND, "p{q}: {got} ms, want {want} ms");
        }
        assert_eq!(quantile(&[0; BUCKETS], 0.5), None);
    }
}
