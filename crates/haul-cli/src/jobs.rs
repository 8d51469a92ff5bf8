//! `haul jobs`: look at jobs and act on them by id (list, get, dead letters, depths, retry,
//! cancel, delete). Args are hidden unless asked for: they may hold personal data.

use crate::connect;
use anyhow::Result;
use clap::Subcommand;
use haul::{CancelOutcome, Client, JobRow, JobState};

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
            client.list(state, queue.as_deref(), limit).await?.iter().for_each(line)
        }
        Action::Get { id, show_args } => match client.get(id).await? {
            Some(job) => detail(&job, show_args),
            None => println!("no job {id}"),
        },
        Action::Dead { limit } => client.dead_letters(limit).await?.iter().for_each(|j| detail(j, false)),
        Action::Depth => {
            for d in client.queue_depths().await? {
                println!("{:<24} {:<10} {:>10}", d.queue, d.state, d.count);
            }
        }
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

fn line(j: &JobRow) {
    println!(
        "{:>10} {:<24} {:<16} {:<10} attempt {}/{}  run_at {}",
        j.id,
        j.kind,
        j.queue,
        j.state,
        j.attempt,
        j.max_attempts,
        j.run_at.format("%F %T")
    );
}

fn detail(j: &JobRow, show_args: bool) {
    line(j);
    if show_args {
        println!("    args     {}", j.args);
        println!("    metadata {}", j.metadata);
    }
    if !j.tags.is_empty() {
        println!("    tags     {}", j.tags.join(", "));
    }
    for e in &j.errors {
        println!(
            "    attempt {} at {} [{}]: {}",
            e.attempt,
            e.at.format("%F %T%.3f"),
            e.class.as_str(),
            e.error
        );
    }
}
