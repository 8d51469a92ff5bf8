//! `haul stats`: per queue and kind, the jobs in each state, the oldest available job's age,
//! dead letters, and over a window the throughput, error rate and run time and queue wait
//! percentiles, as a table or JSON; `--watch` redraws until Ctrl-C.

mod table;

use crate::connect;
use anyhow::Result;
use haul::{Client, StatsQuery};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    /// Only this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only this kind.
    #[arg(long)]
    kind: Option<String>,
    /// The window of the throughput, error rate and percentiles (rounded up to whole minutes).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    window: Duration,
    /// Print JSON (with --watch, one object per line per reading).
    #[arg(long)]
    json: bool,
    /// Redraw every SECS seconds until Ctrl-C.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    watch: Option<u64>,
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    let mut query = StatsQuery::default().with_window(args.window);
    if let Some(q) = &args.queue {
        query = query.with_queue(q);
    }
    if let Some(k) = &args.kind {
        query = query.with_kind(k);
    }
    let Some(every) = args.watch else {
        return connect::with_url(show(&client, &query, args.json, false).await, url);
    };
    let signals = crate::signals::listen();
    loop {
        connect::with_url(show(&client, &query, args.json, true).await, url)?;
        tokio::select! {
            () = signals.graceful.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(every)) => {}
        }
    }
}

async fn show(client: &Client, query: &StatsQuery, json: bool, redraw: bool) -> haul::Result<()> {
    let stats = client.stats(query).await?;
    if json {
        println!("{}", serde_json::to_string(&stats).expect("stats serialize"));
    } else {
        if redraw {
            print!("\x1b[2J\x1b[H"); // clear the screen, cursor home
        }
        print!("{}", table::render(&stats));
    }
    Ok(())
}
