//! Claiming jobs: the next available jobs of a queue in fetch order, taken under a lease, and
//! the keys that order them.

use super::Query;
use super::columns::statement;
use crate::db::Db;
use crate::db::rotation::SLOTS;
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::sync::Arc;

/// `{after}` is empty for a scan from the queue's first job, or a keyset condition resuming
/// after the last claimed key (`fetch::cursor`): an index condition, so the scan starts there,
/// and [`UNTOUCHED`], so it passes over the jobs other claims hold or took.
/// The picked rows come back as one array of row addresses (`ctid`) per slot (CTE `picked`,
/// one row), and each slot's update fetches its rows by address: see [`CLAIM_SLOT`].
/// The claimed jobs come back as one row of arrays, a column each: one row to send and decode
/// instead of one per job, which costs the worker measurably less CPU per job.
const GET_AVAILABLE: &str = r#"
WITH picked AS (
    SELECT {slot_arrays} FROM (
        SELECT ctid, slot FROM {schema}.jobs
        WHERE state = {available} AND queue = $2 {after}
        ORDER BY priority, run_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    ) p
), {claim_slots}
SELECT {claimed_arrays}
FROM claimed
"#;

/// A claim after a key on one rotating slot's table alone (`{n}`): the pick and the update of
/// the same table, by address. Starting the executor on one table instead of the parent and
/// an update per slot is what an idle worker's pickup waits for (see `docs/benchmarks.md`).
const GET_AVAILABLE_IN_SLOT: &str = r#"
WITH claimed AS (
    UPDATE {schema}.jobs_{n} j
    SET state = {running}, attempt = j.attempt + 1, attempted_at = {now},
        lease_expires_at = {now} + $4 * interval '1 millisecond', attempted_by = $5
    WHERE j.ctid = ANY(ARRAY(
        SELECT ctid FROM {schema}.jobs_{n}
        WHERE state = {available} AND queue = $2 {after}
        ORDER BY priority, run_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING {claimed_columns}
)
SELECT {claimed_arrays}
FROM claimed
"#;

/// `{slot_arrays}`: the picked rows (`p`: `ctid`, `slot`) as one row of an address array per
/// slot, `s0` to `s2`, built in the one pass that picks them.
pub(super) const SLOT_ARRAYS: &str = "coalesce(array_agg(p.ctid) FILTER (WHERE p.slot = 0), '{}') AS s0,
           coalesce(array_agg(p.ctid) FILTER (WHERE p.slot = 1), '{}') AS s1,
           coalesce(array_agg(p.ctid) FILTER (WHERE p.slot = 2), '{}') AS s2";

/// `{claim_slots}`: the claim's update of the rows in CTE `picked` (`s0` to `s2`), one update
/// per slot straight on its table (through the parent each address would be tried in every
/// slot); then CTE `claimed`, their rows together.
const CLAIM_SLOTS: &str = r#"c0 AS ({claim_slot_0}), c1 AS ({claim_slot_1}), c2 AS ({claim_slot_2}),
claimed AS (SELECT * FROM c0 UNION ALL SELECT * FROM c1 UNION ALL SELECT * FROM c2)"#;

/// One slot's update in `CLAIM_SLOTS`: slot `{n}`'s picked rows become running under a lease.
/// It fetches each row by the address the pick locked (a TID scan, whatever the statistics say),
/// not through the primary key: one index descent less per claimed job. The address is exact:
/// the pick holds the row's lock, so no one else can update or move the row, and VACUUM FULL
/// (compaction) waits for the statement. A row updated by a commit after the statement's
/// snapshot is locked in its newest version, which the snapshot does not see: the update passes
/// over it and the job stays available for the next claim.
const CLAIM_SLOT: &str = r#"
    UPDATE {schema}.jobs_{n} j
    SET state = {running}, attempt = j.attempt + 1, attempted_at = {now},
        lease_expires_at = {now} + $4 * interval '1 millisecond', attempted_by = $5
    WHERE j.ctid = ANY((SELECT s{n} FROM picked)::tid[])
    RETURNING {claimed_columns}"#;

/// The columns a claim returns of each job.
/// The columns of a domain (migration 0017) are cast to its base type, so that their arrays are
/// arrays of the base type, which is what the worker decodes.
pub(super) const CLAIMED_COLUMNS: &str = "j.id, j.slot, j.kind::text AS kind, j.args, \
    j.attempt::smallint AS attempt, j.max_attempts::smallint AS max_attempts, \
    j.priority::smallint AS priority, j.timeout_ms::integer AS timeout_ms, j.metadata, j.created_at, j.run_at";

/// `template` with `{claim_slots}` filled in, each update returning `columns`.
pub(super) fn with_claim_slots(template: &str, columns: &str) -> String {
    let template = template.replace("{slot_arrays}", SLOT_ARRAYS);
    let mut slots = CLAIM_SLOTS.to_owned();
    for n in 0..SLOTS {
        let update = CLAIM_SLOT.replace("{n}", &n.to_string()).replace("{claimed_columns}", columns);
        slots = slots.replace(&format!("{{claim_slot_{n}}}"), &update);
    }
    template.replace("{claim_slots}", &slots)
}

/// `{claimed_arrays}`: the claimed jobs (CTE `claimed`) as one row of arrays, [`Claimed`]'s
/// columns.
pub(super) const CLAIMED_ARRAYS: &str = r#"coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(slot), '{}') AS slots,
       coalesce(array_agg(kind), '{}') AS kinds,
       coalesce(array_agg(args::text), '{}') AS args, coalesce(array_agg(attempt), '{}') AS attempts,
       coalesce(array_agg(max_attempts), '{}') AS max_attempts,
       coalesce(array_agg(priority), '{}') AS priorities,
       coalesce(array_agg(timeout_ms), '{}') AS timeouts_ms,
       coalesce(array_agg(metadata::text), '{}') AS metadata,
       coalesce(array_agg(created_at), '{}') AS created_at, coalesce(array_agg(run_at), '{}') AS run_at,
       {now} AS claimed_at"#;
const AFTER_KEY: &str = "AND (priority, run_at, id) > ($6, $7, $8) AND {untouched}";

/// `{untouched}`: the row version was not locked, updated or deleted by a transaction other
/// than the one that wrote it (`xmax` is zero, or the writer's own lock carried over from a
/// `FOR UPDATE` before its `UPDATE`). Checked before the row is locked, so a claim passes over
/// the jobs that claims running beside it hold locked, and those claimed since its snapshot,
/// without trying each row's lock: with several claims in flight each would otherwise try
/// (and skip) every row the others hold, and lock the running version of a job claimed since
/// its snapshot before the recheck drops it, keeping that job's completion waiting for the rest
/// of the statement. A job passed over wrongly (its last locker aborted, or only locked it) is
/// claimed by the next scan from the queue's start, which does not check this (`fetch::cursor`).
pub(super) const UNTOUCHED: &str = "(xmax = '0'::xid OR xmax = xmin)";

/// Which of the queues in `$2` have an available job: one probe of `jobs_fetch` per queue,
/// all in one statement, so a worker's idle queues cost one statement per poll tick.
const WITH_AVAILABLE: &str = r#"
SELECT q.name FROM unnest($2::text[]) AS q(name)
WHERE EXISTS (SELECT 1 FROM {schema}.jobs WHERE state = {available} AND queue = q.name)
"#;

/// The rendered claim statements for one schema.
pub(super) struct ClaimSql {
    /// From the queue's first job.
    pub(super) first: Arc<str>,
    /// After a key (`$6`, `$7`, `$8`).
    pub(super) after: Arc<str>,
    /// The queues among `$2` with an available job.
    pub(super) with_available: Arc<str>,
    /// After a key, on rotating slot 1's and slot 2's table alone.
    pub(super) after_in_slot: [Arc<str>; 2],
}

impl ClaimSql {
    pub(super) fn new(schema: &str) -> Self {
        let claim =
            with_claim_slots(GET_AVAILABLE, CLAIMED_COLUMNS).replace("{claimed_arrays}", CLAIMED_ARRAYS);
        let after = AFTER_KEY.replace("{untouched}", UNTOUCHED);
        ClaimSql {
            first: statement(&claim.replace("{after}", ""), schema),
            after: statement(&claim.replace("{after}", &after), schema),
            with_available: statement(WITH_AVAILABLE, schema),
            after_in_slot: [1, 2].map(|n| {
                let sql = GET_AVAILABLE_IN_SLOT
                    .replace("{n}", &n.to_string())
                    .replace("{claimed_columns}", CLAIMED_COLUMNS)
                    .replace("{claimed_arrays}", CLAIMED_ARRAYS)
                    .replace("{after}", &after);
                statement(&sql, schema)
            }),
        }
    }
}

/// A queue's name, as `WITH_AVAILABLE` returns it.
#[derive(sqlx::FromRow)]
struct QueueName {
    name: String,
}

/// A job just claimed by `job_get_available`.
#[derive(Debug)]
pub(crate) struct ClaimedJob {
    pub id: i64,
    /// The slot of `jobs` it is in, where it stays while it runs (migration 0015).
    pub slot: i16,
    pub kind: String,
    pub args: JsonText,
    pub attempt: i16,
    pub max_attempts: i16,
    pub priority: i16,
    pub timeout_ms: Option<i32>,
    pub metadata: JsonText,
    pub created_at: DateTime<Utc>,
    pub run_at: DateTime<Utc>,
    /// When the claim took it (the database's clock, as `run_at`).
    pub claimed_at: DateTime<Utc>,
}

impl ClaimedJob {
    /// How long it waited to be claimed once due: from `run_at` to the claim.
    pub(crate) fn queue_wait(&self) -> std::time::Duration {
        (self.claimed_at - self.run_at).to_std().unwrap_or_default()
    }

    /// Its place in the fetch order.
    pub(crate) fn key(&self) -> ClaimKey {
        ClaimKey { priority: self.priority, run_at: self.run_at, id: self.id }
    }
}

/// A job's place in the fetch order (`ORDER BY priority, run_at, id`): fields compare in
/// that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClaimKey {
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub id: i64,
}

/// A `jsonb` value kept as its JSON text (the claim sends `args::text`), decoded once, later,
/// into the handler's type.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonText(pub String);

/// The claim's one row of arrays, a column each (all of one length).
#[derive(sqlx::FromRow)]
pub(super) struct Claimed {
    ids: Vec<i64>,
    slots: Vec<i16>,
    kinds: Vec<String>,
    args: Vec<String>,
    attempts: Vec<i16>,
    max_attempts: Vec<i16>,
    priorities: Vec<i16>,
    timeouts_ms: Vec<Option<i32>>,
    metadata: Vec<String>,
    created_at: Vec<DateTime<Utc>>,
    run_at: Vec<DateTime<Utc>>,
    claimed_at: DateTime<Utc>,
}

impl Claimed {
    /// The columns as jobs, one per id.
    pub(super) fn into_jobs(self) -> sqlx::Result<Vec<ClaimedJob>> {
        let n = self.ids.len();
        let lens = [
            self.slots.len(),
            self.kinds.len(),
            self.args.len(),
            self.attempts.len(),
            self.max_attempts.len(),
        ];
        let more = [self.priorities.len(), self.timeouts_ms.len(), self.metadata.len()];
        let times = [self.created_at.len(), self.run_at.len()];
        if lens.iter().chain(&more).chain(&times).any(|l| *l != n) {
            return Err(sqlx::Error::Decode("claimed columns of different lengths".into()));
        }
        let texts = self.kinds.into_iter().zip(self.args).zip(self.metadata);
        Ok(texts
            .enumerate()
            .map(|(i, ((kind, args), metadata))| ClaimedJob {
                id: self.ids[i],
                slot: self.slots[i],
                kind,
                args: JsonText(args),
                attempt: self.attempts[i],
                max_attempts: self.max_attempts[i],
                priority: self.priorities[i],
                timeout_ms: self.timeouts_ms[i],
                metadata: JsonText(metadata),
                created_at: self.created_at[i],
                run_at: self.run_at[i],
                claimed_at: self.claimed_at,
            })
            .collect())
    }
}

impl Db {
    /// Claims up to `limit` available jobs of `queue` for `worker`, under a lease: the first
    /// in fetch order, or the first after `after`, in every slot or, after a key, only in
    /// rotating slot `slot` (1 or 2).
    pub(crate) async fn job_get_available(
        &self,
        queue: &str,
        limit: i64,
        lease_ms: i64,
        worker: &str,
        after: Option<ClaimKey>,
        slot: Option<i16>,
    ) -> Result<Vec<ClaimedJob>> {
        let claim = move || async move {
            let q = self.claim_query(queue, limit, lease_ms, worker, after, slot);
            self.with_conn(async |c| q.fetch_one(c).await).await
        };
        let claimed = self.retrying(claim).await?;
        claimed.into_jobs().map_err(|e| self.err(e))
    }

    /// Runs the claim statements for no jobs on `conn`: they are then prepared there, and
    /// the backend has read what they touch, so a worker's first claims pay for neither.
    pub(crate) async fn job_claim_nothing(&self, conn: &mut PgConnection, queue: &str) -> Result<()> {
        // any key the server accepts: the claim takes no job (chrono's `MIN_UTC` is older than
        // PostgreSQL's first timestamp, and the statement failed)
        let after = Some(ClaimKey { priority: 0, run_at: DateTime::<Utc>::UNIX_EPOCH, id: 0 });
        for (after, slot) in [(None, None), (after, None), (after, Some(1)), (after, Some(2))] {
            let q = self.claim_query(queue, 0, 1, "", after, slot);
            q.fetch_one(&mut *conn).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn claim_query<'q>(
        &self,
        queue: &'q str,
        limit: i64,
        lease_ms: i64,
        worker: &'q str,
        after: Option<ClaimKey>,
        slot: Option<i16>,
    ) -> Query<'q, Claimed> {
        let sql = &self.inner.job.claim;
        let sql = match (after, slot) {
            (None, _) => &sql.first,
            (Some(_), Some(n @ (1 | 2))) => &sql.after_in_slot[n as usize - 1],
            (Some(_), _) => &sql.after,
        };
        let q = self.query_as::<Claimed>(sql).bind(queue).bind(limit).bind(lease_ms).bind(worker);
        match after {
            Some(k) => q.bind(k.priority).bind(k.run_at).bind(k.id),
            None => q,
        }
    }

    /// The queues among `names` with an available job.
    pub(crate) async fn job_queues_with_available(&self, names: &[String]) -> Result<Vec<String>> {
        let q = self.query_as::<QueueName>(&self.inner.job.claim.with_available).bind(names);
        let rows = self.with_conn(async |c| q.fetch_all(c).await).await?;
        Ok(rows.into_iter().map(|r| r.name).collect())
    }
}
