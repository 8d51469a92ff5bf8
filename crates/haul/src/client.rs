//! The [`Client`]: inserts jobs (alone, in bulk, inside the caller's transaction), migrates
//! the schema, looks at, retries, cancels and deletes jobs, pauses and resumes queues, and
//! sets their global limits.

use crate::clock::Clock;
use crate::config::ClientConfig;
use crate::control::{Control, JobFilter, PAGE_MAX, Page, RetryAttempts};
use crate::db::Db;
use crate::db::InsertBatch;
use crate::error::{Error, Result};
use crate::insert::{
    Batch, Inserted, InsertedBatch, InsertedSaga, InsertedWorkflow, IntoNewJob, Saga, Workflow, build_batch,
    build_fan_out, plan_saga, plan_unique, plan_workflow,
};
use crate::job::{JobRow, JobState};
use crate::limit::{Limit, QueueLimit};
use crate::migrate::{self, MigrateReport, MigrationState};
use crate::names;
use crate::periodic::PeriodicRecord;
use crate::queue::{QueueDepth, QueueInfo, QueueSummary, with_depths, with_limits};
use crate::workflow::{BatchInfo, SagaInfo, WaitingOn};
use sqlx::{PgExecutor, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Haul's handle on one schema of one database. Cheap to clone; share it.
///
/// ```no_run
/// # async fn demo() -> haul::Result<()> {
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendEmail { to: String }
/// impl haul::Job for SendEmail { const KIND: &'static str = "send_email"; }
///
/// let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/postgres").await.unwrap();
/// let client = haul::Client::new(pool.clone())?;
/// client.migrate().await?;
///
/// // in the caller's own transaction: the job exists only if the order does
/// let mut tx = pool.begin().await.unwrap();
/// sqlx::query("INSERT INTO orders (id) VALUES (42)").execute(&mut *tx).await.unwrap();
/// client.insert_tx(&mut *tx, SendEmail { to: "a@example.com".into() }).await?;
/// tx.commit().await.unwrap();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    db: Db,
    max_payload: usize,
    fan_out_max: usize,
    /// Whether the last unique insert on the pool met a taken key (see `insert_unique_on_pool`).
    met_taken_key: Arc<AtomicBool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("schema", &self.db.schema()).finish_non_exhaustive()
    }
}

impl Client {
    /// A client on `pool` with the default configuration (schema `haul`).
    pub fn new(pool: PgPool) -> Result<Self> {
        Self::with_config(pool, ClientConfig::default())
    }

    /// A client on `pool`; fails if the schema name is not a valid identifier.
    pub fn with_config(pool: PgPool, config: ClientConfig) -> Result<Self> {
        config.validate()?;
        let db = Db::new(pool, config.schema(), config.clock().clone());
        let (max_payload, fan_out_max) = (config.max_payload_bytes(), config.fan_out_max());
        Ok(Client { db, max_payload, fan_out_max, met_taken_key: Arc::default() })
    }

    /// Connects a pool of 10 connections to `url` and wraps it. The pool skips sqlx's ping
    /// before each use (a round trip per statement): a dead connection fails its statement
    /// with [`Error::Connection`] and is replaced.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(10)
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(Error::Connection)?;
        Self::new(pool)
    }

    /// The pool this client runs on.
    pub fn pool(&self) -> &PgPool {
        self.db.pool()
    }

    /// The schema of Haul's tables.
    pub fn schema(&self) -> &str {
        self.db.schema()
    }

    /// The clock statements read.
    pub fn clock(&self) -> &Clock {
        self.db.clock()
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The cap on args + metadata per job.
    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Applies missing migrations (safe to run from many processes at once; a no-op when current).
    pub async fn migrate(&self) -> Result<MigrateReport> {
        migrate::up(&self.db).await
    }

    /// Every known migration and whether this schema has it.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>> {
        migrate::status(&self.db).await
    }

    /// The full schema as SQL, for teams that apply migrations with their own tool.
    pub fn migration_script(&self) -> String {
        migrate::script(self.db.schema())
    }

    /// Inserts one job on the client's pool; returns its id.
    pub async fn insert(&self, job: impl IntoNewJob) -> Result<i64> {
        let batch = build_batch(vec![job.into_new_job()], self.max_payload)?;
        if batch.has_unique() {
            return Ok(self.insert_unique_on_pool(batch).await?[0].id);
        }
        self.db.job_insert_one(self.db.pool(), &batch).await
    }

    /// Inserts one job through `executor`: pass `&mut *tx` to enqueue inside your transaction
    /// (rolled back, no job; committed, the job runs).
    /// A unique job whose key is taken inserts nothing; its id is then the existing job's
    /// ([`Client::insert_many_checked`] says which it was).
    pub async fn insert_tx<'c>(&self, executor: impl PgExecutor<'c>, job: impl IntoNewJob) -> Result<i64> {
        let batch = build_batch(vec![job.into_new_job()], self.max_payload)?;
        if batch.has_unique() {
            return Ok(self.insert_unique(executor, batch).await?[0].id);
        }
        self.db.job_insert_one(executor, &batch).await
    }

    /// Inserts many jobs in one statement on the client's pool; ids come back in input order.
    pub async fn insert_many<I>(&self, jobs: I) -> Result<Vec<i64>>
    where
        I: IntoIterator,
        I::Item: IntoNewJob,
    {
        let Some(batch) = self.batch_of(jobs)? else { return Ok(Vec::new()) };
        if batch.has_unique() {
            return Ok(self.insert_unique_on_pool(batch).await?.into_iter().map(|i| i.id).collect());
        }
        self.db.job_insert_many(self.db.pool(), &batch).await
    }

    /// Inserts many jobs in one statement through `executor` (e.g. `&mut *tx`). All or none.
    /// Every job is validated before any SQL; one bad job rejects the whole batch.
    pub async fn insert_many_tx<'c, I>(&self, executor: impl PgExecutor<'c>, jobs: I) -> Result<Vec<i64>>
    where
        I: IntoIterator,
        I::Item: IntoNewJob,
    {
        let Some(batch) = self.batch_of(jobs)? else { return Ok(Vec::new()) };
        if batch.has_unique() {
            return Ok(self.insert_unique(executor, batch).await?.into_iter().map(|i| i.id).collect());
        }
        self.db.job_insert_many(executor, &batch).await
    }

    /// Like [`Client::insert_many_tx`], saying for each job whether it was inserted or its
    /// unique key was taken (then with the existing job's id). Pass `client.pool()` to insert
    /// outside a transaction.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// use haul::NewJob;
    /// let job = || NewJob::raw("charge", serde_json::json!({"order": 42})).with_unique_key("charge:42");
    /// let first = client.insert_many_checked(client.pool(), [job()]).await?;
    /// let again = client.insert_many_checked(client.pool(), [job()]).await?;
    /// assert!(!first[0].duplicate && again[0].duplicate && again[0].id == first[0].id);
    /// # Ok(()) }
    /// ```
    pub async fn insert_many_checked<'c, I>(
        &self,
        executor: impl PgExecutor<'c>,
        jobs: I,
    ) -> Result<Vec<Inserted>>
    where
        I: IntoIterator,
        I::Item: IntoNewJob,
    {
        let Some(batch) = self.batch_of(jobs)? else { return Ok(Vec::new()) };
        if batch.has_unique() {
            return self.insert_unique(executor, batch).await;
        }
        let ids = self.db.job_insert_many(executor, &batch).await?;
        Ok(ids.into_iter().map(|id| Inserted { id, duplicate: false }).collect())
    }

    /// The jobs as one checked batch; `None` when there are none.
    fn batch_of<I>(&self, jobs: I) -> Result<Option<InsertBatch>>
    where
        I: IntoIterator,
        I::Item: IntoNewJob,
    {
        let jobs: Vec<_> = jobs.into_iter().map(IntoNewJob::into_new_job).collect();
        if jobs.is_empty() {
            return Ok(None);
        }
        build_batch(jobs, self.max_payload).map(Some)
    }

    /// One statement for a batch with unique keys (see `insert::unique`).
    async fn insert_unique<'c>(
        &self,
        executor: impl PgExecutor<'c>,
        batch: InsertBatch,
    ) -> Result<Vec<Inserted>> {
        let plan = plan_unique(batch);
        let result = self.db.job_insert_unique_many(executor, &plan.sent).await?;
        plan.outcomes(result)
    }

    /// A batch with unique keys in a transaction of Haul's own: first as a plain `INSERT`
    /// (the unique index still guards every key, waiting on an insert in flight), which is
    /// cheaper than `ON CONFLICT`; only when a key is taken, so that statement failed and
    /// inserted nothing, again with `ON CONFLICT`. After a taken key the next batch goes
    /// straight to `ON CONFLICT`, so repeated duplicates pay one statement, not two.
    async fn insert_unique_on_pool(&self, batch: InsertBatch) -> Result<Vec<Inserted>> {
        let plan = plan_unique(batch);
        if !self.met_taken_key.load(Ordering::Relaxed)
            && let Some(result) = self.db.job_insert_unique_plain(self.db.pool(), &plan.sent).await?
        {
            return plan.outcomes(result);
        }
        let result = self.db.job_insert_unique_many(self.db.pool(), &plan.sent).await?;
        self.met_taken_key.store(!result.duplicates.is_empty(), Ordering::Relaxed);
        plan.outcomes(result)
    }

    /// Inserts a fan-out on the client's pool: the batch row and every child in one
    /// statement, all or none. See [`Batch`].
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// use haul::{Batch, NewJob};
    /// let pages = (1..=3).map(|p| NewJob::raw("crawl", serde_json::json!({ "page": p })));
    /// let batch = Batch::new(pages).with_callback(NewJob::raw("crawl_done", serde_json::json!({})));
    /// let inserted = client.insert_batch(batch).await?;
    /// let info = client.batch(inserted.id).await?.expect("just inserted");
    /// assert_eq!(info.total, 3);
    /// # Ok(()) }
    /// ```
    pub async fn insert_batch(&self, batch: Batch) -> Result<InsertedBatch> {
        self.insert_batch_tx(self.db.pool(), batch).await
    }

    /// Inserts a fan-out through `executor` (e.g. `&mut *tx`): the batch exists only if your
    /// transaction commits. Checked whole before any SQL: over the cap
    /// ([`Error::FanOutTooLarge`]) or with one bad child, nothing is inserted.
    pub async fn insert_batch_tx<'c>(
        &self,
        executor: impl PgExecutor<'c>,
        batch: Batch,
    ) -> Result<InsertedBatch> {
        let f = build_fan_out(batch, self.fan_out_max, self.max_payload)?;
        let ids = self.db.batch_insert(executor, &f.children, f.parent, f.callback.as_deref()).await?;
        Ok(InsertedBatch { id: ids.batch, children: ids.ids })
    }

    /// A batch's progress: its children by state and, once finished, the final counts and
    /// the callback job's id. `None` when no batch has this id.
    pub async fn batch(&self, id: i64) -> Result<Option<BatchInfo>> {
        Ok(self.db.batch_get(id).await?.map(BatchInfo::from))
    }

    /// Inserts a workflow on the client's pool: every step and the edges between them in one
    /// statement, all or none. See [`Workflow`].
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// use haul::{NewJob, Workflow};
    /// let step = |kind: &str| NewJob::raw(kind, serde_json::json!({ "order": 42 }));
    /// let wf = Workflow::chain([step("reserve"), step("charge"), step("confirm")]);
    /// let inserted = client.insert_workflow(wf).await?;
    /// let charge = inserted.id("1").expect("the second step");
    /// assert_eq!(client.waits_on(charge).await?[0].id, inserted.id("0").unwrap());
    /// # Ok(()) }
    /// ```
    pub async fn insert_workflow(&self, workflow: Workflow) -> Result<InsertedWorkflow> {
        self.insert_workflow_tx(self.db.pool(), workflow).await
    }

    /// Inserts a workflow through `executor` (e.g. `&mut *tx`). Checked whole before any SQL:
    /// a cycle ([`Error::WorkflowCycle`]), an unknown step name, too many steps or one bad job
    /// inserts nothing.
    pub async fn insert_workflow_tx<'c>(
        &self,
        executor: impl PgExecutor<'c>,
        workflow: Workflow,
    ) -> Result<InsertedWorkflow> {
        let p = plan_workflow(workflow, self.fan_out_max, self.max_payload)?;
        let ids = self.db.workflow_insert(executor, &p.jobs, &p.waits, &p.edges).await?;
        Ok(InsertedWorkflow { steps: p.names.into_iter().zip(ids).collect() })
    }

    /// The jobs `id` waits on (none for a job inserted alone), each with its state while
    /// stored.
    pub async fn waits_on(&self, id: i64) -> Result<Vec<WaitingOn>> {
        let rows = self.db.job_waits_on(id).await?;
        Ok(rows.into_iter().map(|r| WaitingOn { id: r.id, state: r.state }).collect())
    }

    /// Inserts a saga on the client's pool: its row and its steps in one statement, all or
    /// none. See [`Saga`].
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// use haul::{NewJob, Saga, SagaState};
    /// let job = |kind: &str| NewJob::raw(kind, serde_json::json!({ "order": 42 }));
    /// let saga = Saga::new()
    ///     .step_with_compensation(job("reserve_inventory"), job("release_inventory"))
    ///     .step_with_compensation(job("charge_card"), job("refund_card"))
    ///     .step(job("confirm_order"));
    /// let inserted = client.insert_saga(saga).await?;
    /// let info = client.saga(inserted.id).await?.expect("just inserted");
    /// assert_eq!(info.state, SagaState::Running);
    /// # Ok(()) }
    /// ```
    pub async fn insert_saga(&self, saga: Saga) -> Result<InsertedSaga> {
        self.insert_saga_tx(self.db.pool(), saga).await
    }

    /// Inserts a saga through `executor` (e.g. `&mut *tx`). Checked whole before any SQL.
    pub async fn insert_saga_tx<'c>(
        &self,
        executor: impl PgExecutor<'c>,
        saga: Saga,
    ) -> Result<InsertedSaga> {
        let p = plan_saga(saga, self.fan_out_max, self.max_payload)?;
        let ids = self.db.saga_insert(executor, &p.steps, &p.compensations).await?;
        Ok(InsertedSaga { id: ids.saga, steps: ids.ids })
    }

    /// A saga's progress: its state, its steps and compensations with theirs. `None` when no
    /// saga has this id.
    pub async fn saga(&self, id: i64) -> Result<Option<SagaInfo>> {
        Ok(self.db.saga_get(id).await?.map(SagaInfo::from))
    }

    /// One job by id.
    pub async fn get(&self, id: i64) -> Result<Option<JobRow>> {
        self.db.job_get(id).await
    }

    /// Newest jobs first (at most 10,000), optionally only one state and/or queue. Other
    /// filters and paging: [`Client::control`].
    pub async fn list(
        &self,
        state: Option<JobState>,
        queue: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobRow>> {
        let mut filter = JobFilter::new();
        if let Some(state) = state {
            filter = filter.with_state(state);
        }
        if let Some(queue) = queue {
            filter = filter.with_queue(queue);
        }
        let page = Page::first(limit.clamp(1, i64::from(PAGE_MAX)) as u32);
        Ok(self.control().list(&filter, page).await?.jobs)
    }

    /// The dead letters (discarded jobs), newest first (at most 10,000), each with every
    /// attempt's error.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<JobRow>> {
        self.list(Some(JobState::Discarded), None, limit).await
    }

    /// The operators' actions on jobs picked by a filter: listing in pages, and retry, cancel,
    /// delete, redrive and purge in bounded batches, each with a dry-run count.
    pub fn control(&self) -> Control {
        Control::new(self.db.clone())
    }

    /// How many jobs each queue holds in each state.
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        self.db.job_count_by_queue_state().await
    }

    /// Per queue and kind: jobs in each state, the oldest available job's age and the dead
    /// letters now; and over a window, the attempts by outcome, throughput, error rate and
    /// run time and queue wait percentiles (from the rollups the workers write). Cheap on a
    /// table of millions of jobs: see [`Stats`](crate::Stats) for what is exact and what is
    /// estimated.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let stats = client.stats(&haul::StatsQuery::default().with_queue("mail")).await?;
    /// for row in &stats.rows {
    ///     println!("{:?} available={} dead={}", row.kind, row.depth.available, row.dead_letters);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn stats(&self, query: &crate::stats::StatsQuery) -> Result<crate::stats::Stats> {
        crate::stats::read(&self.db, query).await
    }

    /// The window's outcomes minute by minute, oldest first, every minute present (zero
    /// where nothing ended): the series behind throughput and failure charts. Reads only the
    /// window's rollup rows.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let hour = haul::StatsQuery::default().with_window(std::time::Duration::from_secs(3600));
    /// for minute in client.stats_timeline(&hour).await? {
    ///     println!("{} completed={} failed={}", minute.at, minute.outcomes.completed, minute.outcomes.retried);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn stats_timeline(
        &self,
        query: &crate::stats::StatsQuery,
    ) -> Result<Vec<crate::stats::StatsMinute>> {
        crate::stats::read_timeline(&self.db, query).await
    }

    /// The workers now: the maintenance leader, and running jobs per worker and queue (at
    /// most [`FLEET_RUNNING_MAX`](crate::FLEET_RUNNING_MAX) of them read).
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let fleet = client.fleet().await?;
    /// println!("leader: {:?}", fleet.leader);
    /// for w in &fleet.workers {
    ///     println!("{:?} runs {} of {}", w.worker, w.running, w.queue);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fleet(&self) -> Result<crate::fleet::Fleet> {
        crate::fleet::read(&self.db).await
    }

    /// Every periodic schedule's record (its last tick done), by name: what the leader has
    /// enqueued or skipped so far. A schedule appears once a leader has seen it.
    pub async fn periodic(&self) -> Result<Vec<PeriodicRecord>> {
        self.db.periodic_list().await
    }

    /// Every queue with its paused state and its jobs per state, by name: the queues that a
    /// worker ran or an operator paused or resumed, and any other queue that holds jobs.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// for q in client.queues().await? {
    ///     println!("{} paused={} available={}", q.name, q.paused, q.counts.available);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn queues(&self) -> Result<Vec<QueueInfo>> {
        let rows = self.db.queue_list().await?;
        let depths = self.db.job_count_by_queue_state().await?;
        let queues = with_depths(rows, depths.into_iter().map(|d| (d.queue, d.state, d.count)));
        Ok(with_limits(queues, self.db.limit_list().await?))
    }

    /// Sets `queue`'s global limit, replacing any it had: every worker claims its jobs
    /// through the limit from the moment it hears of it (at once through LISTEN, else on its
    /// next poll tick). The limit holds across every worker process; the rules are in
    /// `docs/limits.md`. Fails with [`Error::InvalidName`] or [`Error::InvalidLimit`]
    /// before any SQL.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// use haul::Limit;
    /// use std::time::Duration;
    /// // the partner allows 100 calls a second and 10 at once, per account
    /// let limit = Limit::concurrency(10).with_rate(100, Duration::from_secs(1)).partitioned_by_arg("account");
    /// client.set_limit("partner", &limit).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_limit(&self, queue: &str, limit: &Limit) -> Result<()> {
        names::validate_queue(queue)?;
        limit.validate(queue)?;
        self.db.limit_set(queue, limit).await
    }

    /// Removes `queue`'s limit; returns false if it had none. Fails with
    /// [`Error::InvalidName`] for a bad name, before any SQL.
    pub async fn clear_limit(&self, queue: &str) -> Result<bool> {
        names::validate_queue(queue)?;
        self.db.limit_clear(queue).await
    }

    /// Every stored limit, by queue.
    pub async fn limits(&self) -> Result<Vec<QueueLimit>> {
        self.db.limit_list().await
    }

    /// Like [`Client::queues`], with the counts read as [`Client::stats`] reads them: exact on
    /// a small table, and on one of millions of rows estimated from a sample at a bounded
    /// cost (the states in [`QueueSummary::estimated`]). What a dashboard polls.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// let summary = client.queue_summary().await?;
    /// for q in &summary.queues {
    ///     println!("{} paused={} available≈{}", q.name, q.paused, q.counts.available);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn queue_summary(&self) -> Result<QueueSummary> {
        let rows = self.db.queue_list().await?;
        let depth = crate::stats::read_depth(&self.db).await?;
        let counts = depth.rows.into_iter().map(|r| (r.queue, r.state, r.n));
        Ok(QueueSummary { queues: with_depths(rows, counts), estimated: depth.estimated })
    }

    /// Pauses a queue: every worker stops claiming its jobs within about a second (at once
    /// through LISTEN, else on its next poll tick). Its running jobs finish, and inserts into
    /// it are accepted as ever. Creates the queue's row if it has none; pausing a paused queue
    /// changes nothing. Fails with [`Error::InvalidName`] for a bad name, before any SQL.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// client.pause_queue("mail").await?; // during the incident
    /// client.resume_queue("mail").await?; // once it is over
    /// # Ok(()) }
    /// ```
    pub async fn pause_queue(&self, name: &str) -> Result<()> {
        names::validate_queue(name)?;
        self.db.queue_set_paused(name, true).await
    }

    /// Resumes a paused queue: workers claim its jobs again within about a second. Resuming
    /// a queue that is not paused changes nothing (its row is created if it has none). Fails
    /// with [`Error::InvalidName`] for a bad name, before any SQL.
    pub async fn resume_queue(&self, name: &str) -> Result<()> {
        names::validate_queue(name)?;
        self.db.queue_set_paused(name, false).await
    }

    /// The worker currently elected to run maintenance, if any.
    pub async fn maintenance_leader(&self) -> Result<Option<String>> {
        self.db.leader_get().await
    }

    /// Checks the database this client's queue runs on: the server, the schema's migrations
    /// and indexes, the jobs table's dead rows, the maintenance leader, the settings a queue
    /// depends on, whether a worker's session gets its settings (a pooler such as PgBouncer
    /// drops startup options), the oldest open transaction and connections in use; each finding with
    /// what to fix. An error only when the server cannot be asked at all.
    ///
    /// ```no_run
    /// # async fn demo(client: haul::Client) -> haul::Result<()> {
    /// use haul::doctor::Health;
    /// let checkup = client.doctor().await?;
    /// for check in checkup.checks.iter().filter(|c| c.health != Health::Ok) {
    ///     println!("{}: {} (fix: {:?})", check.name, check.detail, check.fix);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn doctor(&self) -> Result<crate::doctor::Checkup> {
        crate::doctor::checkup(&self.db).await
    }

    /// Cancels a job. A waiting one (pending, scheduled, available, retryable) is cancelled
    /// at once. For a running one the request is recorded on the row and its worker is
    /// notified: the handler's cancellation token fires, and the job ends `cancelled` (a
    /// handler that ignores the token is dropped after the timeout grace). A request on a job
    /// whose worker died is honoured by the rescuer.
    pub async fn cancel(&self, id: i64) -> Result<CancelOutcome> {
        match self.db.job_cancel(id, "cancelled by an operator").await? {
            Some(JobState::Running) => Ok(CancelOutcome::Requested),
            Some(_) => Ok(CancelOutcome::Cancelled),
            None => Err(Error::JobNotFound { id, detail: " in a cancellable state" }),
        }
    }

    /// Runs a waiting, failed or finished job again now, keeping its attempts (one more if
    /// none were left; [`Control::retry_job`] can reset them).
    pub async fn retry(&self, id: i64) -> Result<()> {
        self.control().retry_job(id, RetryAttempts::Keep).await
    }

    /// Deletes a job that is not running.
    pub async fn delete(&self, id: i64) -> Result<()> {
        found(self.db.job_delete(id).await?, id, " outside the running state")
    }
}

/// What [`Client::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The job was waiting and is now `cancelled`.
    Cancelled,
    /// The job is running: its worker was asked to stop it.
    Requested,
}

fn found(done: bool, id: i64, detail: &'static str) -> Result<()> {
    if done { Ok(()) } else { Err(Error::JobNotFound { id, detail }) }
}
