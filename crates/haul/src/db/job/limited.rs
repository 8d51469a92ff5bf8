//! The claim of a limited queue (`fetch::limited` runs it inside the transaction that holds
//! the queue's limit row): the running jobs per partition, and a claim that takes no more of
//! each partition than it is allowed. Plain queues never run these.
//!
//! `{part}` is a job's partition: its kind (if `$k` is true) and the text of args key `$a`
//! (if not null), joined by `:`; `''` when neither applies.

use super::claim::{CLAIMED_COLUMNS, Claimed, ClaimedJob};
use super::columns::statement;
use crate::db::Db;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::sync::Arc;

const PART: &str = "concat_ws(':', CASE WHEN $3::boolean THEN kind END, args ->> $4::text)";

/// Running jobs of queue `$2` per partition (through `jobs_lease`, whose rows are exactly the
/// running jobs).
const RUNNING: &str = r#"
SELECT coalesce(array_agg(part), '{}') AS partitions, coalesce(array_agg(n), '{}') AS running
FROM (
    SELECT {part} AS part, count(*) AS n FROM {schema}.jobs
    WHERE state = {running} AND queue = $2
    GROUP BY 1
) r
"#;

/// Claims up to `$5` jobs of queue `$2` in fetch order, at most `$10[i]` of partition `$9[i]`
/// and `$11` of any other partition, at time `$12`, skipping partitions `$8` (at their limit).
/// It scans the first `$13` candidates: a partition whose jobs fill them while only a few are
/// allowed leaves the claim short, and its next claim skips it.
const CLAIM: &str = r#"
WITH cand AS MATERIALIZED (
    SELECT id, {part} AS part, priority, run_at FROM {schema}.jobs
    WHERE state = {available} AND queue = $2 AND NOT ({part} = ANY($8::text[]))
    ORDER BY priority, run_at, id
    LIMIT $13
    FOR UPDATE SKIP LOCKED
),
ranked AS (
    SELECT c.id, c.priority, c.run_at,
           row_number() OVER (PARTITION BY c.part ORDER BY c.priority, c.run_at, c.id) AS rn,
           coalesce(a.n, $11) AS allowed
    FROM cand c LEFT JOIN unnest($9::text[], $10::int[]) AS a(part, n) ON a.part = c.part
),
claimed AS (
    UPDATE {schema}.jobs j
    SET state = {running}, attempt = j.attempt + 1, attempted_at = $12,
        lease_expires_at = {now} + $6 * interval '1 millisecond', attempted_by = $7
    WHERE j.id = ANY(ARRAY(
        SELECT id FROM ranked WHERE rn <= allowed ORDER BY priority, run_at, id LIMIT $5
    ))
    RETURNING {claimed_columns}, {jpart} AS part
)
SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(slot), '{}') AS slots,
       coalesce(array_agg(kind), '{}') AS kinds,
       coalesce(array_agg(args::text), '{}') AS args, coalesce(array_agg(attempt), '{}') AS attempts,
       coalesce(array_agg(max_attempts), '{}') AS max_attempts,
       coalesce(array_agg(priority), '{}') AS priorities,
       coalesce(array_agg(timeout_ms), '{}') AS timeouts_ms,
       coalesce(array_agg(metadata::text), '{}') AS metadata,
       coalesce(array_agg(created_at), '{}') AS created_at, coalesce(array_agg(run_at), '{}') AS run_at,
       $12 AS claimed_at, coalesce(array_agg(part), '{}') AS partitions
FROM claimed
"#;

/// The rendered statements of the limited claim for one schema.
pub(in crate::db) struct LimitedSql {
    pub(super) running: Arc<str>,
    pub(super) claim: Arc<str>,
}

impl LimitedSql {
    pub(in crate::db) fn new(schema: &str) -> Self {
        let jpart = PART.replace("kind", "j.kind").replace("args", "j.args");
        LimitedSql {
            running: statement(&RUNNING.replace("{part}", PART), schema),
            claim: statement(
                &CLAIM
                    .replace("{part}", PART)
                    .replace("{jpart}", &jpart)
                    .replace("{claimed_columns}", CLAIMED_COLUMNS),
                schema,
            ),
        }
    }
}

/// How a limited queue is partitioned, as its claim statements take it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartitionBy<'a> {
    pub by_kind: bool,
    pub by_arg: Option<&'a str>,
}

/// Running jobs per partition.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RunningParts {
    pub partitions: Vec<String>,
    pub running: Vec<i64>,
}

/// What a limited claim may take.
#[derive(Debug, Default)]
pub(crate) struct Allowance {
    /// Jobs wanted in all.
    pub want: i64,
    /// Partitions at their limit.
    pub blocked: Vec<String>,
    /// Partitions with a limit of their own, and how many of each may start.
    pub partitions: Vec<String>,
    pub allowed: Vec<i32>,
    /// How many of any other partition may start.
    pub others: i32,
    /// Candidates to scan.
    pub scan: i64,
}

/// One limited claim: what it may take of which queue, for whom, at what time.
pub(crate) struct LimitedClaim<'a> {
    pub queue: &'a str,
    pub by: PartitionBy<'a>,
    pub allow: &'a Allowance,
    pub lease_ms: i64,
    pub worker: &'a str,
    /// The claim's time, recorded as each job's `attempted_at`.
    pub at: DateTime<Utc>,
}

/// A limited claim's jobs, with the partition of each.
#[derive(sqlx::FromRow)]
struct LimitedClaimed {
    #[sqlx(flatten)]
    claimed: Claimed,
    partitions: Vec<String>,
}

impl Db {
    /// The running jobs of `queue` per partition, inside the caller's transaction.
    pub(crate) async fn job_running_by_partition(
        &self,
        c: &mut PgConnection,
        queue: &str,
        by: PartitionBy<'_>,
    ) -> sqlx::Result<RunningParts> {
        let q = self.query_as::<RunningParts>(&self.inner.job.limited.running);
        q.bind(queue).bind(by.by_kind).bind(by.by_arg).fetch_one(c).await
    }

    /// Claims what `p.allow` lets start of `p.queue`, recording `p.at` as their start; each
    /// job comes with its partition.
    pub(crate) async fn job_claim_limited(
        &self,
        c: &mut PgConnection,
        p: LimitedClaim<'_>,
    ) -> sqlx::Result<Vec<(ClaimedJob, String)>> {
        let (a, by) = (p.allow, p.by);
        let q = self.query_as::<LimitedClaimed>(&self.inner.job.limited.claim);
        let q = q.bind(p.queue).bind(by.by_kind).bind(by.by_arg).bind(a.want).bind(p.lease_ms).bind(p.worker);
        let q = q.bind(&a.blocked).bind(&a.partitions).bind(&a.allowed).bind(a.others);
        let got = q.bind(p.at).bind(a.scan).fetch_one(c).await?;
        let jobs = got.claimed.into_jobs()?;
        if jobs.len() != got.partitions.len() {
            return Err(sqlx::Error::Decode("claimed partitions of a different length".into()));
        }
        Ok(jobs.into_iter().zip(got.partitions).collect())
    }
}
