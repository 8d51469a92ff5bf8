//! `haul limits`: every queue's global limit (`list`, the default), setting one and clearing
//! one. A limit holds across every worker process: at most N running jobs, at most N starts
//! in any window of a period, for the whole queue or per kind or args key. A bad queue name
//! or limit is a usage error (exit 2) that reaches no database; an empty listing says
//! "no limits" on stderr and exits 0.

use crate::connect;
use crate::errors::Usage;
use crate::escape::escaped;
use anyhow::Result;
use clap::Subcommand;
use haul::{Client, Limit, QueueLimit};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    /// Print JSON: the listing as an array, a set or clear as {"queue": …, "limit": …}.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Every limited queue and its limit (the default).
    List,
    /// Set a queue's limit, replacing any: `haul limits set partner --rate 100/1s --concurrency 10`.
    Set {
        #[arg(value_parser = queue_name)]
        queue: String,
        /// At most this many running jobs (per partition).
        #[arg(long, value_name = "N")]
        concurrency: Option<u32>,
        /// At most N starts in any window of PERIOD (per partition): `1000/1s`, `100/1m`.
        #[arg(long, value_name = "N/PERIOD", value_parser = rate)]
        rate: Option<(u32, Duration)>,
        /// Give each job kind the whole limit.
        #[arg(long)]
        per_kind: bool,
        /// Give each value of this top-level args key the whole limit: `--per-arg tenant`.
        #[arg(long, value_name = "KEY")]
        per_arg: Option<String>,
    },
    /// Remove a queue's limit.
    Clear {
        #[arg(value_parser = queue_name)]
        queue: String,
    },
}

/// A queue name by the library's rule, checked before anything connects.
fn queue_name(name: &str) -> Result<String, String> {
    haul::names::validate_queue(name).map(|()| name.to_owned()).map_err(|e| e.to_string())
}

/// `N/PERIOD`, e.g. `1000/1s` or `100/1m`.
fn rate(s: &str) -> Result<(u32, Duration), String> {
    let (n, per) = s.split_once('/').ok_or("write a rate as N/PERIOD, e.g. 1000/1s or 100/1m")?;
    let n = n.trim().parse().map_err(|_| format!("`{n}` is not a whole number of starts"))?;
    let per = humantime::parse_duration(per.trim()).map_err(|e| format!("period `{per}`: {e}"))?;
    Ok((n, per))
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let action = args.action.unwrap_or(Action::List);
    if let Action::Set { queue, concurrency, rate, per_kind, per_arg } = &action {
        let limit = limit(*concurrency, *rate, *per_kind, per_arg.clone());
        limit.validate(queue).map_err(|e| Usage(e.to_string()))?;
    }
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    let r = act(&client, action, args.json).await;
    connect::with_url(r, url)
}

/// The limit the flags describe (one with neither a concurrency nor a rate is refused by
/// `Limit::validate`).
fn limit(
    concurrency: Option<u32>,
    rate: Option<(u32, Duration)>,
    per_kind: bool,
    per_arg: Option<String>,
) -> Limit {
    let mut limit = match (concurrency, rate) {
        (Some(n), Some((starts, per))) => Limit::concurrency(n).with_rate(starts, per),
        (None, Some((starts, per))) => Limit::rate(starts, per),
        (n, None) => {
            let mut l = Limit::concurrency(n.unwrap_or(1));
            l.concurrency = n;
            l
        }
    };
    if per_kind {
        limit = limit.partitioned_by_kind();
    }
    match per_arg {
        Some(key) => limit.partitioned_by_arg(key),
        None => limit,
    }
}

async fn act(client: &Client, action: Action, json: bool) -> haul::Result<()> {
    match action {
        Action::List => {
            let limits = client.limits().await?;
            if json {
                println!("{}", serde_json::to_string(&limits).expect("limits serialize"));
            } else {
                table(&limits);
            }
        }
        Action::Set { queue, concurrency, rate, per_kind, per_arg } => {
            let limit = limit(concurrency, rate, per_kind, per_arg);
            client.set_limit(&queue, &limit).await?;
            if json {
                println!("{}", serde_json::json!({ "queue": queue, "limit": limit }));
            } else {
                println!("queue {} limited: {limit}", escaped(&queue));
            }
        }
        Action::Clear { queue } => {
            let had = client.clear_limit(&queue).await?;
            if json {
                println!("{}", serde_json::json!({ "queue": queue, "limit": null, "had_limit": had }));
            } else if had {
                println!("queue {} no longer limited", escaped(&queue));
            } else {
                println!("queue {} had no limit", escaped(&queue));
            }
        }
    }
    Ok(())
}

/// One line per limited queue under a header, or "no limits" on stderr when there are none.
fn table(limits: &[QueueLimit]) {
    if limits.is_empty() {
        eprintln!("no limits");
        return;
    }
    println!("{:<24} limit", "queue");
    for l in limits {
        println!("{:<24} {}", escaped(&l.queue), escaped(&l.limit.to_string()));
    }
}
