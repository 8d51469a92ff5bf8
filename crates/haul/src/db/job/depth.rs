//! How many jobs each queue and kind holds in each state, read cheaply on a table of millions
//! of rows: an exact count of a table known to be small (reading at most a cap of rows), and
//! otherwise a page sample of the table, exact counts of the states whose partial indexes
//! answer alone (running through `jobs_lease`, dead letters through `jobs_dead`, each read up
//! to a cap), and the oldest available job of each queue through `jobs_fetch`.
//!
//! They count every queue and kind: whether a count reached its cap is a fact about the whole
//! table, and a filter would make a capped read no cheaper.

use super::columns::statement;
use crate::db::Db;
use crate::error::Result;
use crate::job::JobState;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The table's pages now over its slots, and its rows per page at the last ANALYZE of each
/// slot (`None` before one).
const SIZE: &str = r#"
SELECT (coalesce(sum(pg_relation_size(c.oid)), 0) / current_setting('block_size')::int)::bigint AS pages,
       (sum(c.reltuples) FILTER (WHERE c.relpages > 0 AND c.reltuples >= 0)
        / nullif(sum(c.relpages) FILTER (WHERE c.relpages > 0 AND c.reltuples >= 0), 0))::float8 AS density
FROM pg_class c WHERE c.oid IN (SELECT relid FROM pg_partition_tree('{schema}.jobs') WHERE isleaf)
"#;

/// Every row's queue, kind and state, of the first `$2` rows by id; the oldest `run_at` of
/// the available ones. Read through the primary key, so the worker's sessions (which turn
/// sequential scans off) plan it at its true cost too.
const EXACT: &str = r#"
SELECT queue, kind, state, count(*) AS n, min(run_at) FILTER (WHERE state = {available}) AS oldest
FROM (SELECT queue, kind, state, run_at FROM {schema}.jobs ORDER BY id LIMIT $2) j
GROUP BY queue, kind, state
"#;

/// The rows of a sample of `$2` percent of the table's pages.
const SAMPLE: &str = r#"
SELECT queue, kind, state, count(*) AS n, NULL::timestamptz AS oldest
FROM {schema}.jobs TABLESAMPLE SYSTEM ($2)
GROUP BY queue, kind, state
"#;

/// The first `$2` running jobs and `$3` dead letters, each read from its partial index
/// (`jobs_dead` alone answers: an index-only scan; `jobs_lease` needs the rows).
const INDEXED: &str = r#"
SELECT queue, kind, state, count(*) AS n, NULL::timestamptz AS oldest FROM (
    (SELECT queue, kind, {running} AS state FROM {schema}.jobs WHERE state = {running} LIMIT $2)
    UNION ALL
    (SELECT queue, kind, {discarded} AS state FROM {schema}.jobs WHERE state = {discarded} LIMIT $3)
) j
GROUP BY queue, kind, state
"#;

/// Each queue with available jobs (skipping from one to the next in `jobs_fetch`), and its
/// oldest available `run_at`: the first of each priority (-10 to 10, the CHECK's range).
const OLDEST: &str = r#"
WITH RECURSIVE q AS (
    (SELECT queue FROM {schema}.jobs WHERE state = {available} ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM {schema}.jobs j
            WHERE j.state = {available} AND j.queue > q.queue ORDER BY j.queue LIMIT 1)
    FROM q WHERE q.queue IS NOT NULL
)
SELECT q.queue, (
    SELECT min(o.run_at) FROM generate_series(-10, 10) AS p(priority)
    CROSS JOIN LATERAL (
        SELECT j.run_at FROM {schema}.jobs j
        WHERE j.state = {available} AND j.queue = q.queue AND j.priority = p.priority
        ORDER BY j.run_at LIMIT 1
    ) o
) AS oldest
FROM q WHERE q.queue IS NOT NULL AND ($2::text IS NULL OR q.queue = $2)
"#;

/// The rendered depth statements for one schema.
pub(super) struct DepthSql {
    pub(super) size: Arc<str>,
    pub(super) exact: Arc<str>,
    pub(super) sample: Arc<str>,
    pub(super) indexed: Arc<str>,
    pub(super) oldest: Arc<str>,
}

impl DepthSql {
    pub(super) fn new(schema: &str) -> Self {
        DepthSql {
            size: statement(SIZE, schema),
            exact: statement(EXACT, schema),
            sample: statement(SAMPLE, schema),
            indexed: statement(INDEXED, schema),
            oldest: statement(OLDEST, schema),
        }
    }
}

/// The jobs table's size: pages now, rows per page at the last ANALYZE.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct TableSize {
    pub pages: i64,
    pub density: Option<f64>,
}

/// Jobs of one queue and kind in one state (a sample's count, unscaled), and the oldest
/// available `run_at` when counted exactly.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DepthRow {
    pub queue: String,
    pub kind: String,
    pub state: JobState,
    pub n: i64,
    pub oldest: Option<DateTime<Utc>>,
}

/// A queue's oldest available job's `run_at`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OldestRow {
    pub queue: String,
    pub oldest: Option<DateTime<Utc>>,
}

impl Db {
    pub(crate) async fn job_table_size(&self) -> Result<TableSize> {
        let q = self.query_as(&self.inner.job.depth.size);
        self.with_conn(async |c| q.fetch_one(c).await).await
    }

    /// Counts of the first `cap` rows read (all of them when the table holds fewer).
    pub(crate) async fn job_depth_exact(&self, cap: i64) -> Result<Vec<DepthRow>> {
        self.depth_rows(&self.inner.job.depth.exact, cap).await
    }

    /// Counts of a sample of `percent` of the pages.
    pub(crate) async fn job_depth_sample(&self, percent: f64) -> Result<Vec<DepthRow>> {
        self.depth_rows(&self.inner.job.depth.sample, percent).await
    }

    /// Running jobs and dead letters, at most `running` and `dead` of them read.
    pub(crate) async fn job_depth_indexed(&self, running: i64, dead: i64) -> Result<Vec<DepthRow>> {
        let q = self.query_as(&self.inner.job.depth.indexed).bind(running).bind(dead);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }

    /// The oldest available `run_at` of each queue (or of `queue`).
    pub(crate) async fn job_oldest_available(&self, queue: Option<&str>) -> Result<Vec<OldestRow>> {
        let q = self.query_as(&self.inner.job.depth.oldest).bind(queue);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }

    async fn depth_rows<T>(&self, sql: &Arc<str>, arg: T) -> Result<Vec<DepthRow>>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + 'static,
    {
        let q = self.query_as(sql).bind(arg);
        self.with_conn(async |c| q.fetch_all(c).await).await
    }
}
