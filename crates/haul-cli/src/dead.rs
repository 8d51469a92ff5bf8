//! `haul dead`: the dead letters (discarded jobs): list them with every attempt's error,
//! redrive them (run again now), or purge them, all or filtered, with `--dry-run` counts.
//! `haul dead` alone lists them.

use crate::connect;
use crate::errors::Usage;
use crate::jobs::{bulk, filter, list_jobs, show::Style};
use anyhow::Result;
use clap::Subcommand;
use haul::{BulkAction, Client, JobState, RetryAttempts};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Newest dead letters first, each with every attempt's error.
    List(filter::ListArgs),
    /// Run dead letters again now (a job whose unique key another job holds stays dead).
    Redrive {
        #[command(flatten)]
        bulk: filter::BulkArgs,
        /// Give each job its full attempt budget again (default: one more attempt).
        #[arg(long)]
        reset_attempts: bool,
    },
    /// Delete dead letters, e.g. those discarded more than 7 days ago: `--older-than 7d`.
    Purge {
        #[command(flatten)]
        bulk: filter::BulkArgs,
    },
}

const DEAD: [JobState; 1] = [JobState::Discarded];

pub async fn run(url: &str, args: Args) -> Result<()> {
    let action = args.action.unwrap_or_else(|| Action::List(filter::ListArgs::default()));
    check(&action)?;
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    let r = act(&client, action).await?;
    connect::with_url(r, url)
}

fn check(action: &Action) -> Result<(), Usage> {
    match action {
        Action::List(list) => list.filter.build(&DEAD).map(drop),
        Action::Redrive { bulk: b, .. } | Action::Purge { bulk: b } => b.target(&[], &DEAD).map(drop),
    }
}

async fn act(client: &Client, action: Action) -> Result<haul::Result<()>> {
    Ok(match action {
        Action::List(l) => list_dead(client, &l).await?,
        Action::Redrive { bulk: b, reset_attempts } => {
            let attempts = if reset_attempts { RetryAttempts::Reset } else { RetryAttempts::Keep };
            let filter = b.target(&[], &DEAD)?;
            bulk::run(&client.control(), BulkAction::Redrive(attempts), &filter, b.dry_run, b.json).await
        }
        Action::Purge { bulk: b } => {
            let filter = b.target(&[], &DEAD)?;
            bulk::run(&client.control(), BulkAction::Purge, &filter, b.dry_run, b.json).await
        }
    })
}

/// One page of dead letters in detail.
pub async fn list_dead(client: &Client, list: &filter::ListArgs) -> Result<haul::Result<()>, Usage> {
    let filter = list.filter.build(&DEAD)?;
    let style = Style { show_args: list.show_args, json: list.json, detailed: true };
    Ok(list_jobs(client, &filter, list, style, "no dead letters").await)
}
