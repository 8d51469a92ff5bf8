//! Keyset paging of job listings, newest first: a page ends at an id and the next one starts
//! below it, so paging stays correct and cheap while jobs are inserted and deleted.

use crate::error::{Error, Result};
use crate::job::JobRow;

/// The most jobs one page holds.
pub const PAGE_MAX: u32 = 10_000;

/// Which page of a listing to read: at most `limit` jobs, newest first, below an id.
///
/// ```
/// let first = haul::Page::first(50);
/// assert_eq!(first.limit(), 50);
/// assert_eq!(haul::Page::before(1_000, 50).before_id(), Some(1_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: u32,
    before: Option<i64>,
}

impl Page {
    /// The newest `limit` jobs (1 to [`PAGE_MAX`]).
    pub fn first(limit: u32) -> Self {
        Page { limit, before: None }
    }

    /// Up to `limit` jobs with ids below `id`, newest first.
    pub fn before(id: i64, limit: u32) -> Self {
        Page { limit, before: Some(id) }
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
        if (1..=PAGE_MAX).contains(&self.limit) {
            Ok(self)
        } else {
            Err(Error::InvalidFilter(format!("a page holds 1 to {PAGE_MAX} jobs, not {}", self.limit)))
        }
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
    /// `rows` read with one more than `page`'s limit: the extra row only says a next page exists.
    pub(crate) fn from_rows(mut rows: Vec<JobRow>, page: Page) -> Self {
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let next = more.then(|| rows.last().map(|j| Page::before(j.id, page.limit))).flatten();
        JobPage { jobs: rows, next }
    }
}
