//! `haul periodic`: every periodic schedule a leader has seen, with its last tick done
//! (enqueued, or skipped as missed), its next run and when the leader last moved it.
//! Schedules live in the workers' code; this shows what the database records of them.

use crate::connect;
use crate::escape::escaped;
use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    /// Print one JSON object per schedule: {"name": …, "last_tick": …, "next_tick": …, "updated_at": …}.
    #[arg(long)]
    json: bool,
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let client = args.schema.client(connect::pool(url, 1).await?)?;
    let schedules = connect::with_url(client.periodic().await, url)?;
    if schedules.is_empty() {
        eprintln!("no periodic schedules (a worker's leader records each one it runs)");
    }
    for s in &schedules {
        if args.json {
            println!("{}", serde_json::to_string(s)?);
        } else {
            let (tick, moved) = (s.last_tick.format("%F %T%.3f"), s.updated_at.format("%F %T%.3f"));
            let next = s.next_tick.map_or("-".to_owned(), |t| t.format("%F %T%.3f").to_string());
            println!("{:<40} last tick {tick}  next {next}  (recorded {moved})", escaped(&s.name));
        }
    }
    Ok(())
}
