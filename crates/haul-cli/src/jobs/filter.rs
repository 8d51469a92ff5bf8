//! The flags that pick jobs (`--queue --kind --state --older-than --newer-than --tag`), the
//! listing flags, and the target of an action: one job ID, a filter, or `--all`. A filter is
//! checked before any connection; what no run can do exits 2.

use crate::errors::Usage;
use haul::{JobFilter, JobState, Page};
use std::time::Duration;

/// The most rows one listing shows.
pub const LIMIT_MAX: u32 = haul::PAGE_MAX;

/// Job ids start at 1.
pub fn job_id() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..)
}

/// The filter flags every command that picks jobs shares (states are the caller's).
#[derive(clap::Args, Clone, Default)]
pub struct Filter {
    /// Only this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only this kind.
    #[arg(long)]
    kind: Option<String>,
    /// Only jobs older than AGE (90m, 36h, 7d): finished that long ago, or waiting that long.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    older_than: Option<Duration>,
    /// Only jobs at most AGE old (90m, 36h, 7d).
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    newer_than: Option<Duration>,
    /// Only jobs with this tag.
    #[arg(long)]
    tag: Option<String>,
}

impl Filter {
    /// The library's filter in `states`, checked (a bad one is a usage error).
    pub fn build(&self, states: &[JobState]) -> Result<JobFilter, Usage> {
        let mut f = JobFilter::new().with_states(states.iter().copied());
        f = set(f, &self.queue, JobFilter::with_queue);
        f = set(f, &self.kind, JobFilter::with_kind);
        f = set(f, &self.tag, JobFilter::with_tag);
        f = set(f, &self.older_than, JobFilter::with_older_than);
        f = set(f, &self.newer_than, JobFilter::with_newer_than);
        f.validate().map_err(|e| Usage(e.to_string()))?;
        Ok(f)
    }
}

fn set<T: Clone>(f: JobFilter, value: &Option<T>, with: fn(JobFilter, T) -> JobFilter) -> JobFilter {
    match value {
        Some(v) => with(f, v.clone()),
        None => f,
    }
}

/// The flags of a listing.
#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// How many (1 to 10000).
    #[arg(long, default_value_t = LIMIT_DEFAULT, value_parser = clap::value_parser!(u32).range(1..=LIMIT_MAX as i64))]
    pub limit: u32,
    /// Only jobs with ids below ID: the next page starts below the last id shown.
    #[arg(long, value_name = "ID", value_parser = job_id())]
    pub before: Option<i64>,
    /// Show args and metadata (hidden by default: they may hold personal data).
    #[arg(long)]
    pub show_args: bool,
    /// One JSON object per job and line.
    #[arg(long)]
    pub json: bool,
}

/// Jobs a listing shows unless `--limit` says otherwise.
const LIMIT_DEFAULT: u32 = 20;

impl Default for ListArgs {
    fn default() -> Self {
        ListArgs {
            filter: Filter::default(),
            limit: LIMIT_DEFAULT,
            before: None,
            show_args: false,
            json: false,
        }
    }
}

impl ListArgs {
    pub fn page(&self) -> Page {
        match self.before {
            Some(id) => Page::before(id, self.limit),
            None => Page::first(self.limit),
        }
    }
}

/// The flags of a bulk action: its filter or `--all`, a dry run, JSON output.
#[derive(clap::Args)]
pub struct BulkArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// Every job the action applies to (required when no filter is given).
    #[arg(long)]
    pub all: bool,
    /// Only count the jobs the action would change now.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

impl BulkArgs {
    /// The filter in `states` (the user's) and `fixed` (the command's own): the user's part
    /// must be non-empty unless `--all` is given, and empty if it is.
    pub fn target(&self, states: &[JobState], fixed: &[JobState]) -> Result<JobFilter, Usage> {
        let given = self.filter.build(states)?;
        let filter = given.clone().with_states(fixed.iter().copied());
        match (given.is_empty(), self.all) {
            (true, false) => Err(Usage(
                "a bulk action needs a filter (--queue, --kind, --state, --older-than, --newer-than, \
                 --tag) or --all"
                    .into(),
            )),
            (false, true) => Err(Usage("--all goes alone: drop it, or drop the filter".into())),
            _ => Ok(filter),
        }
    }
}
