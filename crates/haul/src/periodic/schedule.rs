//! When a schedule ticks: a cron expression (with seconds, in a time zone) or a fixed interval
//! aligned to the Unix epoch. Ticks are whole seconds for cron, whole multiples of the
//! interval for intervals, so every process computes the same instants.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;

/// The rule a schedule ticks by.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// A parsed cron expression, evaluated in `tz`.
    Cron { cron: Box<croner::Cron>, tz: Tz },
    /// Every this many microseconds since the Unix epoch (at least one second).
    Every { micros: i64 },
}

impl Schedule {
    /// The first tick strictly after `t`.
    pub(crate) fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            // ticks are whole seconds: the first after `t` is the first after `t`'s second
            Schedule::Cron { cron, tz } => {
                let start = whole_second(t)?.with_timezone(tz);
                cron.find_next_occurrence(&start, false).ok().map(|d| d.with_timezone(&Utc))
            }
            Schedule::Every { micros } => {
                let k = t.timestamp_micros().div_euclid(*micros).checked_add(1)?;
                DateTime::from_timestamp_micros(k.checked_mul(*micros)?)
            }
        }
    }

    /// The last tick strictly before `t`.
    pub(crate) fn latest_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let just_before = t.checked_sub_signed(TimeDelta::microseconds(1))?;
        match self {
            // a whole-second tick before `t` is at or before the second of `t - 1 µs`
            Schedule::Cron { cron, tz } => {
                let start = whole_second(just_before)?.with_timezone(tz);
                cron.find_previous_occurrence(&start, true).ok().map(|d| d.with_timezone(&Utc))
            }
            Schedule::Every { micros } => {
                let k = just_before.timestamp_micros().div_euclid(*micros);
                DateTime::from_timestamp_micros(k.checked_mul(*micros)?)
            }
        }
    }
}

/// `t` rounded down to its second.
fn whole_second(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    t.duration_trunc(TimeDelta::seconds(1)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cron(expr: &str, tz: Tz) -> Schedule {
        Schedule::Cron { cron: Box::new(croner::Cron::from_str(expr).unwrap()), tz }
    }

    #[test]
    fn intervals_tick_on_multiples_of_the_interval_since_the_epoch() {
        let every = Schedule::Every { micros: 10_000_000 };
        assert_eq!(every.next_after(at("2026-01-01T00:00:03Z")), Some(at("2026-01-01T00:00:10Z")));
        assert_eq!(every.next_after(at("2026-01-01T00:00:10Z")), Some(at("2026-01-01T00:00:20Z")));
        assert_eq!(every.latest_before(at("2026-01-01T00:00:10Z")), Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(every.latest_before(at("2026-01-01T00:00:10.000001Z")), Some(at("2026-01-01T00:00:10Z")));
    }

    #[test]
    fn cron_ticks_are_strictly_after_and_before_even_within_a_second() {
        let every_5s = cron("*/5 * * * * *", Tz::UTC);
        assert_eq!(every_5s.next_after(at("2026-01-01T00:00:05Z")), Some(at("2026-01-01T00:00:10Z")));
        assert_eq!(every_5s.next_after(at("2026-01-01T00:00:04.9Z")), Some(at("2026-01-01T00:00:05Z")));
        assert_eq!(every_5s.latest_before(at("2026-01-01T00:00:05Z")), Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(every_5s.latest_before(at("2026-01-01T00:00:05.2Z")), Some(at("2026-01-01T00:00:05Z")));
    }

    #[test]
    fn cron_reads_its_fields_in_its_time_zone() {
        // 09:30:15 in Paris is 08:30:15 UTC in winter and 07:30:15 UTC in summer
        let paris = cron("15 30 9 * * *", chrono_tz::Europe::Paris);
        assert_eq!(paris.next_after(at("2026-01-10T00:00:00Z")), Some(at("2026-01-10T08:30:15Z")));
        assert_eq!(paris.next_after(at("2026-07-10T00:00:00Z")), Some(at("2026-07-10T07:30:15Z")));
        assert_eq!(paris.latest_before(at("2026-07-10T07:30:15Z")), Some(at("2026-07-09T07:30:15Z")));
    }
}
