//! `haul queues`: every queue with its state and jobs per state (`list`, the default), and
//! pausing or resuming one. A paused queue's workers claim none of its jobs within about a
//! second; its running jobs finish and inserts into it are accepted. A bad queue name is a
//! usage error (exit 2); an empty listing says "no queues" on stderr and exits 0.

use crate::connect;
use crate::escape::escaped;
use anyhow::Result;
use clap::Subcommand;
use haul::{Client, JobState, QueueInfo};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    /// Print JSON: the listing as an array, a pause or resume as {"queue": …, "paused": …}.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Every queue, whether it is paused, and its jobs per state (the default).
    List,
    /// Stop every worker claiming the queue's jobs; running jobs finish, inserts still land.
    Pause {
        #[arg(value_parser = queue_name)]
        queue: String,
    },
    /// Let workers claim the queue's jobs again.
    Resume {
        #[arg(value_parser = queue_name)]
        queue: String,
    },
}

/// A queue name by the library's rule, checked before anything connects.
fn queue_name(name: &str) -> Result<String, String> {
    haul::names::validate_queue(name).map(|()| name.to_owned()).map_err(|e| e.to_string())
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    let r = act(&client, args.action.unwrap_or(Action::List), args.json).await;
    connect::with_url(r, url)
}

async fn act(client: &Client, action: Action, json: bool) -> haul::Result<()> {
    let (queue, paused) = match action {
        Action::List => {
            let queues = client.queues().await?;
            if json {
                println!("{}", to_json(&queues))
            } else {
                table(&queues)
            }
            return Ok(());
        }
        Action::Pause { queue } => {
            client.pause_queue(&queue).await?;
            (queue, true)
        }
        Action::Resume { queue } => {
            client.resume_queue(&queue).await?;
            (queue, false)
        }
    };
    if json {
        println!("{}", serde_json::json!({ "queue": queue, "paused": paused }));
    } else if paused {
        println!("queue {queue} paused: workers claim none of its jobs until it is resumed");
    } else {
        println!("queue {queue} resumed");
    }
    Ok(())
}

fn to_json(queues: &[QueueInfo]) -> String {
    serde_json::to_string(queues).expect("queue infos serialize")
}

/// One line per queue under a header, or "no queues" on stderr when there are none.
fn table(queues: &[QueueInfo]) {
    if queues.is_empty() {
        eprintln!("no queues");
        return;
    }
    let states = JobState::ALL.map(|s| format!("{:>10}", s.as_str()));
    println!("{:<24} {:<7}{}  limit", "queue", "state", states.concat());
    for q in queues {
        let counts = JobState::ALL.map(|s| format!("{:>10}", q.counts.get(s)));
        let state = if q.paused { "paused" } else { "active" };
        let limit = q.limit.as_ref().map_or_else(|| "-".to_owned(), |l| l.to_string());
        println!("{:<24} {:<7}{}  {}", escaped(&q.name), state, counts.concat(), escaped(&limit));
    }
}
