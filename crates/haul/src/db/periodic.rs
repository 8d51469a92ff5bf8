//! Every statement on the periodic table: one row per schedule name recording the last tick
//! done. The leader moves it forward with a compare-and-set in the same transaction as the
//! tick's job insert, so a tick is enqueued at most once whatever process leads.

use super::{Db, InsertBatch, UniqueIds, render};
use crate::error::Result;
use crate::periodic::PeriodicRecord;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Records the schedules not seen before (their first tick is the first after now), then
/// returns every named schedule's last and next tick and the clock's now. A row another process is
/// inserting concurrently may be missing from the answer: the next round sees it.
const SEEN: &str = r#"
WITH new AS (
    INSERT INTO {schema}.periodic (name, last_tick, updated_at)
    SELECT n, {now}, {now} FROM unnest($2::text[]) AS n
    ON CONFLICT (name) DO NOTHING
    RETURNING name, last_tick, next_tick
)
SELECT name, last_tick, next_tick, {now} AS now FROM new
UNION ALL
SELECT name, last_tick, next_tick, {now} AS now FROM {schema}.periodic WHERE name = ANY($2::text[])
"#;

/// The compare-and-set: only a tick after the recorded one moves it. A concurrent leader's
/// update of the same row makes this one wait, then re-check against the committed tick.
const ADVANCE: &str = r#"
UPDATE {schema}.periodic SET last_tick = $3, next_tick = $4, updated_at = {now}
WHERE name = $2 AND last_tick < $3
RETURNING name
"#;

/// The next tick of a schedule whose recorded one differs from what the leader computes.
const SET_NEXT: &str =
    "UPDATE {schema}.periodic SET next_tick = $3 WHERE name = $2 AND next_tick IS DISTINCT FROM $3";

const NOW: &str = "SELECT {now}";

const LIST: &str = "SELECT name, last_tick, next_tick, updated_at FROM {schema}.periodic ORDER BY name";

/// The rendered statements on `periodic` for one schema.
pub(super) struct PeriodicSql {
    seen: Arc<str>,
    advance: Arc<str>,
    set_next: Arc<str>,
    now: Arc<str>,
    list: Arc<str>,
}

impl PeriodicSql {
    pub(super) fn new(schema: &str) -> Self {
        PeriodicSql {
            seen: render(SEEN, schema),
            advance: render(ADVANCE, schema),
            set_next: render(SET_NEXT, schema),
            now: render(NOW, schema),
            list: render(LIST, schema),
        }
    }
}

/// The schedules' last ticks, read at `now`.
pub(crate) struct Seen {
    pub now: DateTime<Utc>,
    /// Each schedule's name, last tick and recorded next tick.
    pub last: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)>,
}

impl Seen {
    /// The last tick of `name`, if its row was read.
    pub(crate) fn last_tick(&self, name: &str) -> Option<DateTime<Utc>> {
        self.last.iter().find(|(n, ..)| n == name).map(|(_, t, _)| *t)
    }

    /// The next tick recorded for `name` (`None` if its row was not read or has none).
    pub(crate) fn next_tick(&self, name: &str) -> Option<DateTime<Utc>> {
        self.last.iter().find(|(n, ..)| n == name).and_then(|(.., next)| *next)
    }
}

/// What recording a tick did.
pub(crate) enum Tick {
    /// The record was already at or past the tick (another leader did it): nothing changed.
    Passed,
    /// The record moved to the tick, and the job was inserted if one was given.
    Advanced(Option<UniqueIds>),
}

#[derive(sqlx::FromRow)]
struct SeenRow {
    name: String,
    last_tick: DateTime<Utc>,
    next_tick: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Listed {
    name: String,
    last_tick: DateTime<Utc>,
    next_tick: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl Db {
    /// Records the `names` not seen before and reads every one's last tick.
    pub(crate) async fn periodic_seen(&self, names: &[String]) -> Result<Seen> {
        let q = self.query_as::<SeenRow>(&self.inner.periodic.seen).bind(names);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        let now = match rows.first() {
            Some(r) => r.now,
            None => self.periodic_now().await?,
        };
        Ok(Seen { now, last: rows.into_iter().map(|r| (r.name, r.last_tick, r.next_tick)).collect() })
    }

    /// The clock's now, for a round that read no row.
    async fn periodic_now(&self) -> Result<DateTime<Utc>> {
        let q = self.query(&self.inner.periodic.now);
        let row = self.with_conn(async |c| q.fetch_one(c).await).await?;
        sqlx::Row::try_get(&row, 0).map_err(|e| self.err(e))
    }

    /// Moves `name`'s record to `tick` (with `next`, the tick after it) and, in the same
    /// transaction, inserts `job` (a batch with the tick's unique key); nothing at all when
    /// the record is already there.
    pub(crate) async fn periodic_advance(
        &self,
        name: &str,
        (tick, next): (DateTime<Utc>, Option<DateTime<Utc>>),
        job: Option<&InsertBatch>,
    ) -> Result<Tick> {
        let advance = self.query(&self.inner.periodic.advance).bind(name).bind(tick).bind(next);
        let insert = job.map(|b| self.job_insert_unique_query(b));
        self.with_conn(async |c| {
            let mut tx = sqlx::Connection::begin(c).await?;
            if advance.fetch_optional(&mut *tx).await?.is_none() {
                tx.rollback().await?;
                return Ok(Tick::Passed);
            }
            let ids = match insert {
                Some(q) => Some(q.fetch_one(&mut *tx).await?),
                None => None,
            };
            tx.commit().await?;
            Ok(Tick::Advanced(ids))
        })
        .await
    }

    /// Records `next` as `name`'s next tick where it differs.
    pub(crate) async fn periodic_set_next(&self, name: &str, next: Option<DateTime<Utc>>) -> Result<()> {
        let q = self.query(&self.inner.periodic.set_next).bind(name).bind(next);
        self.with_conn(async |c| q.execute(c).await).await?;
        Ok(())
    }

    /// Every schedule's record, by name.
    pub(crate) async fn periodic_list(&self) -> Result<Vec<PeriodicRecord>> {
        let q = self.query_as::<Listed>(&self.inner.periodic.list);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        let record = |r: Listed| PeriodicRecord {
            name: r.name,
            last_tick: r.last_tick,
            next_tick: r.next_tick,
            updated_at: r.updated_at,
        };
        Ok(rows.into_iter().map(record).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::db::test_db;
    use chrono::TimeDelta;

    #[tokio::test]
    async fn a_tick_is_recorded_once_even_by_two_leaders_at_once() {
        let (_pool, db, _schema) = test_db("periodic").await;
        let names = vec!["a".to_owned()];
        let seen = db.periodic_seen(&names).await.unwrap();
        let first = seen.last_tick("a").expect("a schedule seen first is recorded");
        assert_eq!(first, seen.now, "its first tick is the first after now");
        let again = db.periodic_seen(&names).await.unwrap();
        assert_eq!(again.last_tick("a"), Some(first), "seeing it again changes nothing");

        let tick = first + TimeDelta::seconds(10);
        let (x, y) = tokio::join!(
            db.periodic_advance("a", (tick, None), None),
            db.periodic_advance("a", (tick, None), None)
        );
        let advanced =
            [x.unwrap(), y.unwrap()].iter().filter(|t| matches!(t, super::Tick::Advanced(_))).count();
        assert_eq!(advanced, 1, "one of two concurrent leaders records the tick");
        let earlier = db.periodic_advance("a", (tick - TimeDelta::seconds(5), None), None).await.unwrap();
        assert!(matches!(earlier, super::Tick::Passed), "a tick before the record is never recorded");
        let listed = db.periodic_list().await.unwrap();
        assert_eq!((listed.len(), listed[0].last_tick), (1, tick));
    }
}
