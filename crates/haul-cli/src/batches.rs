//! `haul batches show ID`: a fan-out batch's progress (its children by state), and once
//! finished the final counts and the callback job. A missing batch exits 1.

use crate::connect;
use crate::jobs::filter::job_id;
use anyhow::Result;
use clap::Subcommand;
use haul::{BatchInfo, Client, JobState};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// One batch: its parent, its children by state, its result and callback.
    Show {
        #[arg(value_parser = job_id())]
        id: i64,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    let Action::Show { id, json } = args.action;
    connect::with_url(show(&client, id, json).await, url)
}

async fn show(client: &Client, id: i64, json: bool) -> haul::Result<()> {
    let b = client.batch(id).await?.ok_or(haul::Error::BatchNotFound { id })?;
    if json {
        println!("{}", serde_json::to_value(&b).expect("a batch is JSON"));
    } else {
        print(&b);
    }
    Ok(())
}

fn print(b: &BatchInfo) {
    let parent = b.parent_id.map_or_else(|| "-".to_owned(), |p| p.to_string());
    println!(
        "batch {}  parent {parent}  children {}  created {}",
        b.id,
        b.total,
        b.created_at.format("%F %T")
    );
    let states: Vec<String> = JobState::ALL
        .iter()
        .filter(|s| b.states.get(**s) > 0)
        .map(|s| format!("{s} {}", b.states.get(*s)))
        .collect();
    let gone = b.total - b.states.total();
    println!("    waiting  {}  stored: {}  gone (completed): {gone}", b.waiting(), states.join(", "));
    match (&b.result, b.finished_at) {
        (Some(r), Some(at)) => {
            let callback = b.callback_id.map_or_else(|| "none".to_owned(), |c| format!("job {c}"));
            println!(
                "    finished {}  completed {}  discarded {}  cancelled {}  callback {callback}",
                at.format("%F %T"),
                r.completed,
                r.discarded,
                r.cancelled
            );
        }
        _ => println!("    running"),
    }
}
