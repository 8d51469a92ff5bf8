//! Which ticks a leader's round handles, from the schedule's last recorded tick and the
//! database's clock: the missed ones collapse into one step (skipped or enqueued, per
//! [`Missed`]), then each tick on time is enqueued, oldest first.

use super::{Missed, Periodic, Schedule};
use chrono::{DateTime, TimeDelta, Utc};

/// One tick to record, with or without its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub tick: DateTime<Utc>,
    /// Whether the tick's job is enqueued (false: the tick is recorded as skipped).
    pub enqueue: bool,
}

impl Periodic {
    /// The steps after `last` up to `now`, at most `max` (the next round goes on from the
    /// last one recorded).
    pub(crate) fn steps(&self, last: DateTime<Utc>, now: DateTime<Utc>, max: usize) -> Vec<Step> {
        let Ok(schedule) = &self.schedule else { return Vec::new() };
        let late = TimeDelta::from_std(self.missed_after).unwrap_or(TimeDelta::MAX);
        let mut steps = Vec::new();
        let mut from = last;
        let missed = now.checked_sub_signed(late).and_then(|cutoff| schedule.latest_before(cutoff));
        if let Some(tick) = missed.filter(|t| *t > last) {
            steps.push(Step { tick, enqueue: self.missed == Missed::RunOnce });
            from = tick;
        }
        on_time(schedule, from, now, max, &mut steps);
        steps
    }

    /// The schedule's first tick after `tick` (none for a schedule that failed to parse or
    /// has no more ticks).
    pub(crate) fn next_after(&self, tick: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.as_ref().ok().and_then(|s| s.next_after(tick))
    }
}

/// Pushes every tick in (`from`, `now`] while `steps` holds fewer than `max`.
fn on_time(
    schedule: &Schedule,
    mut from: DateTime<Utc>,
    now: DateTime<Utc>,
    max: usize,
    steps: &mut Vec<Step>,
) {
    while steps.len() < max {
        match schedule.next_after(from) {
            Some(tick) if tick <= now => {
                steps.push(Step { tick, enqueue: true });
                from = tick;
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn every_10s() -> Periodic {
        Periodic::every(Duration::from_secs(10))
    }

    fn ticks(steps: &[Step]) -> Vec<(i64, bool)> {
        steps.iter().map(|s| (s.tick.timestamp() - 1_800_000_000, s.enqueue)).collect()
    }

    #[test]
    fn a_tick_on_time_is_enqueued_once_and_not_before_its_time() {
        let p = every_10s();
        assert_eq!(ticks(&p.steps(at(3), at(9), 100)), vec![]);
        assert_eq!(ticks(&p.steps(at(3), at(10), 100)), vec![(10, true)]);
        assert_eq!(ticks(&p.steps(at(10), at(19), 100)), vec![], "tick 10 is recorded: not again");
    }

    #[test]
    fn late_ticks_within_missed_after_are_all_enqueued() {
        let p = every_10s();
        assert_eq!(ticks(&p.steps(at(0), at(45), 100)), vec![(10, true), (20, true), (30, true), (40, true)]);
    }

    #[test]
    fn skip_records_the_missed_ticks_without_a_job() {
        // an hour without a worker: ticks before now - 60 s are missed
        let p = every_10s();
        let steps = p.steps(at(0), at(3605), 100);
        assert_eq!(
            ticks(&steps),
            vec![
                (3540, false),
                (3550, true),
                (3560, true),
                (3570, true),
                (3580, true),
                (3590, true),
                (3600, true)
            ]
        );
    }

    #[test]
    fn run_once_enqueues_the_latest_missed_tick() {
        let p = every_10s().on_missed(Missed::RunOnce);
        let steps = ticks(&p.steps(at(0), at(3605), 100));
        assert_eq!(steps[0], (3540, true), "the ticks before 3545 collapse into their latest");
        assert_eq!(
            steps[1..],
            [(3550, true), (3560, true), (3570, true), (3580, true), (3590, true), (3600, true)]
        );
        let short = p.missed_after(Duration::from_secs(5));
        assert_eq!(ticks(&short.steps(at(0), at(3607), 100)), vec![(3600, true)]);
        assert_eq!(ticks(&short.steps(at(3600), at(3607), 100)), vec![], "nothing missed since 3600");
    }

    #[test]
    fn a_round_takes_at_most_max_steps() {
        let p = every_10s().missed_after(Duration::from_secs(3600));
        let steps = p.steps(at(0), at(3600), 5);
        assert_eq!(ticks(&steps), vec![(10, true), (20, true), (30, true), (40, true), (50, true)]);
    }
}
