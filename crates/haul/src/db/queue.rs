//! Every statement on the queues table: a row per queue that a worker ran or an operator
//! paused or resumed. Inserting a job never touches it. Pausing and resuming notify the
//! control channel (`pause:<queue>`, `resume:<queue>`) in the same statement, so workers hear
//! of it as the change commits; they also re-read the paused set on their poll tick.

use super::{Db, render};
use crate::error::Result;
use crate::queue::QueueInfo;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Creates the rows of a worker's queues (`$2`, sorted) that have none.
const ENSURE_MANY: &str = r#"
INSERT INTO {schema}.queues (name, created_at, updated_at)
SELECT name, {now}, {now} FROM unnest($2::text[]) AS n(name)
ON CONFLICT (name) DO NOTHING
"#;

/// Pauses (`$3` true) or resumes queue `$2`, creating its row if it has none. Pausing a
/// paused queue keeps its `paused_at`.
const SET_PAUSED: &str = r#"
WITH q AS (
    INSERT INTO {schema}.queues AS q (name, paused_at, created_at, updated_at)
    VALUES ($2, CASE WHEN $3::boolean THEN {now} END, {now}, {now})
    ON CONFLICT (name) DO UPDATE
    SET paused_at = CASE WHEN $3::boolean THEN coalesce(q.paused_at, EXCLUDED.paused_at) END,
        updated_at = EXCLUDED.updated_at
    RETURNING name
)
SELECT name, pg_notify('{control}', CASE WHEN $3::boolean THEN 'pause:' ELSE 'resume:' END || name)::text
FROM q
"#;

/// Which of the queues `$2` are paused (a primary-key probe per name: no scan).
const PAUSED_AMONG: &str = r#"
SELECT name FROM {schema}.queues WHERE name = ANY($2::text[]) AND paused_at IS NOT NULL
"#;

const LIST: &str = "SELECT name, paused_at, created_at FROM {schema}.queues ORDER BY name";

/// The rendered statements on `queues` for one schema.
pub(super) struct QueueSql {
    ensure_many: Arc<str>,
    set_paused: Arc<str>,
    paused_among: Arc<str>,
    list: Arc<str>,
}

impl QueueSql {
    pub(super) fn new(schema: &str) -> Self {
        QueueSql {
            ensure_many: render(ENSURE_MANY, schema),
            set_paused: render(SET_PAUSED, schema),
            paused_among: render(PAUSED_AMONG, schema),
            list: render(LIST, schema),
        }
    }
}

/// A queue's name.
#[derive(sqlx::FromRow)]
struct Name {
    name: String,
}

/// A queue's row.
#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    paused_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl Db {
    /// Creates the rows of `names` (sorted, so concurrent workers lock them in one order).
    pub(crate) async fn queue_ensure_many(&self, names: &[String]) -> Result<()> {
        let q = self.query(&self.inner.queue.ensure_many).bind(names);
        self.with_conn(async |c| q.execute(c).await).await?;
        Ok(())
    }

    /// Pauses or resumes `name` (creating its row) and notifies the workers.
    pub(crate) async fn queue_set_paused(&self, name: &str, paused: bool) -> Result<()> {
        let q = self.query(&self.inner.queue.set_paused).bind(name).bind(paused);
        self.with_conn(async |c| q.execute(c).await).await?;
        Ok(())
    }

    /// The paused queues among `names`.
    pub(crate) async fn queue_paused_among(&self, names: &[String]) -> Result<Vec<String>> {
        let q = self.query_as::<Name>(&self.inner.queue.paused_among).bind(names);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(|r| r.name).collect())
    }

    /// Every queue with a row, by name, its jobs not counted yet.
    pub(crate) async fn queue_list(&self) -> Result<Vec<QueueInfo>> {
        let q = self.query_as::<Row>(&self.inner.queue.list);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(|r| QueueInfo::from_row(r.name, r.paused_at, r.created_at)).collect())
    }
}
