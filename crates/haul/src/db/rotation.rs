//! Every statement on the rotation table (the slot of `jobs` that plain inserts go to) and the
//! emptying of the other slot, through `truncate_slot` (migration 0015).

use super::{Db, render};
use crate::error::Result;
use std::sync::Arc;
use std::time::Duration;

/// Moves inserts to the other slot once they have gone to this one for `$2` ms, if the other
/// slot is empty on disk (truncated; VACUUM never shrinks a slot, migration 0004). Returns the
/// inserts' slot and how long ago it became theirs, in ms, after the move if any. Through the
/// primary key, so the worker's sessions (sequential scans off) plan it at its true cost.
const ADVANCE: &str = r#"
WITH moved AS (
    UPDATE {schema}.rotation SET slot = 3 - slot, since = {now}
    WHERE one AND since <= {now} - $2 * interval '1 millisecond'
      AND pg_relation_size(format('{schema}.%I', 'jobs_' || (3 - slot))::regclass) = 0
    RETURNING slot, since
)
SELECT slot, (extract(epoch FROM {now} - since) * 1000)::bigint AS age_ms FROM moved
UNION ALL
SELECT slot, (extract(epoch FROM {now} - since) * 1000)::bigint FROM {schema}.rotation
WHERE one AND NOT EXISTS (SELECT FROM moved)
"#;

/// Pages of slot `$2` on disk.
const PAGES: &str = r#"
SELECT (pg_relation_size(format('{schema}.%I', 'jobs_' || $2::smallint)::regclass)
        / current_setting('block_size')::int)::bigint
"#;

/// Empties slot `$2` if it holds no job, trying its lock `$3` times.
const TRUNCATE: &str = "SELECT {schema}.truncate_slot($2::smallint, $3)";

/// The rendered rotation statements for one schema.
pub(super) struct RotationSql {
    advance: Arc<str>,
    pages: Arc<str>,
    truncate: Arc<str>,
}

impl RotationSql {
    pub(super) fn new(schema: &str) -> Self {
        RotationSql {
            advance: render(ADVANCE, schema),
            pages: render(PAGES, schema),
            truncate: render(TRUNCATE, schema),
        }
    }
}

/// The slot plain inserts go to, and for how long they have.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct Rotation {
    pub slot: i16,
    pub age_ms: i64,
}

/// What an attempt to empty a slot found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emptied {
    /// Truncated.
    Truncated,
    /// Inserts go there (they moved to it meanwhile).
    Current,
    /// A job is still in it.
    Jobs,
    /// Its lock was never free.
    Busy,
}

impl Db {
    /// Moves plain inserts to the other slot if they have gone to theirs for `span` and the
    /// other is empty; returns their slot after that.
    pub(crate) async fn rotation_advance(&self, span: Duration) -> Result<Rotation> {
        let q = self.query_as(&self.inner.rotation.advance).bind(span.as_millis() as i64);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

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
            "current" => Emptied::Current,
            "jobs" => Emptied::Jobs,
            _ => Emptied::Busy,
        })
    }
}
