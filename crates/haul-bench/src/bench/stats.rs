//! Numbers: percentiles computed exactly like the peers' `latencyStats`, medians, a
//! least-squares slope, and how figures are shown (`123,456`).

use serde::Serialize;

/// Latency figures in the peers' field names, in milliseconds rounded to 0.01.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LatencyStats {
    /// Jobs measured.
    pub n: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl LatencyStats {
    /// The figures of `lat` (milliseconds, any order); `None` when empty.
    pub fn of(lat: &[f64]) -> Option<LatencyStats> {
        if lat.is_empty() {
            return None;
        }
        let mut s = lat.to_vec();
        s.sort_by(f64::total_cmp);
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        Some(LatencyStats {
            n: s.len(),
            p50_ms: round2(pct(&s, 50.0)),
            p95_ms: round2(pct(&s, 95.0)),
            p99_ms: round2(pct(&s, 99.0)),
            max_ms: round2(s[s.len() - 1]),
            mean_ms: round2(mean),
        })
    }

    /// `p50 2.61 ms · p95 3.60 ms · p99 6.01 ms · max 8.20 ms · mean 2.90 ms`.
    pub fn line(&self) -> String {
        format!(
            "p50 {:.2} ms · p95 {:.2} ms · p99 {:.2} ms · max {:.2} ms · mean {:.2} ms",
            self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms, self.mean_ms
        )
    }
}

/// Nearest-rank percentile of sorted values, as the peers compute it.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

/// Median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Slope of the least-squares line through `(x, y)` points (0 with fewer than two distinct x).
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

/// Rounds to two decimals, as the peers' records do.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A whole number with thousands separators: `123,456`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate rounded to a whole number, with thousands separators.
pub fn rate(x: f64) -> String {
    if x.is_finite() && x >= 0.0 { thousands(x.round() as u64) } else { format!("{x}") }
}

/// Bytes as MiB.
pub fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_the_peers() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(pct(&s, 50.0), 50.0);
        assert_eq!(pct(&s, 99.0), 99.0);
        assert_eq!(pct(&[7.0], 95.0), 7.0);
        let st = LatencyStats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((st.n, st.p50_ms, st.max_ms, st.mean_ms), (3, 2.0, 3.0, 2.0));
    }

    #[test]
    fn slope_and_median() {
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), 2.0);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
