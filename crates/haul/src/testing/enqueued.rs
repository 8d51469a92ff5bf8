//! Assertions on what was enqueued: a job of kind `J` matching an [`Expect`] is there, is not
//! there, or every one that is, read on the client's pool or through the caller's own
//! transaction. They panic like `assert!`, with a message that lists the jobs of the kind.

use super::expect::Expect;
use crate::client::Client;
use crate::job::{Job, JobRow};
use sqlx::PgExecutor;
use std::fmt::Write;

/// The most jobs a failure message lists.
const LISTED_MAX: usize = 20;

/// The most characters of a job's args a failure message shows.
const ARGS_SHOWN_MAX: usize = 300;

/// An enqueued job of kind `J`: its args decoded, and its row.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Enqueued<J> {
    /// The args, decoded into the job's type.
    pub args: J,
    /// The job's row: id, queue, state, priority, attempts, run time, metadata, tags.
    pub row: JobRow,
}

/// Asserts that a job of kind `J` matching `expect` is enqueued, reading on the client's pool
/// (committed jobs only); returns the oldest such job. Pass the job value itself to expect
/// equal args, or an [`Expect`].
///
/// # Panics
/// When no job matches, with a message saying what was expected and listing every job of the
/// kind (id, queue, state, priority, tags, args); or when the jobs cannot be read.
///
/// ```no_run
/// # #[derive(serde::Serialize, serde::Deserialize, PartialEq)] struct SendEmail { to: String }
/// # impl haul::Job for SendEmail { const KIND: &'static str = "send_email"; }
/// # async fn demo(client: haul::Client) {
/// use haul::testing::{Expect, assert_enqueued};
/// let job = assert_enqueued(&client, SendEmail { to: "ada@example.com".into() }).await;
/// assert_eq!(job.row.queue, "default");
/// assert_enqueued(&client, Expect::matching(|j: &SendEmail| j.to.ends_with("@example.com"))).await;
/// # }
/// ```
pub async fn assert_enqueued<J: Job>(client: &Client, expect: impl Into<Expect<J>>) -> Enqueued<J> {
    assert_enqueued_tx(client, client.pool(), expect).await
}

/// [`assert_enqueued`] through `executor`: pass `&mut *tx` to see the jobs your own open
/// transaction inserted and has not committed.
///
/// # Panics
/// As [`assert_enqueued`].
pub async fn assert_enqueued_tx<'c, J: Job>(
    client: &Client,
    executor: impl PgExecutor<'c>,
    expect: impl Into<Expect<J>>,
) -> Enqueued<J> {
    let expect = expect.into();
    let rows = rows_of_kind::<J>(client, executor).await;
    match matching(&rows, &expect).next() {
        Some((row, args)) => decoded(row, args),
        None => panic!("haul::testing: expected a {expect}; {}", listing::<J>(&rows, "of kind")),
    }
}

/// Asserts that no job of kind `J` matching `expect` is enqueued, reading on the client's pool.
///
/// # Panics
/// When one matches, listing those that do; or when the jobs cannot be read.
///
/// ```no_run
/// # #[derive(serde::Serialize, serde::Deserialize, PartialEq)] struct SendEmail { to: String }
/// # impl haul::Job for SendEmail { const KIND: &'static str = "send_email"; }
/// # async fn demo(client: haul::Client) {
/// use haul::testing::{Expect, refute_enqueued};
/// refute_enqueued(&client, Expect::<SendEmail>::any().with_queue("bulk")).await;
/// # }
/// ```
pub async fn refute_enqueued<J: Job>(client: &Client, expect: impl Into<Expect<J>>) {
    refute_enqueued_tx(client, client.pool(), expect).await
}

/// [`refute_enqueued`] through `executor` (e.g. `&mut *tx`).
///
/// # Panics
/// As [`refute_enqueued`].
pub async fn refute_enqueued_tx<'c, J: Job>(
    client: &Client,
    executor: impl PgExecutor<'c>,
    expect: impl Into<Expect<J>>,
) {
    let expect = expect.into();
    let rows = rows_of_kind::<J>(client, executor).await;
    let found: Vec<JobRow> = matching(&rows, &expect).map(|(row, _)| row.clone()).collect();
    if !found.is_empty() {
        panic!("haul::testing: expected no {expect}; {}", listing::<J>(&found, "like that of kind"));
    }
}

/// Every enqueued job of kind `J` matching `expect`, oldest first, read on the client's pool.
///
/// # Panics
/// When a job that matches on everything but its args has args that do not decode into `J`,
/// or when the jobs cannot be read.
///
/// ```no_run
/// # #[derive(serde::Serialize, serde::Deserialize, PartialEq)] struct SendEmail { to: String }
/// # impl haul::Job for SendEmail { const KIND: &'static str = "send_email"; }
/// # async fn demo(client: haul::Client) {
/// use haul::testing::{Expect, all_enqueued};
/// let mail = all_enqueued(&client, Expect::<SendEmail>::any()).await;
/// let to: Vec<&str> = mail.iter().map(|j| j.args.to.as_str()).collect();
/// assert_eq!(to, ["ada@example.com", "bob@example.com"]);
/// # }
/// ```
pub async fn all_enqueued<J: Job>(client: &Client, expect: impl Into<Expect<J>>) -> Vec<Enqueued<J>> {
    all_enqueued_tx(client, client.pool(), expect).await
}

/// [`all_enqueued`] through `executor` (e.g. `&mut *tx`).
///
/// # Panics
/// As [`all_enqueued`].
pub async fn all_enqueued_tx<'c, J: Job>(
    client: &Client,
    executor: impl PgExecutor<'c>,
    expect: impl Into<Expect<J>>,
) -> Vec<Enqueued<J>> {
    let expect = expect.into();
    let rows = rows_of_kind::<J>(client, executor).await;
    matching(&rows, &expect).map(|(row, args)| decoded(row, args)).collect()
}

async fn rows_of_kind<'c, J: Job>(client: &Client, executor: impl PgExecutor<'c>) -> Vec<JobRow> {
    match client.db().job_list_by_kind(executor, J::KIND).await {
        Ok(rows) => rows,
        Err(e) => panic!("haul::testing: could not read the jobs of kind `{}`: {e}", J::KIND),
    }
}

/// The rows matching `expect`, each with its args decoded (or why they do not decode, for a
/// row that matches without looking at its args).
fn matching<'r, J: Job>(
    rows: &'r [JobRow],
    expect: &'r Expect<J>,
) -> impl Iterator<Item = (&'r JobRow, Result<J, String>)> + 'r {
    rows.iter().filter(|row| expect.row_matches(row)).filter_map(|row| {
        let args = J::deserialize(&row.args).map_err(|e| e.to_string());
        match &args {
            Ok(j) if !expect.args_match(j) => None,
            Err(_) if expect.checks_args() => None,
            _ => Some((row, args)),
        }
    })
}

fn decoded<J: Job>(row: &JobRow, args: Result<J, String>) -> Enqueued<J> {
    match args {
        Ok(args) => Enqueued { args, row: row.clone() },
        Err(e) => panic!(
            "haul::testing: job {} of kind `{}` has args that do not decode into `{}`: {e}; args: {}",
            row.id,
            row.kind,
            std::any::type_name::<J>(),
            shown_args(row)
        ),
    }
}

/// "found N job(s) {which} `kind`:" and a line per job, at most [`LISTED_MAX`].
fn listing<J: Job>(rows: &[JobRow], which: &str) -> String {
    if rows.is_empty() {
        return format!("found no job of kind `{}` in any state", J::KIND);
    }
    let mut out = format!("found {} job(s) {which} `{}`:", rows.len(), J::KIND);
    for row in rows.iter().take(LISTED_MAX) {
        let _ = write!(
            out,
            "\n  id {}, queue `{}`, state {}, priority {}, tags {:?}, args {}",
            row.id,
            row.queue,
            row.state,
            row.priority,
            row.tags,
            shown_args(row)
        );
    }
    if rows.len() > LISTED_MAX {
        let _ = write!(out, "\n  ... and {} more", rows.len() - LISTED_MAX);
    }
    out
}

fn shown_args(row: &JobRow) -> String {
    let args = row.args.to_string();
    match args.char_indices().nth(ARGS_SHOWN_MAX) {
        Some((cut, _)) => format!("{}...", &args[..cut]),
        None => args,
    }
}
