//! Claiming jobs of many queues in one statement: each queue's next available jobs in fetch
//! order, at most its own count, under one lease, for a worker whose queues would otherwise
//! claim one statement each.

use super::claim::{
    CLAIMED_ARRAYS, CLAIMED_COLUMNS, ClaimKey, Claimed, ClaimedJob, UNTOUCHED, with_claim_slots,
};
use super::columns::statement;
use crate::db::Db;
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// Per entry of `$2` (queues), `$3` (counts) and the key to resume after (`$6`, `$7`, `$8`),
/// the queue's next jobs after that key, in fetch order, locked with `SKIP LOCKED`: one walk
/// of `jobs_fetch` per queue, starting at the key (an index condition). A queue claimed from
/// its start gets a key before every job ([`FROM_START`]) and `$9` true; a resumed walk passes
/// over the rows other transactions touched (`{untouched}`). As in the one-queue claim, each
/// slot's update fetches the picked rows by their addresses. Each queue's walk is
/// a subquery per entry, not a join: the worker's sessions turn nested loops off, and the
/// cost that puts on a lateral join would have the server compile the statement (JIT) on
/// every run, hundreds of milliseconds.
const GET_AVAILABLE_MANY: &str = r#"
WITH picked AS (
    SELECT {slot_arrays} FROM unnest(ARRAY(
        SELECT unnest(ARRAY(
            SELECT ROW(ctid, slot) FROM {schema}.jobs
            WHERE state = {available} AND queue = r.queue
              AND (priority, run_at, id) > (r.priority, r.run_at, r.id)
              AND (r.from_start OR {untouched})
            ORDER BY priority, run_at, id
            LIMIT r.n
            FOR UPDATE SKIP LOCKED
        ))
        FROM unnest($2::text[], $3::bigint[], $6::smallint[], $7::timestamptz[], $8::bigint[],
                    $9::bool[])
            AS r(queue, n, priority, run_at, id, from_start)
    )) AS p(ctid tid, slot smallint)
), {claim_slots}
SELECT coalesce(array_agg(queue), '{}') AS queues, {claimed_arrays}
FROM claimed
"#;

/// A key before every job: a domain holds priorities far above `i16::MIN`, so a walk from
/// this key starts at the queue's first job whatever its time and id.
const FROM_START: ClaimKey = ClaimKey { priority: i16::MIN, run_at: DateTime::UNIX_EPOCH, id: i64::MIN };

/// The rendered statement for one schema.
pub(super) fn sql(schema: &str) -> Arc<str> {
    let columns = format!("j.queue::text AS queue, {CLAIMED_COLUMNS}");
    let sql = with_claim_slots(GET_AVAILABLE_MANY, &columns).replace("{claimed_arrays}", CLAIMED_ARRAYS);
    statement(&sql.replace("{untouched}", UNTOUCHED), schema)
}

/// One queue's part of a claim over many queues.
#[derive(Debug, Clone)]
pub(crate) struct QueueClaim {
    pub queue: Arc<str>,
    /// The most jobs to claim from it.
    pub limit: i64,
    /// Resume after this key, or from the queue's first job.
    pub after: Option<ClaimKey>,
}

/// The claim's row: each job's queue, then the jobs as in the one-queue claim.
#[derive(sqlx::FromRow)]
struct ClaimedMany {
    queues: Vec<String>,
    #[sqlx(flatten)]
    jobs: Claimed,
}

/// The claim's arguments, a column each.
#[derive(Default)]
struct Columns {
    queues: Vec<String>,
    limits: Vec<i64>,
    priorities: Vec<i16>,
    run_at: Vec<DateTime<Utc>>,
    ids: Vec<i64>,
    from_start: Vec<bool>,
}

impl Columns {
    fn new(claims: &[QueueClaim]) -> Self {
        let mut c = Columns::default();
        for claim in claims {
            c.queues.push(claim.queue.to_string());
            c.limits.push(claim.limit);
            let key = claim.after.unwrap_or(FROM_START);
            c.priorities.push(key.priority);
            c.run_at.push(key.run_at);
            c.ids.push(key.id);
            c.from_start.push(claim.after.is_none());
        }
        c
    }
}

impl Db {
    /// Claims for `worker`, under a lease, up to each entry's limit of its queue's available
    /// jobs, in one statement. The queues of `claims` must be distinct. Returns the jobs of
    /// each entry, in the order of `claims`.
    pub(crate) async fn job_get_available_many(
        &self,
        claims: &[QueueClaim],
        lease_ms: i64,
        worker: &str,
    ) -> Result<Vec<Vec<ClaimedJob>>> {
        let c = &Columns::new(claims);
        let claim = move || async move {
            let q = self.query_as::<ClaimedMany>(&self.inner.job.claim_many);
            let q = q.bind(&c.queues).bind(&c.limits).bind(lease_ms).bind(worker);
            let q = q.bind(&c.priorities).bind(&c.run_at).bind(&c.ids).bind(&c.from_start);
            self.with_conn(async |conn| q.fetch_one(conn).await).await
        };
        let row = self.retrying(claim).await?;
        let jobs = row.jobs.into_jobs().map_err(|e| self.err(e))?;
        let index: HashMap<&str, usize> = claims.iter().enumerate().map(|(i, c)| (&*c.queue, i)).collect();
        let mut out: Vec<Vec<ClaimedJob>> = claims.iter().map(|_| Vec::new()).collect();
        for (queue, job) in row.queues.iter().zip(jobs) {
            let i = index.get(queue.as_str()).copied();
            let i = i.ok_or_else(|| self.err(sqlx::Error::Decode("a job of an unclaimed queue".into())))?;
            out[i].push(job);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! `job_get_available_many` against a real table.

    use super::QueueClaim;
    use crate::db::{ClaimedJob, Db};
    use sqlx::{AssertSqlSafe, PgPool};

    /// Inserts an available job of `queue` at `priority`; returns its id.
    async fn job(pool: &PgPool, schema: &str, queue: &str, priority: i16) -> i64 {
        let sql = format!(
            "INSERT INTO \"{schema}\".jobs (kind, queue, args, state, max_attempts, priority) \
             VALUES ('noop', $1, '{{}}', 'available', 3, $2) RETURNING id"
        );
        sqlx::query_scalar(AssertSqlSafe(sql)).bind(queue).bind(priority).fetch_one(pool).await.unwrap()
    }

    fn claim(queue: &str, limit: i64) -> QueueClaim {
        QueueClaim { queue: queue.into(), limit, after: None }
    }

    fn ids(jobs: &[ClaimedJob]) -> Vec<i64> {
        let mut ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        ids.sort_unstable();
        ids
    }

    async fn claim_many(db: &Db, claims: &[QueueClaim]) -> Vec<Vec<ClaimedJob>> {
        db.job_get_available_many(claims, 60_000, "w").await.unwrap()
    }

    #[tokio::test]
    async fn each_queue_gets_at_most_its_count_in_priority_order_and_unlisted_queues_nothing() {
        let (pool, db, schema) = crate::db::test_db("ht_many").await;
        let mut a = Vec::new();
        for priority in [3, 2, 1, 0, -1, -2] {
            a.push(job(&pool, &schema, "a", priority).await);
        }
        let mut b = Vec::new();
        for _ in 0..3 {
            b.push(job(&pool, &schema, "b", 0).await);
        }
        let limited = job(&pool, &schema, "limited", 0).await;

        let got = claim_many(&db, &[claim("a", 2), claim("b", 10)]).await;
        assert_eq!(ids(&got[0]), [a[4], a[5]], "a's two most urgent jobs");
        assert_eq!(ids(&got[1]), b, "all of b, fewer than asked");
        assert!(got.iter().flatten().all(|j| j.attempt == 1));
        let running = format!("SELECT queue FROM \"{schema}\".jobs WHERE state = 'running' ORDER BY queue");
        let queues: Vec<String> = sqlx::query_scalar(AssertSqlSafe(running)).fetch_all(&pool).await.unwrap();
        assert_eq!(queues, ["a", "a", "b", "b", "b"], "nothing of a queue not listed ({limited})");

        // resuming after a key: a job placed before it is left to a claim from the start
        let after = got[0].iter().map(ClaimedJob::key).max();
        let urgent = job(&pool, &schema, "a", -5).await;
        let resumed = QueueClaim { queue: "a".into(), limit: 10, after };
        let got = claim_many(&db, &[resumed, claim("b", 1)]).await;
        assert_eq!(ids(&got[0]), &a[..4], "after the key: the rest of a, not the urgent job");
        assert!(got[1].is_empty(), "b has nothing left");
        let got = claim_many(&db, &[claim("a", 10), claim("b", 1)]).await;
        assert_eq!(ids(&got[0]), [urgent], "from the start");

        // a job whose row another transaction locked (then rolled back): a resumed walk
        // passes over it, a walk from the start takes it
        let (touched, after) = (job(&pool, &schema, "b", 0).await, job(&pool, &schema, "b", 0).await);
        let mut tx = pool.begin().await.unwrap();
        let lock = format!("SELECT id FROM \"{schema}\".jobs WHERE id = {touched} FOR UPDATE");
        sqlx::raw_sql(AssertSqlSafe(lock)).execute(&mut *tx).await.unwrap();
        tx.rollback().await.unwrap();
        let key =
            Some(crate::db::ClaimKey { priority: i16::MIN, run_at: chrono::DateTime::UNIX_EPOCH, id: 0 });
        let resumed = QueueClaim { queue: "b".into(), limit: 10, after: key };
        assert_eq!(ids(&claim_many(&db, &[resumed, claim("a", 1)]).await[0]), [after], "passed over");
        assert_eq!(ids(&claim_many(&db, &[claim("b", 10), claim("a", 1)]).await[0]), [touched]);
        crate::db::drop_test_schema(&pool, &schema).await;
    }
}
