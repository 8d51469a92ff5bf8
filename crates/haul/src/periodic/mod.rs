//! Periodic jobs: a schedule (cron or fixed interval) registered on the worker, its name, and
//! the policy for ticks missed while no worker ran. The maintenance leader enqueues each tick
//! once (`maintenance::periodic`); the record of the last tick is `db::periodic`'s.

mod plan;
mod schedule;

pub(crate) use plan::Step;
pub(crate) use schedule::Schedule;

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::str::FromStr;
use std::time::Duration;

/// A tick found later than this after its time counts as missed (see [`Missed`]). Defaults to
/// one minute: longer than a leader failover, shorter than an outage worth skipping.
pub const MISSED_AFTER_DEFAULT: Duration = Duration::from_secs(60);
/// Longest schedule name, in bytes (the tick's unique key holds it).
pub const PERIODIC_NAME_MAX: usize = 200;
/// Shortest interval of [`Periodic::every`].
pub const PERIODIC_EVERY_MIN: Duration = Duration::from_secs(1);

/// What the leader does with ticks that passed while no worker ran (more than the schedule's
/// [`Periodic::missed_after`] ago, one minute by default). Ticks less late than that are all
/// enqueued, late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missed {
    /// Enqueue none of them: the schedule resumes at its next tick.
    #[default]
    Skip,
    /// Enqueue one job for the latest of them, then resume.
    RunOnce,
}

/// When a job is enqueued: a cron expression or a fixed interval, registered on a worker with
/// [`WorkerBuilder::periodic`](crate::WorkerBuilder::periodic).
///
/// The elected maintenance leader enqueues each tick exactly once across every worker
/// process, with the unique key `periodic:<name>:<tick>` (RFC 3339, UTC). Register the same
/// schedules on every worker that may lead.
///
/// ```
/// use haul::{Missed, Periodic};
/// use std::time::Duration;
///
/// // at second 0 of every fifth minute, Paris time
/// let report = Periodic::cron("0 */5 * * * *")?.in_tz(haul::chrono_tz::Europe::Paris);
/// // every 30 s, and once after an outage for the ticks it missed
/// let sweep = Periodic::every(Duration::from_secs(30)).on_missed(Missed::RunOnce).named("sweep");
/// assert!(Periodic::cron("61 * * * * *").is_err());
/// # Ok::<(), haul::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Periodic {
    schedule: std::result::Result<Schedule, String>,
    expression: String,
    tz: Tz,
    name: Option<String>,
    missed: Missed,
    missed_after: Duration,
}

impl Periodic {
    /// A cron schedule: six fields with seconds (`sec min hour day month weekday`) or the
    /// usual five (second 0), `@hourly`-style nicknames, `L`, `#` and `W`
    /// ([croner](https://docs.rs/croner)'s syntax), in UTC unless [`Periodic::in_tz`] says.
    ///
    /// Fails with [`Error::InvalidPeriodic`] on an expression croner rejects.
    pub fn cron(expression: &str) -> Result<Self> {
        let cron = croner::Cron::from_str(expression).map_err(|e| Error::InvalidPeriodic {
            schedule: expression.to_owned(),
            reason: format!("{e}; write `sec min hour day month weekday`, e.g. `0 */5 * * * *`"),
        })?;
        let schedule = Ok(Schedule::Cron { cron: Box::new(cron), tz: Tz::UTC });
        Ok(Self::with_schedule(schedule, expression.trim().to_owned()))
    }

    /// A tick every `interval`, at whole multiples of it since the Unix epoch (so every
    /// process agrees). An interval under [`PERIODIC_EVERY_MIN`] fails the worker's
    /// [`build`](crate::WorkerBuilder::build) with [`Error::InvalidPeriodic`].
    pub fn every(interval: Duration) -> Self {
        let expression = format!("every {interval:?}");
        let schedule = match i64::try_from(interval.as_micros()) {
            Ok(micros) if interval >= PERIODIC_EVERY_MIN => Ok(Schedule::Every { micros }),
            _ => Err(format!("the interval must be at least {PERIODIC_EVERY_MIN:?}")),
        };
        Self::with_schedule(schedule, expression)
    }

    fn with_schedule(schedule: std::result::Result<Schedule, String>, expression: String) -> Self {
        Periodic {
            schedule,
            expression,
            tz: Tz::UTC,
            name: None,
            missed: Missed::default(),
            missed_after: MISSED_AFTER_DEFAULT,
        }
    }

    /// Reads a cron expression's fields in `tz` (daylight saving included). Intervals ignore
    /// it. Defaults to UTC.
    pub fn in_tz(mut self, tz: Tz) -> Self {
        self.tz = tz;
        if let Ok(Schedule::Cron { tz: zone, .. }) = &mut self.schedule {
            *zone = tz;
        }
        self
    }

    /// Names the schedule: its record of the last tick and its jobs' unique keys go by this
    /// name. Defaults to the job's kind and the expression (`report:0 */5 * * * * Europe/Paris`),
    /// so a changed expression starts a new schedule; name it to keep its record.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// What happens to ticks missed while no worker ran. Defaults to [`Missed::Skip`].
    pub fn on_missed(mut self, missed: Missed) -> Self {
        self.missed = missed;
        self
    }

    /// How late a tick may be found and still be enqueued; later ones are missed. Defaults
    /// to [`MISSED_AFTER_DEFAULT`].
    pub fn missed_after(mut self, late: Duration) -> Self {
        self.missed_after = late;
        self
    }

    /// The schedule's name for jobs of `kind`: the given one, else kind and expression.
    pub(crate) fn name_for(&self, kind: &str) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match (&self.schedule, self.tz) {
            (Ok(Schedule::Cron { .. }), tz) if tz != Tz::UTC => format!("{kind}:{} {tz}", self.expression),
            _ => format!("{kind}:{}", self.expression),
        }
    }

    /// Checks the schedule and its `name`; the error names what to fix.
    pub(crate) fn validate(&self, name: &str) -> Result<()> {
        let invalid = |reason: String| Error::InvalidPeriodic { schedule: self.expression.clone(), reason };
        let schedule = self.schedule.as_ref().map_err(|e| invalid(e.clone()))?;
        if schedule.next_after(Utc::now()).is_none() {
            return Err(invalid("it never ticks (no such date, e.g. 30 February)".into()));
        }
        if name.is_empty() || name.len() > PERIODIC_NAME_MAX || name.chars().any(char::is_control) {
            let reason =
                format!("name of {} bytes: give 1..={PERIODIC_NAME_MAX}, no control characters", name.len());
            return Err(invalid(reason));
        }
        if self.missed_after < PERIODIC_EVERY_MIN || self.missed_after > crate::storable::DELAY_MAX {
            return Err(invalid("missed_after must be between 1 s and 100 years".into()));
        }
        Ok(())
    }
}

/// The unique key of the job of `name`'s tick at `tick`.
pub(crate) fn tick_key(name: &str, tick: DateTime<Utc>) -> String {
    format!("periodic:{name}:{}", tick.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// One schedule's durable record, as [`Client::periodic`](crate::Client::periodic) lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PeriodicRecord {
    /// The schedule's name.
    pub name: String,
    /// Ticks up to this instant are done: enqueued, or skipped as missed. When the schedule
    /// was first seen, the instant it was.
    pub last_tick: DateTime<Utc>,
    /// The next run: the schedule's first tick after `last_tick`, as the leader last computed
    /// it; `None` until a leader has seen the schedule, or if the schedule has no more ticks.
    pub next_tick: Option<DateTime<Utc>>,
    /// When the leader last moved `last_tick`.
    pub updated_at: DateTime<Utc>,
}
