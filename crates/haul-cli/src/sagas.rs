//! `haul sagas show ID`: a saga's state, its steps in order and, once a step failed for good,
//! its compensations in the order they run, each with its job's state. A missing saga exits 1.

use crate::connect;
use crate::jobs::filter::job_id;
use anyhow::Result;
use clap::Subcommand;
use haul::{Client, SagaInfo, WaitingOn};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// One saga: its state, steps and compensations.
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
    let s = client.saga(id).await?.ok_or(haul::Error::SagaNotFound { id })?;
    if json {
        println!("{}", serde_json::to_value(&s).expect("a saga is JSON"));
    } else {
        print(&s);
    }
    Ok(())
}

fn print(s: &SagaInfo) {
    let state = serde_json::to_value(s.state).expect("JSON");
    println!("saga {}  {}  created {}", s.id, state.as_str().unwrap_or("?"), s.created_at.format("%F %T"));
    for (i, step) in s.steps.iter().enumerate() {
        let failed = if s.failed_step == Some(i as i32) { "  <- failed for good" } else { "" };
        println!("    step {i}  job {}{failed}", job(step));
    }
    for (i, c) in s.compensations.iter().enumerate() {
        println!("    compensation {}  job {}", i + 1, job(c));
    }
}

fn job(w: &WaitingOn) -> String {
    format!("{} ({})", w.id, w.state.map_or("completed, deleted", |s| s.as_str()))
}
