//! `haul jobs`: look at jobs and act on them by id (list, get, dead letters, depths, retry,
//! cancel, delete). Args are hidden unless asked for: they may hold personal data. A missing
//! job exits 1 ("job N not found"); an empty listing says so on stderr and exits 0.

mod show;

use crate::connect;
use anyhow::Result;
use clap::Subcommand;
use haul::{CancelOutcome, Client, JobState};

/// The most rows one listing shows.
const LIMIT_MAX: i64 = 10_000;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Newest jobs first.
    List {
        /// Only this state (available, running, retryable, discarded, ...).
        #[arg(long)]
        state: Option<JobState>,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// How many (1 to 10000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=LIMIT_MAX))]
        limit: i64,
    },
    /// One job, with its error history.
    Get {
        #[arg(value_parser = job_id())]
        id: i64,
        /// Print its args and metadata too.
        #[arg(long)]
        show_args: bool,
    },
    /// The dead letters, each with every attempt's error.
    Dead {
        /// How many (1 to 10000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=LIMIT_MAX))]
        limit: i64,
    },
    /// How many jobs each queue holds in each state.
    Depth,
    /// Run a waiting, failed or finished job again now.
    Retry {
        #[arg(value_parser = job_id())]
        id: i64,
    },
    /// Cancel a waiting job, or ask the worker running it to stop.
    Cancel {
        #[arg(value_parser = job_id())]
        id: i64,
    },
    /// Delete a job that is not running.
    Delete {
        #[arg(value_parser = job_id())]
        id: i64,
    },
}

/// Job ids start at 1.
fn job_id() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..)
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    let r = act(&client, args.action).await;
    connect::with_url(r, url)
}

async fn act(client: &Client, action: Action) -> haul::Result<()> {
    match action {
        Action::List { state, queue, limit } => {
            show::rows(&client.list(state, queue.as_deref(), limit).await?, "no jobs", false)
        }
        Action::Get { id, show_args } => match client.get(id).await? {
            Some(job) => show::detail(&job, show_args),
            None => return Err(haul::Error::JobNotFound { id, detail: "" }),
        },
        Action::Dead { limit } => show::rows(&client.dead_letters(limit).await?, "no dead letters", true),
        Action::Depth => show::depths(&client.queue_depths().await?),
        Action::Retry { id } => {
            client.retry(id).await?;
            println!("job {id} is available again");
        }
        Action::Cancel { id } => match client.cancel(id).await? {
            CancelOutcome::Requested => println!("job {id} is running: its worker was asked to stop it"),
            _ => println!("job {id} cancelled"),
        },
        Action::Delete { id } => {
            client.delete(id).await?;
            println!("job {id} deleted");
        }
    }
    Ok(())
}
