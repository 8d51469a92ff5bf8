//! Keyset paging of job listings, newest first: a page ends at an id and the next one starts
//! below it, so paging stays correct and cheap while jobs are inserted and deleted. A page
//! may also bound how many jobs it reads to find its own ([`Page::with_scan_limit`]), so a
//! filter that matches few jobs of a huge table costs no more than one that matches many.

use crate::error::{Error, Result};
use crate::job::JobRow;

/// The most jobs one page holds.
pub const PAGE_MAX: u32 = 10_000;
/// The largest scan limit a page takes ([`Page::with_scan_limit`]).
pub const PAGE_SCAN_MAX: u32 = 1_000_000;

/// Which page of a listing to read: at most `limit` jobs, newest first, below an id.
///
/// ```
/// let first = haul::Page::first(50);
/// assert_eq!(first.limit(), 50);
/// assert_eq!(haul::Page::before(1_000, 50).before_id(), Some(1_000));
/// assert_eq!(first.with_scan_limit(10_000).scan_limit(), Some(10_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: u32,
    before: Option<i64>,
    scan: Option<u32>,
}

impl Page {
    /// The newest `limit` jobs (1 to [`PAGE_MAX`]).
    pub fn first(limit: u32) -> Self {
        Page { limit, before: None, scan: None }
    }

    /// Up to `limit` jobs with ids below `id`, newest first.
    pub fn before(id: i64, limit: u32) -> Self {
        Page { limit, before: Some(id), scan: None }
    }

    /// Reads at most the `rows` newest jobs below the page's start to find its jobs (1 to
    /// [`PAGE_SCAN_MAX`]): the page then costs the same on a table of any size and filter,
    /// and may hold fewer than its limit, even none, with [`JobPage::next`] going on below
    /// the jobs it read. Defaults to no limit: a page reads until it is full.
    pub fn with_scan_limit(mut self, rows: u32) -> Self {
        self.scan = Some(rows);
        self
    }

    /// The most jobs this page reads to find its own, if bounded.
    pub fn scan_limit(&self) -> Option<u32> {
        self.scan
    }

    /// The most jobs this page holds.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The id this page starts below, if any.
    pub fn before_id(&self) -> Option<i64> {
        self.before
    }

    pub(crate) fn checked(self) -> Result<Self> {
        if !(1..=PAGE_MAX).contains(&self.limit) {
            return Err(Error::InvalidFilter(format!(
                "a page holds 1 to {PAGE_MAX} jobs, not {}",
                self.limit
            )));
        }
        match self.scan {
            Some(rows) if !(1..=PAGE_SCAN_MAX).contains(&rows) => Err(Error::InvalidFilter(format!(
                "a page reads 1 to {PAGE_SCAN_MAX} jobs to find its own, not {rows}"
            ))),
            _ => Ok(self),
        }
    }

    /// This page's settings, starting below `id`.
    fn below(self, id: i64) -> Self {
        Page { before: Some(id), ..self }
    }
}

/// One page of jobs, newest first, and the page after it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs, newest first.
    pub jobs: Vec<JobRow>,
    /// The next (older) page; `None` when this one is the last.
    pub next: Option<Page>,
}

impl JobPage {
    /// `rows` read with one more than `page`'s limit: the extra row only says a next page
    /// exists. `floor`: the page read down to that id only, and jobs below it are left to read.
    pub(crate) fn from_rows(mut rows: Vec<JobRow>, page: Page, floor: Option<i64>) -> Self {
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let next = match (more, rows.last(), floor) {
            (true, Some(last), _) => Some(page.below(last.id)),
            (_, _, Some(floor)) => Some(page.below(floor)),
            _ => None,
        };
        JobPage { jobs: rows, next }
    }
}
