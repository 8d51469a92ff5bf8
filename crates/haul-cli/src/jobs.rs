//! `haul jobs`: list jobs by filter, show one with every attempt's error, count them per queue
//! and state, and retry, cancel or delete them by id or by filter (`--dry-run` counts first).
//! A missing job exits 1 ("job N not found"); an empty listing says so on stderr and exits 0;
//! a bulk action with neither a filter nor `--all` exits 2.

pub mod bulk;
pub mod filter;
pub mod show;

use crate::connect;
use crate::errors::Usage;
use anyhow::Result;
use clap::Subcommand;
use filter::job_id;
use haul::{BulkAction, CancelOutcome, Client, JobState, RetryAttempts};
use show::Style;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Newest jobs first, filtered (args hidden unless --show-args).
    List {
        #[command(flatten)]
        list: filter::ListArgs,
        /// Only these states (repeat, or separate with commas).
        #[arg(long, value_delimiter = ',')]
        state: Vec<JobState>,
    },
    /// One job, with every attempt's error.
    #[command(alias = "get")]
    Show {
        #[arg(value_parser = job_id())]
        id: i64,
        /// Print its args and metadata too.
        #[arg(long)]
        show_args: bool,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The dead letters, each with every attempt's error (as `haul dead list`).
    #[command(hide = true)]
    Dead(filter::ListArgs),
    /// How many jobs each queue holds in each state.
    Depth {
        /// One JSON object per queue and state.
        #[arg(long)]
        json: bool,
    },
    /// Run scheduled, retryable or finished jobs again now (never running ones).
    Retry {
        #[command(flatten)]
        target: Target,
        /// Give each job its full attempt budget again (default: keep the attempts made,
        /// one more if none is left).
        #[arg(long)]
        reset_attempts: bool,
    },
    /// Cancel waiting jobs; ask the workers of running ones to stop them.
    Cancel {
        #[command(flatten)]
        target: Target,
    },
    /// Delete jobs that are not running.
    Delete {
        #[command(flatten)]
        target: Target,
    },
}

/// One job by ID, or those a filter (or `--all`) picks.
#[derive(clap::Args)]
struct Target {
    /// The job (leave out to act on a filter or --all).
    #[arg(value_parser = job_id())]
    id: Option<i64>,
    #[command(flatten)]
    bulk: filter::BulkArgs,
    /// Only these states (repeat, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    state: Vec<JobState>,
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    check(&args.action)?;
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    let r = act(&client, args.action).await?;
    connect::with_url(r, url)
}

/// The usage errors a command line can have beyond clap's, found before connecting.
fn check(action: &Action) -> Result<(), Usage> {
    match action {
        Action::List { list, state } => list.filter.build(state).map(drop),
        Action::Dead(list) => list.filter.build(&[]).map(drop),
        Action::Retry { target, .. } | Action::Cancel { target } | Action::Delete { target } => {
            target.check()
        }
        Action::Show { .. } | Action::Depth { .. } => Ok(()),
    }
}

/// Runs the command line; the outer error is a usage error.
async fn act(client: &Client, action: Action) -> Result<haul::Result<()>> {
    Ok(match action {
        Action::List { list, state } => {
            let filter = list.filter.build(&state)?;
            let style = Style { show_args: list.show_args, json: list.json, detailed: false };
            list_jobs(client, &filter, &list, style, "no jobs").await
        }
        Action::Show { id, show_args, json } => show_job(client, id, show_args, json).await,
        Action::Dead(list) => crate::dead::list_dead(client, &list).await?,
        Action::Depth { json } => client.queue_depths().await.map(|d| show::depths(&d, json)),
        Action::Retry { target, reset_attempts } => {
            let attempts = if reset_attempts { RetryAttempts::Reset } else { RetryAttempts::Keep };
            on_target(client, BulkAction::Retry(attempts), target).await?
        }
        Action::Cancel { target } => on_target(client, BulkAction::Cancel, target).await?,
        Action::Delete { target } => on_target(client, BulkAction::Delete, target).await?,
    })
}

async fn show_job(client: &Client, id: i64, show_args: bool, json: bool) -> haul::Result<()> {
    let job = client.get(id).await?.ok_or(haul::Error::JobNotFound { id, detail: "" })?;
    let waits_on = client.waits_on(id).await?;
    show::one(&job, &waits_on, show_args, json);
    Ok(())
}

/// One page of `filter`'s jobs in `style`.
pub async fn list_jobs(
    client: &Client,
    filter: &haul::JobFilter,
    list: &filter::ListArgs,
    style: Style,
    empty: &str,
) -> haul::Result<()> {
    let page = client.control().list(filter, list.page()).await?;
    show::rows(&page.jobs, empty, style);
    Ok(())
}

impl Target {
    /// A filter or `--all` without an ID, or an ID alone.
    fn check(&self) -> Result<(), Usage> {
        if self.id.is_none() {
            return self.bulk.target(&self.state, &[]).map(drop);
        }
        if self.bulk.all || self.bulk.dry_run || !self.bulk.filter.build(&self.state)?.is_empty() {
            return Err(Usage("a job ID goes alone: no filter, --all or --dry-run with it".into()));
        }
        Ok(())
    }
}

async fn on_target(client: &Client, action: BulkAction, t: Target) -> Result<haul::Result<()>> {
    t.check()?;
    let Some(id) = t.id else {
        let filter = t.bulk.target(&t.state, &[])?;
        return Ok(bulk::run(&client.control(), action, &filter, t.bulk.dry_run, t.bulk.json).await);
    };
    Ok(by_id(client, action, id, t.bulk.json).await)
}

async fn by_id(client: &Client, action: BulkAction, id: i64, json: bool) -> haul::Result<()> {
    let name = bulk::name(action);
    let (said, requested) = match action {
        BulkAction::Retry(attempts) => {
            client.control().retry_job(id, attempts).await?;
            (format!("job {id} is available again"), 0)
        }
        BulkAction::Cancel => match client.cancel(id).await? {
            CancelOutcome::Requested => (format!("job {id} is running: its worker was asked to stop it"), 1),
            _ => (format!("job {id} cancelled"), 0),
        },
        _ => {
            client.delete(id).await?;
            (format!("job {id} deleted"), 0)
        }
    };
    if json {
        bulk::one_json(id, name, 1 - requested, requested)
    } else {
        println!("{said}")
    }
    Ok(())
}
