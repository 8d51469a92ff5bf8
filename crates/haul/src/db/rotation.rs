//! Which slot of `jobs` plain inserts go to (by the clock: 1 and 2 take turns every `SPAN`), and
//! the emptying of the other one through `truncate_slot` (migration 0015).

use super::{Db, render};
use crate::clock::Clock;
use crate::error::Result;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long plain inserts go to one slot before the other. Every process reads its own clock,
/// so no insert asks the database which slot is current; the rotator leaves the first and last
/// second of a span alone, so clocks a second apart still agree on the slot it empties.
pub(crate) const SPAN: Duration = Duration::from_secs(30);

/// What separates a queue from the rotating slot its new jobs went to in a plain insert's
/// notification (`queue@1`): a character no queue's name has.
pub(crate) const SLOT_MARK: char = '@';

/// The slots of `jobs`, `jobs_0` to `jobs_2`: slot 0 for the jobs that may live long, and the
/// two that take turns.
pub(crate) const SLOTS: usize = 3;

/// Where in the rotation a clock's time falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotTime {
    /// The slot plain inserts go to now: 1 or 2.
    pub slot: i16,
    /// How long they have gone there.
    pub age: Duration,
}

impl SlotTime {
    /// The slot and age at `clock`'s time now (the system clock plus its shift).
    pub(crate) fn now(clock: &Clock) -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let us = since_epoch.as_micros() as i64 + clock.shift_micros();
        Self::at_micros(us)
    }

    /// The slot and age `us` microseconds after the Unix epoch.
    fn at_micros(us: i64) -> Self {
        let span = SPAN.as_micros() as i64;
        let slot = 1 + us.div_euclid(span).rem_euclid(2) as i16;
        SlotTime { slot, age: Duration::from_micros(us.rem_euclid(span) as u64) }
    }
}

/// `{insert_slot}` of a statement that routes its rows through the parent: the slot a plain
/// job available at once goes to, computed by the database as `SlotTime::now` computes it.
pub(crate) fn insert_slot_sql() -> String {
    format!("(1 + floor(extract(epoch FROM {{now}}) / {})::bigint % 2)::smallint", SPAN.as_secs())
}

/// Pages of slot `$2` on disk.
const PAGES: &str = r#"
SELECT (pg_relation_size(format('{schema}.%I', 'jobs_' || $2::smallint)::regclass)
        / current_setting('block_size')::int)::bigint
"#;

/// Empties slot `$2` if it holds no job, trying its lock `$3` times.
const TRUNCATE: &str = "SELECT {schema}.truncate_slot($2::smallint, $3)";

/// The rendered rotation statements for one schema.
pub(super) struct RotationSql {
    pages: Arc<str>,
    truncate: Arc<str>,
}

impl RotationSql {
    pub(super) fn new(schema: &str) -> Self {
        RotationSql { pages: render(PAGES, schema), truncate: render(TRUNCATE, schema) }
    }
}

/// What an attempt to empty a slot found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emptied {
    /// Truncated.
    Truncated,
    /// A job is still in it.
    Jobs,
    /// Its lock was never free.
    Busy,
}

impl Db {
    /// Pages of slot `slot` on disk.
    pub(crate) async fn rotation_pages(&self, slot: i16) -> Result<i64> {
        let q = self.query(&self.inner.rotation.pages).bind(slot);
        self.with_conn(async |c| sqlx::Row::try_get(&q.fetch_one(c).await?, 0)).await
    }

    /// Truncates slot `slot` if no job is left in it, trying its lock `tries` times.
    pub(crate) async fn rotation_truncate(&self, slot: i16, tries: i32) -> Result<Emptied> {
        let q = self.query(&self.inner.rotation.truncate).bind(slot).bind(tries);
        let found: String = self.with_conn(async |c| sqlx::Row::try_get(&q.fetch_one(c).await?, 0)).await?;
        Ok(match found.as_str() {
            "truncated" => Emptied::Truncated,
            "jobs" => Emptied::Jobs,
            _ => Emptied::Busy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_take_turns_every_span() {
        let span = SPAN.as_micros() as i64;
        assert_eq!(SlotTime::at_micros(0), SlotTime { slot: 1, age: Duration::ZERO });
        assert_eq!(SlotTime::at_micros(span - 1).slot, 1);
        assert_eq!(SlotTime::at_micros(span + 5), SlotTime { slot: 2, age: Duration::from_micros(5) });
        assert_eq!(SlotTime::at_micros(2 * span).slot, 1);
        assert_eq!(SlotTime::at_micros(-1).slot, 2);
    }
}
