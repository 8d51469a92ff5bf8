//! The operators' room: [`Control`] lists jobs by [`JobFilter`] a page at a time and retries,
//! cancels, deletes, redrives and purges them by filter, in bounded batches, with a dry-run
//! count for each action. Actions on one job by id are [`Client`](crate::Client)'s.

mod bulk;
mod filter;
mod page;

pub use bulk::{BulkAction, BulkReport, RetryAttempts};
pub use filter::JobFilter;
pub use page::{JobPage, PAGE_MAX, PAGE_SCAN_MAX, Page};

use crate::db::Db;
use crate::error::{Error, Result};
use std::time::Duration;

/// Jobs one bulk statement touches at most. Defaults to 1,000.
pub const CONTROL_BATCH_DEFAULT: usize = 1000;
/// The largest batch [`Control::with_batch_size`] accepts.
pub const CONTROL_BATCH_MAX: usize = 10_000;

/// Operators' actions on jobs picked by a filter, from [`Client::control`](crate::Client::control).
///
/// A bulk action runs as a loop of short statements, each its own transaction over at most
/// [`CONTROL_BATCH_DEFAULT`] jobs, until none is left: it never holds locks on millions of
/// rows at once, and what finished before an error stays done. Running jobs are never
/// retried or deleted; a cancel asks their workers to stop them.
///
/// ```no_run
/// # async fn demo(client: haul::Client) -> haul::Result<()> {
/// use haul::{BulkAction, JobFilter, Page, RetryAttempts};
/// use std::time::Duration;
///
/// let control = client.control();
/// let dead_mail = JobFilter::new().with_queue("mail");
/// let page = control.list(&dead_mail, Page::first(50)).await?;
/// let would = control.count(BulkAction::Redrive(RetryAttempts::Keep), &dead_mail).await?;
/// let done = control.redrive(&dead_mail, RetryAttempts::Keep).await?;
/// println!("{} listed; redrove {} of {} dead letters", page.jobs.len(), done.changed, would.changed);
/// control.purge(&JobFilter::new(), Duration::from_secs(30 * 24 * 3600)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Control {
    db: Db,
    batch: usize,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("batch", &self.batch).finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(db: Db) -> Self {
        Control { db, batch: CONTROL_BATCH_DEFAULT }
    }

    /// Jobs one bulk statement touches at most (1 to [`CONTROL_BATCH_MAX`]). Defaults to
    /// [`CONTROL_BATCH_DEFAULT`].
    pub fn with_batch_size(mut self, batch: usize) -> Result<Self> {
        if !(1..=CONTROL_BATCH_MAX).contains(&batch) {
            let reason = format!("a batch is 1 to {CONTROL_BATCH_MAX} jobs, not {batch}");
            return Err(Error::InvalidConfig { setting: "Control::with_batch_size", reason });
        }
        self.batch = batch;
        Ok(self)
    }

    /// One page of the jobs `filter` picks, newest first. With a scan limit
    /// ([`Page::with_scan_limit`]) it first finds the lowest id of that many newest jobs from
    /// the primary key alone, then reads no further down.
    pub async fn list(&self, filter: &JobFilter, page: Page) -> Result<JobPage> {
        let page = page.checked()?;
        let sel = filter.selection(None)?;
        let (floor, more_below) = match page.scan_limit() {
            None => (None, false),
            Some(rows) => {
                let scan = self.db.job_scan_floor(page.before_id(), i64::from(rows)).await?;
                let Some(floor) = scan.floor else { return Ok(JobPage::from_rows(Vec::new(), page, None)) };
                (Some(floor), scan.n == i64::from(rows))
            }
        };
        let limit = i64::from(page.limit()) + 1;
        let rows = self.db.job_list_where(&sel, page.before_id(), limit, floor).await?;
        Ok(JobPage::from_rows(rows, page, floor.filter(|_| more_below)))
    }

    /// The dry run of `action`: how many jobs it would change (and running jobs it would ask
    /// to stop) if it ran now. Changes nothing.
    pub async fn count(&self, action: BulkAction, filter: &JobFilter) -> Result<BulkReport> {
        let (bulk, sel) = action.plan(filter)?;
        let counted = self.db.job_count_where(&bulk, &sel).await?;
        let mut report = BulkReport::default();
        report.add(counted.changed, counted.requested);
        Ok(report)
    }

    /// Runs `action` on every job `filter` picks, batch by batch, until none is left.
    pub async fn run(&self, action: BulkAction, filter: &JobFilter) -> Result<BulkReport> {
        let (bulk, sel) = action.plan(filter)?;
        let limit = self.batch as i64;
        let (mut report, mut after) = (BulkReport::default(), 0);
        loop {
            let done = self.db.job_batch_where(&bulk, &sel, after, limit).await?;
            let Some(last) = done.last else { return Ok(report) };
            report.add(done.changed, done.requested);
            report.batches += 1;
            after = last;
        }
    }

    /// [`BulkAction::Retry`]: scheduled, retryable and finished jobs run again now.
    pub async fn retry(&self, filter: &JobFilter, attempts: RetryAttempts) -> Result<BulkReport> {
        self.run(BulkAction::Retry(attempts), filter).await
    }

    /// [`BulkAction::Cancel`]: waiting jobs cancelled, running ones asked to stop.
    pub async fn cancel(&self, filter: &JobFilter) -> Result<BulkReport> {
        self.run(BulkAction::Cancel, filter).await
    }

    /// [`BulkAction::Delete`]: every job but running ones deleted.
    pub async fn delete(&self, filter: &JobFilter) -> Result<BulkReport> {
        self.run(BulkAction::Delete, filter).await
    }

    /// [`BulkAction::Redrive`]: the dead letters `filter` picks run again now.
    pub async fn redrive(&self, filter: &JobFilter, attempts: RetryAttempts) -> Result<BulkReport> {
        self.run(BulkAction::Redrive(attempts), filter).await
    }

    /// [`BulkAction::Purge`] of the finished jobs `filter` picks that finished more than
    /// `older_than` ago (in place of the filter's own older-than age).
    pub async fn purge(&self, filter: &JobFilter, older_than: Duration) -> Result<BulkReport> {
        self.run(BulkAction::Purge, &filter.clone().with_older_than(older_than)).await
    }

    /// Makes one scheduled, retryable or finished job available now.
    pub async fn retry_job(&self, id: i64, attempts: RetryAttempts) -> Result<()> {
        if self.db.job_retry(id, attempts == RetryAttempts::Reset).await? {
            Ok(())
        } else {
            Err(Error::JobNotFound { id, detail: " in a retryable, scheduled or final state" })
        }
    }
}
