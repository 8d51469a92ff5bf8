//! Helpers for your own tests (the `testing` feature): assert what your code enqueued, run a
//! handler inline with a context you describe, and drain queues through a worker's own stages,
//! all without a worker loop. Enable the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! haul = { version = "0.1", features = ["testing"] }
//! ```
//!
//! - **What was enqueued.** [`assert_enqueued`], [`refute_enqueued`] and [`all_enqueued`] read
//!   the jobs of kind `J` on the client's pool; their `_tx` twins read through your own open
//!   transaction (`&mut *tx`), so they see what it inserted before it commits. An [`Expect`]
//!   says what must match (args equal to a value or passing a predicate, queue, priority,
//!   states, tags); a job counts as enqueued while it waits to run ([`ENQUEUED_STATES`]).
//! - **One handler, inline.** [`TestContext`] describes the attempt (client, state, attempt
//!   number, last attempt, metadata, ...) and [`TestContext::perform`] runs a handler on a job
//!   value with no row, as a worker runs it, returning the outcome Haul would record
//!   ([`Performed`]); [`TestContext::perform_inserted`] does it on an inserted job and writes
//!   the outcome to its row.
//! - **Drain.** [`drain`] runs the available jobs of some queues with a built (never run)
//!   [`Worker`](crate::Worker)'s handlers through its claim, execute and complete stages, one
//!   at a time, until none is available, and counts the outcomes ([`DrainReport`]).
//!
//! The helpers panic, as `assert!` does, so a test reads as a list of expectations; a failed
//! expectation says what was expected and lists the jobs of the kind that are there (id, queue,
//! state, priority, tags, args). A database error panics too, with the error.
//!
//! ```no_run
//! use haul::testing::{Drain, Expect, Performed, TestContext, assert_enqueued_tx, drain, refute_enqueued};
//! use haul::{Client, Job, JobContext, JobError, Worker};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct SendEmail { to: String }
//! impl Job for SendEmail {
//!     const KIND: &'static str = "send_email";
//!     const QUEUE: &'static str = "mail";
//! }
//!
//! async fn send_email(_ctx: JobContext<()>, job: SendEmail) -> Result<(), JobError> {
//!     if !job.to.contains('@') {
//!         return Err(JobError::discard(format!("not an address: {}", job.to)));
//!     }
//!     Ok(())
//! }
//!
//! /// The code under test: enqueues the email in the caller's transaction.
//! async fn sign_up(client: &Client, tx: &mut sqlx::PgConnection, email: &str) -> haul::Result<()> {
//!     client.insert_tx(tx, SendEmail { to: email.into() }).await?;
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = Client::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
//!     client.migrate().await?;
//!
//!     // what was enqueued, seen inside the transaction before it commits
//!     let mut tx = client.pool().begin().await?;
//!     sign_up(&client, &mut tx, "ada@example.com").await?;
//!     let job = assert_enqueued_tx(&client, &mut *tx, SendEmail { to: "ada@example.com".into() }).await;
//!     assert_eq!(job.row.queue, "mail");
//!     refute_enqueued(&client, Expect::<SendEmail>::any()).await; // not committed yet
//!     tx.commit().await?;
//!
//!     // one handler, inline: no worker, no row
//!     let ctx = TestContext::new(client.clone(), ());
//!     assert_eq!(ctx.perform(send_email, SendEmail { to: "ada@example.com".into() }).await, Performed::Completed);
//!     let bad = ctx.perform(send_email, SendEmail { to: "nobody".into() }).await;
//!     assert!(matches!(bad, Performed::Discarded { .. }));
//!
//!     // every available job of the queue, through the worker's own stages
//!     let worker = Worker::builder(client.clone(), ()).queue("mail", 10).handler(send_email).build()?;
//!     let report = drain(&worker, Drain::queue("mail")).await;
//!     assert_eq!(report.completed, 1);
//!     Ok(())
//! }
//! ```
//!
//! The guide, with what each helper promises: `docs/testing.md`.

mod drain;
mod enqueued;
mod expect;
mod outcome;
mod perform;

pub use drain::{DRAIN_LIMIT_DEFAULT, Drain, DrainReport, drain};
pub use enqueued::{
    Enqueued, all_enqueued, all_enqueued_tx, assert_enqueued, assert_enqueued_tx, refute_enqueued,
    refute_enqueued_tx,
};
pub use expect::{ENQUEUED_STATES, Expect};
pub use outcome::Performed;
pub use perform::{TEST_WORKER_ID, TestContext};
