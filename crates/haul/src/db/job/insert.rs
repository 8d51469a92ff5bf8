//! Inserting jobs: a batch in one statement, or one job alone (W2's path), each notifying the
//! queues that got a job available now.

use super::columns::{Ids, notify_each_queue, statement};
use crate::clock::Clock;
use crate::db::Db;
use crate::db::rotation::{SLOT_MARK, SlotTime, insert_slot_sql};
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use std::borrow::Cow;
use std::sync::Arc;

/// A batch: one row per element of the args array, the ids in id order (the arrays' order),
/// and one NOTIFY per queue that got a job available now. `{insert_table}` and `{row_slot}`:
/// see `BySlot`.
const INSERT_MANY: &str = r#"
WITH ins AS (
    INSERT INTO {insert_table} (kind, queue, args, state, priority, max_attempts, run_at,
                                created_at, timeout_ms, metadata, tags, slot)
    SELECT {job_values}, {row_slot}
    FROM (SELECT u.*, {due} AS due
          FROM unnest({job_arrays}) AS u({job_names})
         ) t
    RETURNING id, queue, state
)
SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM ins), '{}') AS ids,
       {notify_queues} AS notified
"#;

/// `{job_arrays}`: the job columns `$2` to `$11` as `unnest` reads them, named by
/// `{job_names}`. A column whose value every job shares comes as one element (kind, queue,
/// priority, max attempts: see `shared_or_all`), a column no job sets as none (run at,
/// delay, timeout, metadata, tags: see `set_or_none`), any other with one element per job.
/// `unnest` pads the shorter arrays with NULL; args always has one element per job, so the
/// rows are the jobs. Every array `unnest` reads costs a row's worth of work per job.
const JOB_ARRAYS: &str = "$2::text[], $3::text[], $4::text[], $5::smallint[], $6::smallint[],
                      $7::timestamptz[], $8::bigint[], $9::int[], $10::text[], $11::text[]";

/// `{job_names}`: the columns of `{job_arrays}`.
const JOB_NAMES: &str =
    "kind, queue, args, priority, max_attempts, run_at, delay_us, timeout_ms, metadata, tags";

/// `{job_values}`: a job's values from row `t` of `{job_arrays}` (with `t.due`), for the
/// columns kind to tags; a shared column's one element (`{first_kind}`: `$2`'s first, as an
/// InitPlan) fills the rows `unnest` padded with NULL.
const JOB_VALUES: &str = "coalesce(t.kind, {first_kind}), coalesce(t.queue, {first_queue}), t.args::jsonb,
           CASE WHEN t.due > {now_once} THEN {scheduled} ELSE {available} END,
           coalesce(t.priority, {first_priority}), coalesce(t.max_attempts, {first_max_attempts}), t.due, {now_once},
           t.timeout_ms, coalesce(t.metadata::jsonb, '{}'), coalesce(string_to_array(t.tags, ','), '{}')";

/// `{due}`: when row `u` runs: its run-at, else the statement's time plus its delay, else now.
/// (Without a delay the product is NULL and costs nothing.)
const DUE: &str = "coalesce(u.run_at, {now_once} + u.delay_us * interval '1 microsecond', {now_once})";

/// `{now_once}`: the statement's time as an InitPlan, computed once rather than for every row.
const NOW_ONCE: &str = "(SELECT {now})";

/// Where a statement's rows go: `{insert_table}` and each row's `{row_slot}`. Rows all
/// available at once go straight into the clock's slot (1 or 2, `SlotTime`), as a plain insert
/// into that table costs no more than one into an unpartitioned table; a statement with a row
/// due later goes through the parent, which routes rows due later to slot 0, never truncated,
/// and the others to the slot the database's clock gives.
pub(super) struct BySlot {
    pub(super) routed: Arc<str>,
    pub(super) direct: [Arc<str>; 2],
}

impl BySlot {
    /// `template` rendered for each place; `due_later` is the condition, on row `t`, of a row
    /// that goes to slot 0.
    fn new(template: &str, due_later: &str, render: impl Fn(&str) -> Arc<str>) -> Self {
        let routed = format!("CASE WHEN {due_later} THEN 0 ELSE {} END", insert_slot_sql());
        let place = |sql: &str, table: &str, slot: &str| {
            render(&sql.replace("{insert_table}", table).replace("{row_slot}", slot))
        };
        BySlot {
            routed: place(template, "{schema}.jobs", &routed),
            direct: [1, 2]
                .map(|n| place(&naming_slot(template, n), &format!("{{schema}}.jobs_{n}"), &n.to_string())),
        }
    }

    /// The statement for rows that are all available at once (`now`) or not.
    pub(super) fn pick(&self, now: bool, clock: &Clock) -> &Arc<str> {
        match now {
            true => &self.direct[SlotTime::now(clock).slot as usize - 1],
            false => &self.routed,
        }
    }
}

/// `template` with its notifications naming rotating slot `n`, where all its rows go: the
/// worker's claim that follows then reads that slot's table alone (`notify::Wake`).
fn naming_slot(template: &str, n: u8) -> String {
    let mut sql = template.to_owned();
    for queue in ["queue", "q.queue"] {
        let named = format!("pg_notify('{{channel}}', {queue} || '{SLOT_MARK}{n}')");
        sql = sql.replace(&format!("pg_notify('{{channel}}', {queue})"), &named);
    }
    debug_assert!(sql.contains(SLOT_MARK), "an insert notifies its queue");
    sql
}

/// A unique insert template's rows, which go through the parent (keyed rows to slot 0).
fn unique_rows(template: &str) -> String {
    job_rows(&template.replace("{insert_slot}", &insert_slot_sql()))
}

/// The job columns' shared parts of a batch insert template, filled in.
fn job_rows(template: &str) -> String {
    let mut sql = template
        .replace("{job_values}", JOB_VALUES)
        .replace("{due}", DUE)
        .replace("{job_arrays}", JOB_ARRAYS)
        .replace("{job_names}", JOB_NAMES)
        .replace("{now_once}", NOW_ONCE);
    let shared = [
        ("kind", 2, "text"),
        ("queue", 3, "text"),
        ("priority", 5, "smallint"),
        ("max_attempts", 6, "smallint"),
    ];
    for (name, n, ty) in shared {
        sql = sql.replace(&format!("{{first_{name}}}"), &format!("(SELECT (${n}::{ty}[])[1])"));
    }
    sql
}

/// A batch of which some jobs carry a unique key: the rows `INSERT_MANY` builds, with the key
/// (its period's number appended, by the database's clock) and the states it holds in, in one of
/// the two shapes of `UniqueShape`. A taken key inserts nothing: `DO UPDATE` (of nothing) locks
/// and returns the existing job, even one committed after this statement's snapshot, waiting for
/// an insert in flight to commit or roll back. Rows go in the arrays' order, as in `INSERT_MANY`
/// (the caller sorts them by key, so concurrent batches take the keys in one order and cannot
/// deadlock), and no two rows of a batch share a key. Each row draws its id first (`t.new_id`),
/// so a returned job whose id is none of them is the holder of a taken key (a partitioned
/// table cannot return `xmax`, which would tell it otherwise).
const INSERT_UNIQUE_MANY: &str = r#"
WITH t AS MATERIALIZED (
    SELECT nextval('{schema}.jobs_id_seq'::regclass) AS new_id, u.*, {due} AS due
    FROM unnest({job_arrays}, {unique_arrays}) AS u({job_names}, {unique_names})
),
ins AS (
    INSERT INTO {schema}.jobs AS j (id, kind, queue, args, state, priority, max_attempts, run_at,
                                    created_at, timeout_ms, metadata, tags, unique_key, unique_states, slot)
    OVERRIDING SYSTEM VALUE
    SELECT t.new_id, {job_values}, {unique_values},
           CASE WHEN t.unique_key IS NOT NULL OR t.due > {now_once} THEN 0 ELSE {insert_slot} END
    FROM t
    {on_conflict}
    RETURNING j.id, j.queue, j.state, j.unique_key
),
marked AS (
    SELECT ins.*, t.new_id IS NULL AS duplicate FROM ins LEFT JOIN t ON t.new_id = ins.id
)
SELECT coalesce(array_agg(id ORDER BY id) FILTER (WHERE NOT duplicate), '{}') AS ids,
       coalesce(array_agg(id ORDER BY id) FILTER (WHERE duplicate), '{}') AS duplicates,
       coalesce(array_agg(unique_key ORDER BY id) FILTER (WHERE duplicate), '{}') AS duplicate_keys,
       {notify_queues} AS notified
FROM marked
"#;

/// How the unique columns of `INSERT_UNIQUE_MANY` are sent: the values it inserts, the arrays
/// `unnest` reads and their names.
struct UniqueShape {
    values: &'static str,
    arrays: &'static str,
    names: &'static str,
}

/// Every unique column one value a row (`$12` keys, `$13` periods, `$14` states): any batch.
const PER_ROW: UniqueShape = UniqueShape {
    values: "CASE WHEN t.period_s IS NULL THEN t.unique_key
                ELSE t.unique_key || '@' || t.period_s || ':'
                     || floor(extract(epoch FROM {now}) / t.period_s)::bigint END,
           t.unique_states",
    arrays: "$12::text[], $13::bigint[], $14::int[]",
    names: "unique_key, period_s, unique_states",
};

/// The keys one a row (`$12`) and one number of states for every keyed row (`$13`): a batch
/// without periods whose keys share their states, the usual bulk insert. `unnest` materialises
/// each array it reads, so two arrays fewer is cheaper by a row's worth of work each.
const SHARED: UniqueShape = UniqueShape {
    values: "t.unique_key, CASE WHEN t.unique_key IS NOT NULL THEN $13::int END",
    arrays: "$12::text[]",
    names: "unique_key",
};

impl UniqueShape {
    /// `template` with this shape's unique columns.
    fn fill(&self, template: &str) -> String {
        template
            .replace("{unique_values}", self.values)
            .replace("{unique_arrays}", self.arrays)
            .replace("{unique_names}", self.names)
    }
}

/// What `INSERT_UNIQUE_MANY` becomes without `ON CONFLICT`: a taken key fails the statement, so
/// every returned row was inserted and the result is `INSERT_MANY`'s (ids and notifications),
/// without carrying each key back.
const UNIQUE_PLAIN_TAIL: &str = r#"
    RETURNING j.id, j.queue, j.state
)
SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM ins), '{}') AS ids,
       {notify_queues} AS notified
"#;

/// How `INSERT_UNIQUE_MANY` meets a taken key: `DO UPDATE` returns the holder.
const ON_CONFLICT: &str = "ON CONFLICT (unique_key, slot) WHERE {unique_held}
    DO UPDATE SET unique_key = EXCLUDED.unique_key";

/// The index predicate of `jobs_unique` (migrations 0005 and 0013), word for word, so `ON
/// CONFLICT` infers that index (on the key in any collation: its own is `"C"`).
pub(super) const UNIQUE_HELD: &str = "unique_key IS NOT NULL AND (unique_states & CASE state
        WHEN 'pending' THEN 1 WHEN 'scheduled' THEN 2 WHEN 'available' THEN 4 WHEN 'running' THEN 8
        WHEN 'retryable' THEN 16 WHEN 'completed' THEN 32 WHEN 'cancelled' THEN 64
        WHEN 'discarded' THEN 128 ELSE 0 END) <> 0";

/// One job: the same row as `INSERT_MANY` builds, without the arrays.
const INSERT_ONE: &str = r#"
WITH ins AS (
    INSERT INTO {insert_table} (kind, queue, args, state, priority, max_attempts, run_at,
                                created_at, timeout_ms, metadata, tags, slot)
    SELECT $2, $3, $4::jsonb, CASE WHEN t.due > {now} THEN {scheduled} ELSE {available} END,
           $5, $6, t.due, {now}, $9, coalesce($10::jsonb, '{}'), coalesce(string_to_array($11, ','), '{}'),
           {row_slot}
    FROM (SELECT coalesce($7::timestamptz, {now} + coalesce($8::bigint, 0) * interval '1 microsecond') AS due) t
    RETURNING id, queue, state
)
SELECT id, CASE WHEN state = {available} THEN pg_notify('{channel}', queue)::text END AS notified
FROM ins
"#;

/// The rendered insert statements for one schema.
pub(super) struct InsertSql {
    pub(super) one: BySlot,
    pub(super) many: BySlot,
    pub(super) unique_many: UniqueSql,
    /// `INSERT_UNIQUE_MANY` without `ON CONFLICT` (`UNIQUE_PLAIN_TAIL`): a taken key fails the
    /// whole statement.
    pub(super) unique_plain: UniqueSql,
}

/// One unique insert statement in each `UniqueShape`.
pub(super) struct UniqueSql {
    pub(super) per_row: Arc<str>,
    pub(super) shared: Arc<str>,
}

impl UniqueSql {
    fn new(render: impl Fn(&UniqueShape) -> Arc<str>) -> Self {
        UniqueSql { per_row: render(&PER_ROW), shared: render(&SHARED) }
    }
}

/// `INSERT_UNIQUE_MANY`'s rows in `shape` with `UNIQUE_PLAIN_TAIL`.
fn unique_plain_statement(shape: &UniqueShape, schema: &str) -> Arc<str> {
    let head = INSERT_UNIQUE_MANY.split("{on_conflict}").next().expect("a template");
    let notify = notify_each_queue("ins WHERE state = {available}");
    let tail = UNIQUE_PLAIN_TAIL.replace("{notify_queues}", &notify);
    statement(&unique_rows(&shape.fill(&format!("{head}{tail}"))), schema)
}

/// `INSERT_UNIQUE_MANY` in `shape`, meeting a taken key with `on_conflict`.
fn unique_statement(on_conflict: &str, shape: &UniqueShape, schema: &str) -> Arc<str> {
    let notify = notify_each_queue("marked WHERE state = {available} AND NOT duplicate");
    let sql = INSERT_UNIQUE_MANY
        .replace("{on_conflict}", &on_conflict.replace("{unique_held}", UNIQUE_HELD))
        .replace("{notify_queues}", &notify);
    statement(&unique_rows(&shape.fill(&sql)), schema)
}

impl InsertSql {
    pub(super) fn new(schema: &str) -> Self {
        let notify = notify_each_queue("ins WHERE state = {available}");
        InsertSql {
            one: BySlot::new(INSERT_ONE, "t.due > {now}", |sql| statement(sql, schema)),
            many: BySlot::new(
                &job_rows(&INSERT_MANY.replace("{notify_queues}", &notify)),
                "t.due > {now_once}",
                |sql| statement(&sql.replace("{now_once}", NOW_ONCE), schema),
            ),
            unique_many: UniqueSql::new(|shape| unique_statement(ON_CONFLICT, shape, schema)),
            unique_plain: UniqueSql::new(|shape| unique_plain_statement(shape, schema)),
        }
    }
}

/// New jobs as columns, one entry per job, ready to bind as arrays.
#[derive(Debug, Default)]
pub(crate) struct InsertBatch {
    /// Borrowed for a typed job's kind and queue, so a batch allocates none of them.
    pub kinds: Vec<Cow<'static, str>>,
    pub queues: Vec<Cow<'static, str>>,
    pub args: Vec<String>,
    pub priorities: Vec<i16>,
    pub max_attempts: Vec<i16>,
    pub run_at: Vec<Option<DateTime<Utc>>>,
    pub delays_us: Vec<Option<i64>>,
    pub timeouts_ms: Vec<Option<i32>>,
    pub metadata: Vec<Option<String>>,
    pub tags: Vec<Option<String>>,
    pub unique_keys: Vec<Option<String>>,
    pub unique_periods_s: Vec<Option<i64>>,
    pub unique_states: Vec<Option<i32>>,
}

impl InsertBatch {
    pub(crate) fn with_capacity(n: usize) -> Self {
        InsertBatch {
            kinds: Vec::with_capacity(n),
            queues: Vec::with_capacity(n),
            args: Vec::with_capacity(n),
            priorities: Vec::with_capacity(n),
            max_attempts: Vec::with_capacity(n),
            run_at: Vec::with_capacity(n),
            delays_us: Vec::with_capacity(n),
            timeouts_ms: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            unique_keys: Vec::new(),
            unique_periods_s: Vec::new(),
            unique_states: Vec::new(),
        }
    }

    /// Whether some job carries a unique key (the unique columns are filled only then, so a
    /// plain batch allocates nothing for them).
    pub(crate) fn has_unique(&self) -> bool {
        !self.unique_keys.is_empty()
    }

    /// The states every keyed row holds its key in, when no row has a period and all share
    /// them: the batch then goes in `SHARED`'s shape.
    fn shared_unique_states(&self) -> Option<i32> {
        if self.unique_periods_s.iter().any(Option::is_some) {
            return None;
        }
        let mut states = self.unique_states.iter().flatten();
        let first = *states.next()?;
        states.all(|&s| s == first).then_some(first)
    }

    /// Gives row `row` (the last one pushed) a unique key, period and states.
    pub(crate) fn set_unique(&mut self, row: usize, key: String, period: Option<i64>, states: i32) {
        self.pad_unique_to(row);
        self.unique_keys.push(Some(key));
        self.unique_periods_s.push(period);
        self.unique_states.push(Some(states));
    }

    /// After the last row: the unique columns as long as the others, if some row has a key.
    pub(crate) fn finish_unique(&mut self) {
        if self.has_unique() {
            self.pad_unique_to(self.kinds.len());
        }
    }

    fn pad_unique_to(&mut self, len: usize) {
        self.unique_keys.resize(len, None);
        self.unique_periods_s.resize(len, None);
        self.unique_states.resize(len, None);
    }

    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    /// A batch of these rows, in this order, moved out of this one (left with empty values).
    pub(crate) fn take_rows(&mut self, rows: &[usize]) -> InsertBatch {
        fn take<T: Default>(v: &mut [T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&i| std::mem::take(&mut v[i])).collect()
        }
        InsertBatch {
            kinds: take(&mut self.kinds, rows),
            queues: take(&mut self.queues, rows),
            args: take(&mut self.args, rows),
            priorities: take(&mut self.priorities, rows),
            max_attempts: take(&mut self.max_attempts, rows),
            run_at: take(&mut self.run_at, rows),
            delays_us: take(&mut self.delays_us, rows),
            timeouts_ms: take(&mut self.timeouts_ms, rows),
            metadata: take(&mut self.metadata, rows),
            tags: take(&mut self.tags, rows),
            unique_keys: take(&mut self.unique_keys, rows),
            unique_periods_s: take(&mut self.unique_periods_s, rows),
            unique_states: take(&mut self.unique_states, rows),
        }
    }
}

/// The unique statement's result: ids of the inserted rows in id order (their order in the
/// batch), and the jobs that held a taken key with that key as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct UniqueIds {
    pub ids: Vec<i64>,
    pub duplicates: Vec<i64>,
    pub duplicate_keys: Vec<String>,
}

/// The inserted job's id.
#[derive(sqlx::FromRow)]
struct Inserted {
    id: i64,
}

impl Db {
    /// Inserts a batch in one statement, notifying each queue that got an available job once.
    pub(crate) async fn job_insert_many<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
    ) -> Result<Vec<i64>> {
        let now = b.run_at.iter().all(Option::is_none) && b.delays_us.iter().all(Option::is_none);
        let sql = self.inner.job.insert.many.pick(now, self.clock());
        let q = bind_columns(self.query_as::<Ids>(sql), b);
        Ok(q.fetch_one(ex).await.map_err(|e| self.err(e))?.ids)
    }

    /// Inserts a batch with unique keys in one statement (see `INSERT_UNIQUE_MANY`).
    pub(crate) async fn job_insert_unique_many<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
    ) -> Result<UniqueIds> {
        let q = self.unique_query(&self.inner.job.insert.unique_many, b);
        q.fetch_one(ex).await.map_err(|e| self.err(e))
    }

    /// Inserts a batch with unique keys as a plain `INSERT`, which skips `ON CONFLICT`'s
    /// speculative insertion. `None` when a key was taken: the statement failed whole (its
    /// transaction is aborted) and inserted nothing.
    pub(crate) async fn job_insert_unique_plain<'c>(
        &self,
        ex: impl PgExecutor<'c>,
        b: &InsertBatch,
    ) -> Result<Option<UniqueIds>> {
        let q = self.unique_query::<Ids>(&self.inner.job.insert.unique_plain, b);
        match q.fetch_one(ex).await {
            Ok(Ids { ids }) => {
                Ok(Some(UniqueIds { ids, duplicates: Vec::new(), duplicate_keys: Vec::new() }))
            }
            Err(e) if is_key_taken(&e) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// `INSERT_UNIQUE_MANY` bound to `b`, for a statement in a transaction of `db`'s own.
    pub(in crate::db) fn job_insert_unique_query<'q>(
        &self,
        b: &'q InsertBatch,
    ) -> super::Query<'q, UniqueIds> {
        self.unique_query(&self.inner.job.insert.unique_many, b)
    }

    /// `sql` in the shape `b` fits, with `b` bound: the job columns as `$2` to `$11`, then the
    /// unique ones.
    fn unique_query<'q, T>(&self, sql: &UniqueSql, b: &'q InsertBatch) -> super::Query<'q, T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        match b.shared_unique_states() {
            Some(states) => bind_columns(self.query_as(&sql.shared), b).bind(&b.unique_keys).bind(states),
            None => bind_columns(self.query_as(&sql.per_row), b)
                .bind(&b.unique_keys)
                .bind(&b.unique_periods_s)
                .bind(&b.unique_states),
        }
    }

    /// Inserts the first job of `b` alone, notifying its queue if it is available now.
    pub(crate) async fn job_insert_one<'c>(&self, ex: impl PgExecutor<'c>, b: &InsertBatch) -> Result<i64> {
        let now = b.run_at[0].is_none() && b.delays_us[0].is_none();
        let q = self
            .query_as::<Inserted>(self.inner.job.insert.one.pick(now, self.clock()))
            .bind(&b.kinds[0])
            .bind(&b.queues[0])
            .bind(&b.args[0])
            .bind(b.priorities[0])
            .bind(b.max_attempts[0])
            .bind(b.run_at[0])
            .bind(b.delays_us[0])
            .bind(b.timeouts_ms[0])
            .bind(&b.metadata[0])
            .bind(&b.tags[0]);
        Ok(q.fetch_one(ex).await.map_err(|e| self.err(e))?.id)
    }
}

/// `q` with the job columns of `b` bound as `$2` to `$11` in the shapes `JOB_ARRAYS` reads.
fn bind_columns<'q, T>(q: super::Query<'q, T>, b: &'q InsertBatch) -> super::Query<'q, T> {
    q.bind(shared_or_all(&b.kinds))
        .bind(shared_or_all(&b.queues))
        .bind(&b.args)
        .bind(shared_or_all(&b.priorities))
        .bind(shared_or_all(&b.max_attempts))
        .bind(set_or_none(&b.run_at))
        .bind(set_or_none(&b.delays_us))
        .bind(set_or_none(&b.timeouts_ms))
        .bind(set_or_none(&b.metadata))
        .bind(set_or_none(&b.tags))
}

/// The first value alone when every job has it, else every job's.
fn shared_or_all<T: PartialEq>(v: &[T]) -> &[T] {
    match v.split_first() {
        Some((first, rest)) if rest.iter().all(|x| x == first) => &v[..1],
        _ => v,
    }
}

/// No value when no job sets one, else every job's.
fn set_or_none<T>(v: &[Option<T>]) -> &[Option<T>] {
    if v.iter().all(Option::is_none) { &[] } else { v }
}

/// `q` with the job columns of `b` bound as `$2` to `$11`, one element per job each, the
/// arrays `unnest` reads in the fan-out, workflow and saga statements.
pub(super) fn bind_jobs<'q, T>(q: super::Query<'q, T>, b: &'q InsertBatch) -> super::Query<'q, T> {
    q.bind(&b.kinds)
        .bind(&b.queues)
        .bind(&b.args)
        .bind(&b.priorities)
        .bind(&b.max_attempts)
        .bind(&b.run_at)
        .bind(&b.delays_us)
        .bind(&b.timeouts_ms)
        .bind(&b.metadata)
        .bind(&b.tags)
}

/// Whether `e` is a violation of `jobs_unique` (reported as its slot 0 index, `jobs_unique_0`):
/// a unique key already held.
fn is_key_taken(e: &sqlx::Error) -> bool {
    let db = e.as_database_error();
    let unique = |c: &str| c == "jobs_unique" || c.starts_with("jobs_unique_");
    db.is_some_and(|d| d.code().as_deref() == Some("23505") && d.constraint().is_some_and(unique))
}
