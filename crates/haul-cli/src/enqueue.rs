//! `haul enqueue KIND --args JSON`: insert one job by kind name, with its options and an
//! optional unique key; prints the job's id and whether it was new or its key was taken.

use crate::connect;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use haul::NewJob;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    /// The job's kind (a worker must have a handler for it).
    kind: String,
    /// The job's args as JSON.
    #[arg(long, default_value = "{}")]
    args: String,
    /// The queue [default: default].
    #[arg(long)]
    queue: Option<String>,
    /// Priority, -10 (first) to 10 (last).
    #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(i16).range(-10..=10))]
    priority: Option<i16>,
    /// Run no earlier than this time (RFC 3339, e.g. 2026-12-24T18:00:00Z).
    #[arg(long)]
    run_at: Option<DateTime<Utc>>,
    /// A unique key: if a job holds it, nothing is inserted and that job's id is printed.
    #[arg(long)]
    unique_key: Option<String>,
    /// Print the result as JSON: {"id": …, "duplicate": …}.
    #[arg(long)]
    json: bool,
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let json: serde_json::Value =
        serde_json::from_str(&args.args).context("--args is not valid JSON; nothing was inserted")?;
    let mut job = NewJob::raw(args.kind, json);
    if let Some(queue) = args.queue {
        job = job.with_queue(queue);
    }
    if let Some(priority) = args.priority {
        job = job.with_priority(priority);
    }
    if let Some(at) = args.run_at {
        job = job.with_run_at(at);
    }
    if let Some(key) = args.unique_key {
        job = job.with_unique_key(key);
    }
    let client = args.schema.client(connect::pool(url, 1).await?)?;
    let out = connect::with_url(client.insert_many_checked(client.pool(), [job]).await, url)?;
    let Some(out) = out.first() else { anyhow::bail!("the insert returned no job") };
    if args.json {
        println!("{}", serde_json::json!({"id": out.id, "duplicate": out.duplicate}));
    } else if out.duplicate {
        println!("job {} holds this unique key: nothing inserted", out.id);
    } else {
        println!("job {} enqueued", out.id);
    }
    Ok(())
}
